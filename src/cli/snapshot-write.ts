/**
 * Writing a snapshot the server streams to us (DESIGN §8): to a file through
 * a temp file that is read back and verified before it takes the file's
 * name, or straight to a stream (stdout). Encryption, when asked, is applied
 * on the fly, so no plaintext archive ever touches the disk of an encrypted
 * snapshot (the verifier's extracted data.db excepted, which is removed at once).
 */
import { createHash, randomBytes } from "node:crypto";
import { linkSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { addAbortSignal, PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Connection, SnapshotMetaJson } from "../client/connection.js";
import { syncDir } from "../durable.js";
import { AppError } from "../protocol/errors.js";
import { encrypt, verifySnapshot } from "../server/offline.js";
import type { Scope } from "./interrupt.js";
import { byteCounter, type Progress } from "./progress.js";
import { errnoText, readFile } from "./snapshot-files.js";

export type Encryption =
  | { readonly kind: "none" }
  | { readonly kind: "passphrase"; readonly passphrase: string }
  | { readonly kind: "recipients"; readonly recipients: readonly string[] };

export interface TakeOptions {
  readonly encryption: Encryption;
  readonly scope: Scope;
  readonly progress: Progress;
}

export interface Taken {
  readonly meta: SnapshotMetaJson;
  /** Bytes of the file or stream as written (encrypted, when it is). */
  readonly bytes: number;
}

/** Our own output is read back for integrity: the size limits meant for foreign files do not apply. */
const UNLIMITED = { maxDbBytes: Number.MAX_SAFE_INTEGER };

/** Thrown into the write when the verifier fed alongside it stopped reading: its own error says why. */
const VERIFIER_STOPPED = new Error("the verifier stopped reading");

/**
 * Takes a snapshot into `path`: a temp file beside it (O_EXCL, mode 0600),
 * fsynced, verified (read back in full; for recipient encryption, which we
 * cannot decrypt, the plain archive is verified as it streams and the file's
 * bytes are read back against their SHA-256), then moved into place; without
 * `force` a hard link, which fails rather than replace an existing file.
 * Nothing but `path` is left behind, whatever happens.
 */
export async function snapshotToFile(
  conn: Connection,
  path: string,
  opts: TakeOptions & { readonly force: boolean },
): Promise<Taken> {
  const { scope, progress, encryption } = opts;
  const dir = dirname(path);
  const base = join(dir, `.${basename(path)}.${randomBytes(6).toString("hex")}`);
  const temp = `${base}.tmp`;
  const verifyDir = `${base}.verify`;
  scope.track(temp);
  scope.track(verifyDir);
  let handle: FileHandle;
  try {
    handle = await open(temp, "wx", 0o600);
  } catch (err) {
    throw new AppError("WRITE_FAILED", `cannot create a file in ${dir}: ${errnoText(err)}`, {
      hint: "Give a FILE in a directory that exists and that you may write to.",
    });
  }
  try {
    await handle.chmod(0o600);
    mkdirSync(verifyDir, { mode: 0o700 });
    let meta: SnapshotMetaJson | undefined;
    const source = conn.takeSnapshot(
      (p) => showServerProgress(progress, p),
      (m) => {
        meta = m;
      },
    );
    const fileHash = createHash("sha256");
    let bytes = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        fileHash.update(chunk);
        bytes += chunk.length;
        writeAll(handle, chunk).then(
          () => callback(),
          (err: unknown) =>
            callback(new AppError("WRITE_FAILED", `cannot write the snapshot in ${dir}: ${errnoText(err)}`)),
        );
      },
    });

    // Recipient encryption: verify the plain archive on its way to the encrypter.
    let plainVerified: ReturnType<typeof verifySnapshot> | undefined;
    let plain: Readable = source;
    if (encryption.kind === "recipients") {
      const feed = new PassThrough();
      feed.on("error", () => {}); // writes after the verifier stopped; its own rejection says why
      plainVerified = verifySnapshot(feed, { dir: verifyDir, limits: UNLIMITED });
      plainVerified.catch(() => {}); // awaited below
      plain = teed(source, feed);
    }
    try {
      await pipeline(encrypted(plain, encryption), sink, { signal: scope.signal });
    } catch (err) {
      const verifierErr = await plainVerified?.then(
        () => undefined,
        (e: unknown) => e,
      );
      throw err === VERIFIER_STOPPED && verifierErr ? verifierErr : err;
    }
    await handle.sync();
    if (!meta) throw new AppError("INTERNAL", "the snapshot stream ended without its meta");

    const onBytes = byteCounter(progress, "verifying", bytes);
    if (plainVerified) {
      const verified = await plainVerified;
      sameSnapshot(verified.meta.id, meta.id);
      const readBack = createHash("sha256");
      for await (const chunk of readFile(temp, scope.signal, onBytes)) readBack.update(chunk as Buffer);
      if (readBack.digest("hex") !== fileHash.digest("hex")) {
        throw new AppError("WRITE_FAILED", `${temp} does not read back as written (storage error?)`);
      }
    } else {
      const passphrase = encryption.kind === "passphrase" ? encryption.passphrase : undefined;
      const verified = await verifySnapshot(readFile(temp, scope.signal, onBytes), {
        dir: verifyDir,
        limits: UNLIMITED,
        ...(passphrase === undefined ? {} : { passphrase: async () => passphrase }),
      });
      sameSnapshot(verified.meta.id, meta.id);
    }
    progress.done();
    publish(temp, path, opts.force);
    syncDir(dir);
    return { meta, bytes };
  } finally {
    progress.done();
    await handle.close().catch(() => {});
    rmSync(temp, { force: true });
    rmSync(verifyDir, { recursive: true, force: true });
  }
}

