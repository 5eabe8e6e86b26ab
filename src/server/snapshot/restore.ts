import { randomBytes } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  existsSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fsyncPath, syncDir } from "../../durable.js";
import { AppError } from "../../protocol/errors.js";
import type { ServerLogger } from "../logger.js";
import type { Store } from "../store/store.js";
import { swapInDatabase } from "../store/swap.js";
import { removeGradually } from "./remove.js";
import type { SnapshotLimits, SnapshotMeta } from "./types.js";
import { readSnapshotMeta, verifySnapshot } from "./verify.js";

/**
 * Restores (DESIGN §8, seed 000). Three ways in, one rule: nothing touches
 * data.db until the new data is fully verified, and the previous database is
 * kept beside it.
 *
 * - staged: the archive is written to a temp file in the data dir, verified,
 *   then renamed to `waypoint-restore.db` (replacing any earlier stage);
 *   restoreOnBoot applies it at the next start;
 * - offline: an operator copies a snapshot to `<data dir>/waypoint-restore.db`
 *   and starts the server: the same restoreOnBoot;
 * - live: verified into the data dir, then swapped in by the store while the
 *   server serves (SqliteStore.replaceWith).
 */
export const RESTORE_FILE = "waypoint-restore.db";

export function stagedPath(dbPath: string): string {
  return join(dirname(dbPath), RESTORE_FILE);
}

/** "2026-11-22T10-00-00-000Z": a file-name-safe UTC time. */
export function fileStamp(date = new Date()): string {
  return date.toISOString().replace(/[:.]/g, "-");
}

