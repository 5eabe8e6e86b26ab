import { existsSync, linkSync, renameSync, rmSync, statSync } from "node:fs";

/**
 * Boot-time restore: puts the verified database file `verified` in place of
 * `dbPath` (no connection may be open on it). The previous database, if any,
 * stays beside it as `<dbPath>.pre-restore-<stamp>` (a hard link; its WAL, if
 * a crash left one, moves along so that copy stays complete). The final
 * rename is atomic: a crash at any point leaves either the old or the new
 * database at `dbPath`.
 */
export function swapInDatabase(dbPath: string, verified: string, stamp: string): { keptAs?: string } {
  let keptAs: string | undefined;
  if (existsSync(dbPath)) {
    keptAs = `${dbPath}.pre-restore-${stamp}`;
    linkSync(dbPath, keptAs);
    const wal = `${dbPath}-wal`;
    if (existsSync(wal) && statSync(wal).size > 0) renameSync(wal, `${keptAs}-wal`);
  }
  renameSync(verified, dbPath);
  rmSync(`${dbPath}-wal`, { force: true });
  rmSync(`${dbPath}-shm`, { force: true });
  return keptAs ? { keptAs } : {};
}