/** Streams the (possibly encrypted) archive into `out`, which is not ended (it is stdout). */
export async function snapshotToStream(conn: Connection, out: Writable, opts: TakeOptions): Promise<Taken> {
  let meta: SnapshotMetaJson | undefined;
  const source = conn.takeSnapshot(
    (p) => showServerProgress(opts.progress, p),
    (m) => {
      meta = m;
    },
  );
  const archive = addAbortSignal(opts.scope.signal, encrypted(source, opts.encryption));
  let failed: Error | undefined;
  const onError = (err: Error) => {
    failed ??= err;
  };
  out.on("error", onError);
  let bytes = 0;
  try {
    for await (const chunk of archive as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (!out.write(chunk)) await drainedOrGone(out);
      if (failed) break;
    }
    if (!failed) await new Promise<void>((resolve) => out.write(Buffer.alloc(0), () => resolve()));
    if (failed) {
      archive.destroy();
      throw new AppError(
        "WRITE_FAILED",
        `cannot write the snapshot to stdout: ${errnoText(failed)}${(failed as NodeJS.ErrnoException).code === "EPIPE" ? " (the reader went away?)" : ""}`,
      );
    }
  } finally {
    out.off("error", onError);
    opts.progress.done();
  }
  if (!meta) throw new AppError("INTERNAL", "the snapshot stream ended without its meta");
  return { meta, bytes };
}

function encrypted(plain: Readable, encryption: Encryption): Readable {
  switch (encryption.kind) {
    case "none":
      return plain;
    case "passphrase":
      return encrypt(plain, { passphrase: encryption.passphrase });
    case "recipients":
      return encrypt(plain, { recipients: [...encryption.recipients] });
  }
}

function showServerProgress(progress: Progress, p: { phase: string; done: number; total: number }): void {
  if (p.phase === "copy") progress.update("copying the database", p.done, p.total, "none");
  else progress.update("archiving", p.done, p.total);
}

/** `src` passed on, each chunk also written to `feed` (waiting for it), which is ended with src or destroyed. */
function teed(src: Readable, feed: PassThrough): Readable {
  const out = Readable.from(
    (async function* () {
      let complete = false;
      try {
        for await (const chunk of src as AsyncIterable<Buffer>) {
          if (!feed.write(chunk)) await drainedOrGone(feed, VERIFIER_STOPPED);
          if (feed.destroyed) throw VERIFIER_STOPPED;
          yield chunk;
        }
        complete = true;
        feed.end();
      } finally {
        if (!complete) feed.destroy(new Error("the snapshot stream stopped before its end"));
      }
    })(),
    { objectMode: false },
  );
  out.on("close", () => src.destroy());
  return out;
}

/** Resolves on drain; on close or error resolves too (the caller checks), or rejects with `gone` if given. */
function drainedOrGone(stream: Writable, gone?: Error): Promise<void> {
  if (stream.destroyed) return gone ? Promise.reject(gone) : Promise.resolve();
  return new Promise((resolve, reject) => {
    const finish = (ok: boolean) => {
      stream.off("drain", onDrain);
      stream.off("close", onGone);
      stream.off("error", onGone);
      if (ok || !gone) resolve();
      else reject(gone);
    };
    const onDrain = () => finish(true);
    const onGone = () => finish(false);
    stream.on("drain", onDrain);
    stream.on("close", onGone);
    stream.on("error", onGone);
  });
}

async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  let at = 0;
  while (at < chunk.length) {
    const { bytesWritten } = await handle.write(chunk, at);
    at += bytesWritten;
  }
}

function sameSnapshot(read: string, announced: string): void {
  if (read !== announced) {
    throw new AppError("INTERNAL", `read back snapshot ${read}, but the server announced ${announced}`);
  }
}

/** Moves the verified temp file to `path`; without `force`, never over an existing file. */
function publish(temp: string, path: string, force: boolean): void {
  try {
    if (force) {
      renameSync(temp, path);
      return;
    }
    try {
      linkSync(temp, path);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw alreadyExists(path);
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw err;
    }
    // A file system without hard links: check, then rename (not atomic against a racing writer).
    if (exists(path)) throw alreadyExists(path);
    renameSync(temp, path);
  } catch (err) {
    if (err instanceof AppError) throw err;
    throw new AppError("WRITE_FAILED", `cannot move the snapshot to ${path}: ${errnoText(err)}`);
  }
}

export function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function alreadyExists(path: string): AppError {
  return new AppError("ALREADY_EXISTS", `${path} already exists`, {
    hint: "Pass -force to replace it, or give another FILE.",
  });
}
