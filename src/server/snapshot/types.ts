import type { VersionInfo } from "../../protocol/version-info.js";

/**
 * The snapshot file (DESIGN §8): a gzip-compressed tar holding exactly
 * `meta.json`, `data.db` and `SHA256SUMS` (in that order when we write it;
 * any order is read), optionally age-encrypted as a whole.
 */
export const SNAPSHOT_FORMAT = 1;
export const SNAPSHOT_MEMBERS = ["meta.json", "data.db", "SHA256SUMS"] as const;

/** Contents of meta.json. */
export interface SnapshotMeta {
  readonly format: typeof SNAPSHOT_FORMAT;
  /** "snap_" + random; unique per snapshot. */
  readonly id: string;
  /** RFC 3339. */
  readonly createdAt: string;
  /** The server that took it. */
  readonly server: VersionInfo;
  /** PRAGMA user_version of data.db. */
  readonly schemaVersion: number;
  /** The state index data.db holds. */
  readonly index: number;
  /** Rows per table in data.db. */
  readonly tables: Readonly<Record<string, number>>;
}

/** Size limits applied while reading; a member or stream beyond them is refused (gzip bombs included). */
export interface SnapshotLimits {
  /** Largest data.db accepted, in bytes. Default 16 GiB; env WAYPOINT_SNAPSHOT_MAX_BYTES overrides. */
  readonly maxDbBytes: number;
  /** Largest meta.json / SHA256SUMS, in bytes. Default 1 MiB. */
  readonly maxSmallBytes: number;
}

/** A snapshot that passed every check, with its data.db extracted to `dbPath`. */
export interface VerifiedSnapshot {
  readonly meta: SnapshotMeta;
  /** The extracted, verified database file (in the directory the caller chose). The caller owns it. */
  readonly dbPath: string;
  /** Size of the archive as read (after decryption), in bytes. */
  readonly archiveBytes: number;
  readonly dbBytes: number;
  /** Whether the input was age-encrypted. */
  readonly encrypted: boolean;
  /** Per-table bytes of data.db, when SQLite can tell. */
  readonly tableBytes?: Readonly<Record<string, number>>;
  /** With a token hash to look for: whether data.db contains it. */
  readonly hasToken?: boolean;
}
