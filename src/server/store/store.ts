import type { ComponentKind } from "../../protocol/inventory.js";
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
