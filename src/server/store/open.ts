import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  statSync,
} from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { AppError } from "../../protocol/errors.js";
import { APPLICATION_ID, MIGRATIONS, type Migration } from "./migrations.js";

export interface OpenOptions {
  /** Schema history to apply; tests pass a prefix to build an older database. */
  readonly migrations?: readonly Migration[];
  /** Called before migrating an existing database, with the backup written beside it. */
  readonly onMigrate?: (info: { from: number; to: number; backup: string }) => void;
  readonly now?: () => Date;
}

/**
 * Opens (creating if needed) the database at `path` and brings its schema up
 * to date. Order matters for "never lose data":
 *
 * 1. the data dir must exist and be writable (created 0700 if missing);
 * 2. an existing file is first inspected read-only: not a waypoint database,
 *    or a schema newer than this build knows, is refused before anything
 *    writes to it, so the file stays byte-identical;
 * 3. the file is opened with an exclusive lock (WAL, locking_mode=EXCLUSIVE):
 *    a second server on the same file fails with DB_LOCKED instead of
 *    sharing it; the OS drops the lock if the process dies;
 * 4. before migrating an existing older database, a consistent copy is
 *    written beside it (VACUUM INTO) and kept.
 */
export function openDatabase(
  path: string,
  opts: OpenOptions = {},
): { db: Database.Database; schemaVersion: number } {
  const migrations = opts.migrations ?? MIGRATIONS;
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    throw new AppError(
      "DATA_DIR_UNWRITABLE",
      `data dir ${dir} is not writable: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }

  if (existsSync(path) && !statSync(path).isFile()) {
    throw new AppError("DB_INVALID", `${path} is not a regular file (is -db pointing at a directory?)`);
  }
  const existed = existsSync(path) && statSync(path).size > 0;
  if (existed) inspectExisting(path, latest);
  else {
    try {
      closeSync(openSync(path, "a", 0o600));
      chmodSync(path, 0o600);
    } catch (err) {
      throw new AppError(
        "DATA_DIR_UNWRITABLE",
        `cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
  }

  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true, timeout: 0 });
  } catch (err) {
    throw translate(err, path);
  }
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    // Takes the exclusive lock now, not on the first write.
    db.exec("BEGIN IMMEDIATE; COMMIT;");
    const from = db.pragma("user_version", { simple: true }) as number;
    if (from < latest) {
      if (from > 0) {
        const stamp = (opts.now?.() ?? new Date()).toISOString().replace(/[:.]/g, "-");
        const backup = `${path}.pre-migrate-v${from}-${stamp}`;
        // Created empty, mode 0600, before SQLite fills it: VACUUM INTO would create it 0644 (less the
        // umask), readable by others until makeStandalone's chmod. SQLite accepts an empty target.
        closeSync(openSync(backup, "wx", 0o600));
        chmodSync(backup, 0o600);
        db.prepare("VACUUM INTO ?").run(backup);
        makeStandalone(backup);
        opts.onMigrate?.({ from, to: latest, backup });
      }
      for (const m of migrations) {
        if (m.version <= from) continue;
        db.transaction(() => {
          m.up(db);
          db.pragma(`user_version = ${m.version}`);
        })();
      }
    }
    return { db, schemaVersion: latest };
  } catch (err) {
    db.close();
    throw translate(err, path);
  }
}

/**
 * Turns a fresh copy of the database into a standalone file: mode 0600, and
 * rollback-journal mode, so it can be archived or opened anywhere on its own
 * (a WAL-mode file would need its -wal and -shm beside it).
 */
export function makeStandalone(path: string): void {
  chmodSync(path, 0o600);
  const copy = new Database(path);
  try {
    copy.pragma("journal_mode = DELETE");
  } finally {
    copy.close();
  }
}

/** Read-only look at an existing file: refuse foreign files and newer schemas without writing a byte. */
function inspectExisting(path: string, latest: number): void {
  let ro: Database.Database | undefined;
  try {
    ro = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    const appId = ro.pragma("application_id", { simple: true }) as number;
    const version = ro.pragma("user_version", { simple: true }) as number;
    const tables = (ro.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n;
    if (appId !== APPLICATION_ID && !(appId === 0 && version === 0 && tables === 0)) {
      throw new AppError(
        "DB_INVALID",
        `${path} is a SQLite database of another application (application_id ${appId})`,
      );
    }
    if (version > latest) {
      throw new AppError(
        "DB_NEWER_SCHEMA",
        `${path} has schema version ${version}, newer than this server knows (${latest}); it was written by a newer release`,
      );
    }
  } catch (err) {
    throw translate(err, path);
  } finally {
    ro?.close();
  }
}

function translate(err: unknown, path: string): Error {
  if (err instanceof AppError) return err;
  const code = (err as { code?: string }).code ?? "";
  if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
    return new AppError(
      "DB_LOCKED",
      `${path} is locked by another process (is another waypoint server using it?)`,
      {
        cause: err,
      },
    );
  }
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new AppError("DB_INVALID", `${path} is not a valid SQLite database (${code})`, { cause: err });
  }
  if (code === "SQLITE_FULL") {
    return new AppError("DATA_DIR_UNWRITABLE", `the disk holding ${path} is full`, {
      hint: "Free space on that disk, or point -db elsewhere. Nothing was lost: the write was refused.",
      cause: err,
    });
  }
  if (code.startsWith("SQLITE_IOERR")) {
    return new AppError("DATA_DIR_UNWRITABLE", `cannot read or write ${path} (${code})`, {
      hint: "Check the disk and the file's permissions, or point -db elsewhere.",
      cause: err,
    });
  }
  if (code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY" || code === "SQLITE_PERM") {
    return new AppError("DATA_DIR_UNWRITABLE", `cannot open ${path} for writing (${code})`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}
