import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  linkSync,
  openSync,
  renameSync,
  statSync,
} from "node:fs";
import { rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { syncDir } from "../../durable.js";
import { AppError } from "../../protocol/errors.js";
import type { VersionInfo } from "../../protocol/version-info.js";
import type { DatabaseFacts } from "../store/inspect.js";
import { inspectDatabaseFile } from "../store/inspect.js";
import type { Store } from "../store/store.js";
import { newSnapshotId } from "./meta.js";
import { removeGradually } from "./remove.js";
import { formatSums } from "./sums.js";
import { SNAPSHOT_FORMAT, type SnapshotMeta } from "./types.js";
import { END_OF_ARCHIVE, encodeHeader, padding } from "./ustar.js";
import { verifySnapshot } from "./verify.js";

/**
 * Taking a snapshot. `writeSnapshot` makes a consistent copy of the store
 * (SQLite online backup, writes continue meanwhile) into `tmpDir`, then
 * streams the archive in one pass: meta.json, data.db (hashed while it is
 * read), SHA256SUMS last, as a gzip'd ustar that `tar -xzf`, `sha256sum -c`
 * and `sqlite3` read. Members are mode 0600, owned by 0:0, dated createdAt.
 *
 * Invariants: the copy is removed afterwards, also on error; `onMeta` is
 * called once the copy exists, before the first archive byte (HTTP sends
 * X-Waypoint-Index from it); `out` is ended when the archive is complete
 * and destroyed on error.
 */
export interface WriteOptions {
  readonly versionInfo: VersionInfo;
  /** Where the copy of the database is made; it needs room for a whole data.db. */
  readonly tmpDir: string;
  /** 1 (fast) to 9 (small); default zlib's 6. */
  readonly gzipLevel?: number;
  readonly onProgress?: (p: { phase: "copy" | "archive"; done: number; total: number }) => void;
  readonly onMeta?: (meta: SnapshotMeta) => void;
}

export async function writeSnapshot(
  store: Store,
  out: NodeJS.WritableStream,
  opts: WriteOptions,
): Promise<SnapshotMeta> {
  const copy = join(opts.tmpDir, `.snapshot-${randomBytes(8).toString("hex")}.db`);
  try {
    let pages = 0;
    const facts = await store.backupTo(copy, (p) => {
      pages = p.totalPages;
      opts.onProgress?.({ phase: "copy", done: p.totalPages - p.remainingPages, total: p.totalPages });
    });
    if (pages > 0) opts.onProgress?.({ phase: "copy", done: pages, total: pages });
    const meta = snapshotMeta(facts, opts.versionInfo);
    opts.onMeta?.(meta);
    await pipeline(archive(meta, copy, opts.onProgress), createGzip({ level: opts.gzipLevel ?? 6 }), out);
    return meta;
  } finally {
    // A whole database: removed without stalling the writes the server keeps serving.
    await Promise.all([removeGradually(copy), rm(`${copy}-journal`, { force: true })]);
  }
}

/**
 * Archives an existing standalone database file (rollback-journal mode, not
 * in use) as a snapshot: used for the automatic snapshot taken before a
 * schema migration, from the pre-migration copy.
 */
export async function writeSnapshotFromFile(
  dbPath: string,
  out: NodeJS.WritableStream,
  opts: Pick<WriteOptions, "versionInfo" | "gzipLevel">,
): Promise<SnapshotMeta> {
  const { problems: _unchecked, ...facts } = inspectDatabaseFile(dbPath, {
    integrity: false,
    tableBytes: false,
  });
  const meta = snapshotMeta(facts, opts.versionInfo);
  await pipeline(archive(meta, dbPath, undefined), createGzip({ level: opts.gzipLevel ?? 6 }), out);
  return meta;
}

function snapshotMeta(facts: DatabaseFacts, server: VersionInfo): SnapshotMeta {
  return {
    format: SNAPSHOT_FORMAT,
    id: newSnapshotId(),
    createdAt: new Date().toISOString(),
    server,
    schemaVersion: facts.schemaVersion,
    index: facts.index,
    tables: facts.tables,
  };
}

/** The uncompressed tar, member by member; data.db is read from `dbPath` once. */
async function* archive(
  meta: SnapshotMeta,
  dbPath: string,
  onProgress: WriteOptions["onProgress"],
): AsyncGenerator<Buffer> {
  const mtime = new Date(meta.createdAt);
  const member = (name: string, size: number) => encodeHeader({ name, size, mode: 0o600, mtime });
  const pad = (size: number) => Buffer.alloc(padding(size));

  const metaBytes = Buffer.from(`${JSON.stringify(meta, null, 2)}\n`, "utf8");
  yield member("meta.json", metaBytes.length);
  yield metaBytes;
  yield pad(metaBytes.length);

  const dbSize = statSync(dbPath).size;
  const hash = createHash("sha256");
  let done = 0;
  yield member("data.db", dbSize);
  onProgress?.({ phase: "archive", done, total: dbSize });
  for await (const chunk of createReadStream(dbPath) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    done += chunk.length;
    yield chunk;
    onProgress?.({ phase: "archive", done, total: dbSize });
  }
  if (done !== dbSize) throw new AppError("INTERNAL", `the database copy changed size while archived`);
  yield pad(dbSize);

  const sums = Buffer.from(
    formatSums({
      "meta.json": createHash("sha256").update(metaBytes).digest("hex"),
      "data.db": hash.digest("hex"),
    }),
    "ascii",
  );
  yield member("SHA256SUMS", sums.length);
  yield sums;
  yield pad(sums.length);
  yield END_OF_ARCHIVE;
}

/**
 * Writes a snapshot to `path`: into a temp file beside it (mode 0600),
 * fsynced, read back through verifySnapshot, then moved into place. Without
 * `force` an existing file is never replaced (ALREADY_EXISTS; the final step
 * is a hard link, which fails rather than overwrite). No temp file is left
 * behind, whatever happens.
 */
export async function writeSnapshotFile(
  store: Store,
  path: string,
  opts: WriteOptions & { force?: boolean },
): Promise<SnapshotMeta> {
  if (!opts.force) refuseExisting(path);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(temp, "wx", 0o600);
  try {
    let meta: SnapshotMeta;
    try {
      meta = await writeSnapshot(store, createWriteStream("", { fd, autoClose: false }), opts);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // Our own output: read back for integrity, so the reader's size limits (meant for foreign input) do not apply.
    const verified = await verifySnapshot(createReadStream(temp), {
      dir: opts.tmpDir,
      tableBytes: false,
      limits: { maxDbBytes: Number.MAX_SAFE_INTEGER },
    });
    await removeGradually(verified.dbPath);
    if (verified.meta.id !== meta.id) {
      throw new AppError("INTERNAL", `read back snapshot ${verified.meta.id} instead of ${meta.id}`);
    }
    publish(temp, path, opts.force === true);
    syncDir(dirname(path));
    return meta;
  } finally {
    await rm(temp, { force: true });
  }
}

function publish(temp: string, path: string, force: boolean): void {
  if (force) {
    renameSync(temp, path);
    return;
  }
  try {
    linkSync(temp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw alreadyExists(path);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
    // A file system without hard links: check, then rename (not atomic against a racing writer).
    refuseExisting(path);
    renameSync(temp, path);
  }
}

function refuseExisting(path: string): void {
  let exists = true;
  try {
    statSync(path);
  } catch {
    exists = false;
  }
  if (exists) throw alreadyExists(path);
}

function alreadyExists(path: string): AppError {
  return new AppError("ALREADY_EXISTS", `${path} already exists; pass -force to replace it`);
}
