import { existsSync, linkSync, renameSync, rmSync, statSync } from "node:fs";
import Database from "better-sqlite3";
import { AppError } from "../../protocol/errors.js";

/**
 * Boot-time restore: puts the verified database file `verified` in place of
 * `dbPath` (no connection may be open on it). The previous database, if any,
 * stays beside it as `<dbPath>.pre-restore-<stamp>` (a hard link, so nothing
 * is copied).
 *
 * Crash safety: a database is never separated from its WAL. If data.db has a
 * WAL (left by a server that died, whose last commits may live only there),
 * SQLite first checkpoints it into data.db, crash-safely, and deletes it on
 * close; data.db then stands alone, and the swap is a link and an atomic
 * rename. A crash at any point leaves data.db complete, old or new, and the
 * kept copy complete too. (Moving the WAL along with the kept copy instead, as
 * this did before, left data.db without its last commits when the process died
 * between that move and the rename and the stage was then set aside.) A server
 * still running on data.db holds its lock: the swap is refused (DB_LOCKED)
 * before anything changed.
 *
 * Only when data.db cannot be opened as SQLite at all (damaged, perhaps the
 * reason for the restore) is a non-empty WAL moved along with the kept copy,
 * as the one way to keep it; the stage, still present after a crash there, is
 * applied again at the next start.
 */
export function swapInDatabase(dbPath: string, verified: string, stamp: string): { keptAs?: string } {
  let keptAs: string | undefined;
  if (existsSync(dbPath)) {
    const wal = `${dbPath}-wal`;
    const separateWal = existsSync(wal) && !foldWal(dbPath);
    keptAs = `${dbPath}.pre-restore-${stamp}`;
    linkSync(dbPath, keptAs);
    if (separateWal && existsSync(wal) && statSync(wal).size > 0) renameSync(wal, `${keptAs}-wal`);
  }
  renameSync(verified, dbPath);
  rmSync(`${dbPath}-wal`, { force: true });
  rmSync(`${dbPath}-shm`, { force: true });
  return keptAs ? { keptAs } : {};
}

/**
 * Checkpoints the WAL of `dbPath` into the file and closes it, which deletes
 * the WAL. True when no WAL content is left; false when the file is not a
 * database SQLite can open. Throws DB_LOCKED when another process holds it.
 */
function foldWal(dbPath: string): boolean {
  try {
    const db = new Database(dbPath, { fileMustExist: true, timeout: 0 });
    try {
      // The wal-index in memory, as the server keeps it: no -shm file to leave behind.
      db.pragma("locking_mode = EXCLUSIVE");
      const [result] = db.pragma("wal_checkpoint(TRUNCATE)") as { busy: number }[];
      if (result && result.busy !== 0) {
        throw Object.assign(new Error("the checkpoint was blocked"), { code: "SQLITE_BUSY" });
      }
    } finally {
      // The last connection closing deletes the (now empty) WAL.
      db.close();
    }
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
      throw new AppError(
        "DB_LOCKED",
        `${dbPath} is in use by another process (is a waypoint server running on it?); the staged restore was not applied`,
        { cause: err },
      );
    }
    return false;
  }
  const wal = `${dbPath}-wal`;
  return !existsSync(wal) || statSync(wal).size === 0;
}
