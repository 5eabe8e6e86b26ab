import type { RestoreResult, SnapshotMetaJson } from "../client/connection.js";

/** A long operation's progress: `done` of `total` bytes (total 0 when unknown). */
export interface DeskProgress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

/** A snapshot file in the console's snapshot directory. */
export interface SnapshotFileInfo {
  readonly name: string;
  readonly path: string;
  readonly bytes: number;
  readonly modifiedAt: string;
  readonly encrypted: boolean;
  /** meta.json, read without a full verification; absent when encrypted or unreadable. */
  readonly meta?: SnapshotMetaJson;
  /** Why the meta could not be read (not a snapshot, damaged). */
  readonly problem?: string;
}

export interface TakenFile {
  readonly name: string;
  readonly path: string;
  readonly meta: SnapshotMetaJson;
  readonly bytes: number;
}

/** A full verification passed (the dry run of a restore). */
export interface VerifyOutcome {
  readonly meta: SnapshotMetaJson;
  readonly encrypted: boolean;
  /** Whether the console's own token is in the snapshot (a restore replaces every token). */
  readonly hasToken?: boolean | undefined;
}

/**
 * What the console does with files: list, take, verify and restore snapshots in one directory, and
 * export plans there. The CLI provides the real one (src/cli/console-desk.ts); tests inject theirs.
 */
export interface SnapshotDesk {
  /** The directory, absolute. */
  readonly dir: string;
  list(): Promise<SnapshotFileInfo[]>;
  take(onProgress: (p: DeskProgress) => void): Promise<TakenFile>;
  verify(name: string, onProgress: (p: DeskProgress) => void): Promise<VerifyOutcome>;
  /** Verifies the file here, then uploads it; nothing changes on the server unless both succeed. */
  restore(
    name: string,
    mode: "stage" | "live",
    onProgress: (p: DeskProgress) => void,
  ): Promise<RestoreResult>;
  /** Writes a new file `name` in the directory (never replacing one); returns its path. */
  exportPlan(name: string, text: string): Promise<string>;
  /** Stops what runs (the console is closing); temp files are removed. */
  abortAll(): void;
}
