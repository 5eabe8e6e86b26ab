import type { ComponentKind } from "../../protocol/inventory.js";
import type { AppOperations, OperationName } from "../../protocol/operations.js";
import type { ProtocolRange } from "../../protocol/range.js";
import type { TokenKind } from "../../protocol/tokens.js";
import type { DatabaseFacts, SnapshotRecord } from "./inspect.js";

export type { SnapshotRecord };

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
  /** The URL service does not serve the app: it has no URL, and its hostnames answer 404. */
  readonly urlDisabled: boolean;
}

/** A change to an app: an operation set to a command, or to null to remove it; absent fields stay. */
export interface AppChange {
  readonly operations?: { readonly [K in OperationName]?: string | null };
  readonly entrypointDisabled?: boolean;
  readonly urlDisabled?: boolean;
}

/** A job's life: queued → assigned → running → success | error | cancelled (DESIGN §10). */
export const JOB_STATES = ["queued", "assigned", "running", "success", "error", "cancelled"] as const;
export type JobState = (typeof JOB_STATES)[number];
/** The states a job ends in. */
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(["success", "error", "cancelled"]);

/** One run of an app's operation. Timestamps are RFC 3339; absent until the job got there. */
export interface JobRecord {
  /** "job-<n>", n counting up from 1 and never reused. */
  readonly id: string;
  readonly app: string;
  readonly operation: OperationName;
  /** The command as it was when the job was queued (a later `app update` does not change it). */
  readonly command: string;
  readonly state: JobState;
  /** Only this runner may take the job (a CLI running its own jobs); absent: any runner. */
  readonly target?: string;
  /** The runner it is or was assigned to. */
  readonly runner?: string;
  /** The deployment a deploy job made. */
  readonly deployment?: string;
  readonly queuedAt: string;
  readonly assignedAt?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  /** The command's exit code, once it ran to the end. */
  readonly exitCode?: number;
  /** Why it ended in error or was cancelled. */
  readonly error?: string;
  /** How many times it was assigned. */
  readonly attempts: number;
  /** A cancel was asked for while a runner held the job; the runner is to stop it. */
  readonly cancelRequested: boolean;
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
  /** Set with `config set -secret`: masked in listings unless revealed, never logged. */
  readonly secret: boolean;
}

/** An instance an entrypoint registered. Times are RFC 3339. */
/** One write of `writeInstances`: a registration (upsert) or a disconnection (touch). */
export type InstanceWrite =
  | { readonly op: "upsert"; readonly instance: InstanceRecord }
  | { readonly op: "touch"; readonly id: string; readonly lastSeen: string };

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
    opts?: {
      readonly operations?: AppOperations;
      readonly entrypointDisabled?: boolean;
      readonly urlDisabled?: boolean;
    },
  ): AppRecord;
  /** Changes an app's operations, entrypoint or URL setting in one write; NOT_FOUND if there is no such app. */
  updateApp(name: string, change: AppChange): AppRecord;

  /** Queues a job of `app`'s `operation` running `command`; NOT_FOUND if there is no such app. */
  queueJob(job: {
    readonly app: string;
    readonly operation: OperationName;
    readonly command: string;
    readonly target?: string;
    readonly queuedAt: string;
  }): JobRecord;
  getJob(id: string): JobRecord | undefined;
  /** Oldest first; `app` and `states` filter. */
  listJobs(filter?: { readonly app?: string; readonly states?: readonly JobState[] }): JobRecord[];
  /**
   * Assigns the oldest queued job `runner` may take (no target, or `runner` as the target) to it, in
   * one write; undefined when there is none. `targetedOnly`: only jobs with `runner` as the target.
   */
  assignJob(runner: string, at: string, opts?: { readonly targetedOnly?: boolean }): JobRecord | undefined;
  /**
   * Moves a job on: `to` is where it goes, `from` the states it may come from; a job in another state
   * (or none) is left alone, without a write, and undefined is returned. The timestamp of the state
   * gone to is `at` (default now); back to queued clears the runner and the assigned and started
   * times; fields given are set.
   */
  transitionJob(
    id: string,
    from: readonly JobState[],
    to: JobState,
    fields?: {
      readonly at?: string;
      readonly runner?: string | null;
      readonly deployment?: string;
      readonly exitCode?: number;
      readonly error?: string;
    },
  ): JobRecord | undefined;
  /** Marks that a cancel was asked for a job a runner holds; undefined if the job does not exist. */
  requestJobCancel(id: string): JobRecord | undefined;
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
   * exist: NOT_FOUND). Returns the names of `unset` that were not set. A variable once set secret
   * stays secret when it is set again without the flag, until it is unset.
   */
  setConfig(
    scope: string,
    set: readonly { name: string; value: string; secret?: boolean }[],
    unset: readonly string[],
  ): { notFound: string[] };
  /** The variables stored in one scope, by name. */
  listConfig(scope: string): ConfigRecord[];
  /** What an instance of `app` receives: the app's own variables and the global ones it does not override, by name. */
  resolvedConfig(app: string): ConfigRecord[];

  /**
   * Registrations and disconnections in order, in one transaction (one state index step). An upsert
   * registers or refreshes an instance (an existing row keeps its firstSeen); a touch moves its
   * lastSeen forward, never back.
   */
  writeInstances(ops: readonly InstanceWrite[]): void;
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
  /**
   * Records a snapshot taken of this database (kept in its meta table, so it is itself in the next
   * snapshot); does not advance the state index: it changes nothing a component sees.
   */
  recordSnapshot(taken: SnapshotRecord): void;
  /** The last snapshot recorded, if any. */
  lastSnapshot(): SnapshotRecord | undefined;
  /** Moves the WAL into the main file so that data.db alone is a complete copy. */
  checkpoint(): void;
  /** Checkpoints and closes; idempotent. */
  close(): void;
}
