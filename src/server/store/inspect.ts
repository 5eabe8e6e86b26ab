import Database from "better-sqlite3";
import { AppError } from "../../protocol/errors.js";
import { APPLICATION_ID, LATEST_SCHEMA_VERSION } from "./migrations.js";

/** A snapshot the server took, as recorded in its meta table. */
export interface SnapshotRecord {
  readonly id: string;
  /** The state index the snapshot holds. */
  readonly index: number;
  /** RFC 3339: when its archive was complete. */
  readonly takenAt: string;
}

/** What a database file holds, read without changing it. */
export interface DatabaseFacts {
  readonly applicationId: number;
  readonly schemaVersion: number;
  /** The state index stored in the file. */
  readonly index: number;
  /** Rows per table. */
  readonly tables: Readonly<Record<string, number>>;
  /** Bytes per table (pages × page size), where the dbstat table is available; else absent. */
  readonly tableBytes?: Readonly<Record<string, number>>;
}

export interface InspectResult extends DatabaseFacts {
  /** `PRAGMA integrity_check` problems; empty when the file is sound. */
  readonly problems: readonly string[];
  /** With `tokenHash`: whether a token with that hash is in the file. */
  readonly hasToken?: boolean;
}

/**
 * Opens `path` read-only and reports its facts and integrity. Throws
 * DB_INVALID when it is not a SQLite file or not a waypoint database; the
 * schema version is reported, not judged (callers decide what they accept).
 */
export function inspectDatabaseFile(
  path: string,
  /** `integrity: false` skips PRAGMA integrity_check, `tableBytes: false` the per-table sizes (dbstat): both read every page. */
  opts: { tokenHash?: string; integrity?: boolean; tableBytes?: boolean } = {},
): InspectResult {
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (err) {
    throw new AppError(
      "DB_INVALID",
      `${path}: cannot be opened as SQLite (${(err as { code?: string }).code ?? err})`,
    );
  }
  try {
    const applicationId = db.pragma("application_id", { simple: true }) as number;
    const schemaVersion = db.pragma("user_version", { simple: true }) as number;
    const problems =
      opts.integrity === false
        ? []
        : (db.pragma("integrity_check") as { integrity_check: string }[])
            .map((r) => r.integrity_check)
            .filter((r) => r !== "ok");
    if (applicationId !== APPLICATION_ID) {
      throw new AppError(
        "DB_INVALID",
        `${path} is not a waypoint database (application_id ${applicationId})`,
      );
    }
    const names = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    const tables: Record<string, number> = {};
    for (const name of names) {
      tables[name] = (
        db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number }
      ).n;
    }
    const tableBytes = opts.tableBytes === false ? undefined : readTableBytes(db, names);
    const indexRow = names.includes("meta")
      ? (db.prepare("SELECT CAST(value AS INTEGER) AS v FROM meta WHERE key = 'state_index'").get() as
          | { v: number }
          | undefined)
      : undefined;
    const hasToken =
      opts.tokenHash === undefined || !names.includes("tokens")
        ? undefined
        : db.prepare("SELECT 1 FROM tokens WHERE hash = ?").get(opts.tokenHash) !== undefined;
    return {
      applicationId,
      schemaVersion,
      index: indexRow?.v ?? 0,
      tables,
      ...(tableBytes ? { tableBytes } : {}),
      problems,
      ...(hasToken === undefined ? {} : { hasToken }),
    };
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError(
      "DB_INVALID",
      `${path}: not a readable SQLite database (${(err as { code?: string }).code ?? err})`,
    );
  } finally {
    db.close();
  }
}

/** Whether this build can open a database of `schemaVersion` (older ones are migrated forward). */
export function schemaSupported(schemaVersion: number): boolean {
  return schemaVersion >= 1 && schemaVersion <= LATEST_SCHEMA_VERSION;
}

/** Bytes per table from dbstat (pages × page size), or undefined where SQLite was built without it. */
function readTableBytes(db: Database.Database, names: readonly string[]): Record<string, number> | undefined {
  try {
    const tableBytes: Record<string, number> = {};
    for (const r of db.prepare("SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name").all() as {
      name: string;
      bytes: number;
    }[]) {
      if (names.includes(r.name)) tableBytes[r.name] = r.bytes;
    }
    return tableBytes;
  } catch {
    return undefined; // dbstat is a compile-time option of SQLite
  }
}

/** A `last_snapshot` meta value; undefined when unreadable (as if none was recorded: the next snapshot writes it). */
export function parseSnapshotRecord(value: string): SnapshotRecord | undefined {
  try {
    const v = JSON.parse(value) as Partial<SnapshotRecord>;
    if (typeof v.id === "string" && typeof v.index === "number" && typeof v.takenAt === "string")
      return { id: v.id, index: v.index, takenAt: v.takenAt };
  } catch {
    // Unreadable.
  }
  return undefined;
}

/**
 * The last snapshot recorded in the database file `path`, read without changing it (the previous
 * database a staged restore kept); undefined when none, or when the file cannot be read.
 */
export function lastSnapshotIn(path: string): SnapshotRecord | undefined {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      const row = db.prepare("SELECT value FROM meta WHERE key = 'last_snapshot'").get() as
        | { value: string }
        | undefined;
      return row ? parseSnapshotRecord(row.value) : undefined;
    } finally {
      db.close();
    }
  } catch {
    return undefined;
  }
}
