import type { ComponentKind } from "../../protocol/inventory.js";
import type { AppOperations, OperationName } from "../../protocol/operations.js";
import type { ProtocolRange } from "../../protocol/range.js";
import type { TokenKind } from "../../protocol/tokens.js";
import type { DatabaseFacts } from "./inspect.js";

/** A token as stored: never the secret, only its SHA-256. */
export interface TokenRecord {
  readonly id: string;
  readonly kind: TokenKind;
  /** Hex SHA-256 of the secret. */
  readonly hash: string;
  /** Entrypoint tokens: the app and deployment they are scoped to. */
  readonly app?: string;
  readonly deployment?: string;
  readonly description?: string;
  /** RFC 3339. */
  readonly createdAt: string;
}

/** What is stored of every component, accepted or refused. Times are RFC 3339. */
interface SeenComponent {
  readonly kind: ComponentKind;
  readonly via?: "cli" | "ui";
  readonly id: string;
  readonly version: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  readonly emulated: boolean;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** One accepted component (kind + id) as last seen. */
export interface ComponentRecord extends SeenComponent {
  readonly app?: string;
  readonly deployment?: string;
  readonly instance?: string;
  readonly hostname?: string;
}

/** One refused component (kind + id) with its latest reason and how often it was refused. */
export interface RejectedRecord extends SeenComponent {
  readonly reason: string;
  readonly count: number;
}

export interface AppRecord {
  readonly name: string;
  /** RFC 3339. */
  readonly createdAt: string;
  /** Deployments made of the app. */
  readonly deployments: number;
  readonly operations: AppOperations;
  /** Deploys of the app do not get the entrypoint's environment (the app runs without it). */
  readonly entrypointDisabled: boolean;
}

/** A change to an app: an operation set to a command, or to null to remove it; absent fields stay. */
export interface AppChange {
  readonly operations?: { readonly [K in OperationName]?: string | null };
  readonly entrypointDisabled?: boolean;
}

export interface DeploymentRecord {
  /** "<app>-v<sequence>". */
  readonly id: string;
  readonly app: string;
  readonly sequence: number;
  readonly createdAt: string;
}

/** One configuration variable; scope "" is global, else the app's name. */
export interface ConfigRecord {
  readonly scope: string;
  readonly name: string;
  readonly value: string;
}

/** An instance an entrypoint registered. Times are RFC 3339. */
export interface InstanceRecord {
  readonly id: string;
  readonly app: string;
  readonly deployment: string;
  readonly version: string;
  readonly entrypoint: ProtocolRange;
  readonly emulated: boolean;
  readonly hostname: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly execDisabled: boolean;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/**
 * The server's only state. Implementations must pass the conformance suite in
 * test/server/store/conformance.ts (including close-and-reopen).
 *
 * Every method that writes runs in one transaction and advances the state
 * index by exactly one; reads never advance it.
 */
export interface Store {
  /** The database file. */
  readonly path: string;
  /** Schema version of the open database (always the latest after open). */
  readonly schemaVersion: number;
  /** Monotonic; advances with every write. */
  stateIndex(): number;

  /** Stores the first management token; fails with ALREADY_BOOTSTRAPPED if any token was ever bootstrapped. */
  bootstrapToken(token: TokenRecord): void;
  isBootstrapped(): boolean;
  insertToken(token: TokenRecord): void;
  listTokens(): TokenRecord[];

  /**
   * Upserts accepted components in one transaction. An existing row keeps its
   * firstSeen; everything else is replaced.
   */
  upsertComponents(records: readonly ComponentRecord[]): void;
  /**
   * Upserts rejections in one transaction, adding `count` to the stored
   * count; an existing row keeps its firstSeen.
   */
  recordRejections(records: readonly RejectedRecord[]): void;
  listComponents(): ComponentRecord[];
  listRejected(): RejectedRecord[];

  /** Creates an app; ALREADY_EXISTS if the name is taken. */
  createApp(
    name: string,
    createdAt: string,
    opts?: { readonly operations?: AppOperations; readonly entrypointDisabled?: boolean },
  ): AppRecord;
  /** Changes an app's operations or entrypoint setting in one write; NOT_FOUND if there is no such app. */
  updateApp(name: string, change: AppChange): AppRecord;
  getApp(name: string): AppRecord | undefined;
  /** Every app, by name, with its number of deployments. */
  listApps(): AppRecord[];

  /**
   * Creates the app's next deployment ("<app>-v<n>") and stores the token `tokenFor(deployment)`
   * returns, in one transaction; NOT_FOUND if the app does not exist.
   */
  createDeployment(
    app: string,
    createdAt: string,
    tokenFor: (deployment: DeploymentRecord) => TokenRecord,
  ): DeploymentRecord;
  getDeployment(id: string): DeploymentRecord | undefined;
  /** By app, then sequence; `app` filters. */
  listDeployments(app?: string): DeploymentRecord[];
  /** The app's deployment with the highest sequence. */
  latestDeployment(app: string): DeploymentRecord | undefined;

  /**
   * In one write: sets `set` and removes `unset` in `scope` ("" = global, else an app, which must
   * exist: NOT_FOUND). Returns the names of `unset` that were not set.
   */
  setConfig(
    scope: string,
    set: readonly { name: string; value: string }[],
    unset: readonly string[],
  ): { notFound: string[] };
  /** The variables stored in one scope, by name. */
  listConfig(scope: string): ConfigRecord[];
  /** What an instance of `app` receives: the app's own variables and the global ones it does not override, by name. */
  resolvedConfig(app: string): ConfigRecord[];

  /** Registers or refreshes an instance; an existing row keeps its firstSeen. */
  upsertInstance(instance: InstanceRecord): void;
  /** Moves an instance's lastSeen forward (never back). */
  touchInstance(id: string, lastSeen: string): void;
  getInstance(id: string): InstanceRecord | undefined;
  /** By app, deployment, id. */
  listInstances(): InstanceRecord[];

  /**
   * Writes a consistent online copy of the database to `dest` (a new file,
   * mode 0600) while writes continue; resolves with the copy's facts.
   */
  backupTo(
    dest: string,
    onProgress?: (p: { totalPages: number; remainingPages: number }) => void,
  ): Promise<DatabaseFacts>;
  /**
   * Swaps in the verified database file `verified` atomically (live restore),
   * keeping the previous one as `keepAs`; the state index keeps advancing.
   */
  replaceWith(
    verified: string,
    keepAs: string,
  ): { previousIndex: number; restoredIndex: number; keptAs: string };

  /** Size in bytes of the database file and its WAL. */
  sizeBytes(): number;
  /** Moves the WAL into the main file so that data.db alone is a complete copy. */
  checkpoint(): void;
  /** Checkpoints and closes; idempotent. */
  close(): void;
}