export async function stageSnapshot(
  input: Readable,
  dbPath: string,
  opts: { limits?: Partial<SnapshotLimits> } = {},
): Promise<{ meta: SnapshotMeta; path: string }> {
  const dir = dirname(dbPath);
  const temp = join(dir, `.waypoint-restore-${randomBytes(6).toString("hex")}.tmp`);
  try {
    await pipeline(input, createWriteStream(temp, { flags: "wx", mode: 0o600 }));
    const verified = await verifySnapshot(createReadStream(temp), {
      dir,
      tableBytes: false,
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
    // A whole database, and below an archive: removed without stalling the server (see remove.ts).
    await removeGradually(verified.dbPath);
    fsyncPath(temp);
    const path = stagedPath(dbPath);
    renameSync(temp, path);
    syncDir(dir);
    return { meta: verified.meta, path };
  } finally {
    // Renamed into place, it is gone from here; after a failure it is the uploaded archive.
    await removeGradually(temp);
  }
}

export async function stagedStatus(
  dbPath: string,
): Promise<{ meta: SnapshotMeta; path: string; bytes: number; stagedAt: string } | undefined> {
  const path = stagedPath(dbPath);
  if (!existsSync(path)) return undefined;
  const meta = await readSnapshotMeta(createReadStream(path), {});
  const st = statSync(path);
  return { meta, path, bytes: st.size, stagedAt: st.mtime.toISOString() };
}

export function cancelStaged(dbPath: string): boolean {
  const path = stagedPath(dbPath);
  if (!existsSync(path)) return false;
  rmSync(path);
  return true;
}

export async function restoreLive(
  store: Store,
  input: Readable,
  opts: { dbPath: string; limits?: Partial<SnapshotLimits>; onSwapped?: () => void },
): Promise<{ meta: SnapshotMeta; keptAs: string; previousIndex: number; index: number }> {
  const verified = await verifySnapshot(input, {
    dir: dirname(opts.dbPath),
    tableBytes: false,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  try {
    const keptAs = `${opts.dbPath}.pre-restore-${fileStamp()}`;
    const { previousIndex, keptAs: kept } = store.replaceWith(verified.dbPath, keptAs);
    // In the same tick as the swap: caches over the store (tokens, inventory) follow before any call runs.
    opts.onSwapped?.();
    // Nothing is awaited between the swap and the answer, so its index is the one the server serves.
    return { meta: verified.meta, keptAs: kept, previousIndex, index: store.stateIndex() };
  } catch (err) {
    // Not swapped in: a whole database to remove (see remove.ts). Swapped in, it is gone from here.
    await removeGradually(verified.dbPath);
    throw err;
  }
}

/**
 * At start, before the store opens: applies `<data dir>/waypoint-restore.db`
 * if present. Verification comes first; if it fails the server must not
 * start, and data.db is left byte-identical. An encrypted staged file is
 * decrypted with WAYPOINT_SNAPSHOT_PASSPHRASE when set.
 */
export async function restoreOnBoot(
  dbPath: string,
  logger: ServerLogger,
  opts: { passphrase?: string; limits?: Partial<SnapshotLimits> } = {},
): Promise<{ restored: false } | { restored: true; meta: SnapshotMeta; keptAs?: string }> {
  const staged = stagedPath(dbPath);
  if (!existsSync(staged)) return { restored: false };
  logger.notice({ path: staged }, "found a staged restore; verifying it before touching the database");
  const dir = dirname(dbPath);
  let verified: Awaited<ReturnType<typeof verifySnapshot>>;
  try {
    verified = await verifySnapshot(createReadStream(staged), {
      dir,
      tableBytes: false,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.passphrase ? { passphrase: async () => opts.passphrase as string } : {}),
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new AppError("RESTORE_FAILED", `the staged restore ${staged} failed verification: ${why}`, {
      hint:
        `${dbPath} was not touched. To start with the current data, move the staged file away ` +
        `(mv ${staged} ${staged}.rejected); to restore, stage a good snapshot with \`waypoint server restore FILE\`.`,
      cause: err,
    });
  }
  let keptAs: string | undefined;
  try {
    ({ keptAs } = swapInDatabase(dbPath, verified.dbPath, fileStamp()));
  } catch (err) {
    rmSync(verified.dbPath, { force: true });
    throw err;
  }
  // Applied: a crash before this removal re-applies the same snapshot at the next start, which is harmless.
  rmSync(staged, { force: true });
  syncDir(dir);
  logger.notice(
    {
      snapshot: verified.meta.id,
      createdAt: verified.meta.createdAt,
      index: verified.meta.index,
      schemaVersion: verified.meta.schemaVersion,
      ...(keptAs ? { keptAs } : {}),
    },
    keptAs
      ? "restored the staged snapshot; the previous database is kept beside it"
      : "restored the staged snapshot into a fresh data dir",
  );
  return { restored: true, meta: verified.meta, ...(keptAs ? { keptAs } : {}) };
}

/**
 * Temp files of snapshot work in the data dir, by the exact names their writers give them: the
 * online copy being archived (write.ts), a data.db being extracted and verified (verify.ts), an
 * upload being staged (stageSnapshot above), and SQLite's companions of the first two.
 */
const LEFTOVER =
  /^\.(?:snapshot|verify)-[0-9a-f]{16}\.db(?:-journal|-wal|-shm)?$|^\.waypoint-restore-[0-9a-f]{12}\.tmp$/;

/**
 * At start, once the store holds the database's exclusive lock (so no other server works in this
 * dir), removes what snapshot work left behind when a process died in the middle of it:
 *
 * - the temp files above. None of them is ever applied (only waypoint-restore.db is), but a
 *   half-written copy must not linger to be mistaken for a snapshot, nor fill the disk;
 * - a `<db>.pre-restore-*` that is the live database file itself (the same inode): the hard link a
 *   restore makes just before its rename, left by a restore that died in between. It is not a kept
 *   previous database, and as a second name of data.db it would change with every write.
 *
 * Best effort: a file that cannot be removed is logged and left. Returns the names removed.
 */
export function removeLeftovers(dbPath: string, logger: ServerLogger): string[] {
  const dir = dirname(dbPath);
  const kept = `${basename(dbPath)}.pre-restore-`;
  let live: { dev: number; ino: number } | undefined;
  try {
    live = statSync(dbPath);
  } catch {
    live = undefined;
  }
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    logger.warn(
      { err, dir },
      "cannot list the data dir to remove files left over by interrupted snapshot work",
    );
    return removed;
  }
  for (const name of names) {
    const path = join(dir, name);
    try {
      let stale = LEFTOVER.test(name);
      if (!stale && live && name.startsWith(kept) && !/-(?:wal|shm|journal)$/.test(name)) {
        const st = statSync(path);
        stale = st.isFile() && st.dev === live.dev && st.ino === live.ino;
      }
      if (!stale) continue;
      rmSync(path, { force: true });
      removed.push(name);
    } catch (err) {
      logger.warn({ err, path }, "cannot remove a file left over by interrupted snapshot work");
    }
  }
  if (removed.length > 0) {
    logger.notice({ dir, removed }, "removed files left over by snapshot work that a crash interrupted");
  }
  return removed;
}
