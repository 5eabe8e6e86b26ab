import { createHash } from "node:crypto";
import { type FileHandle, open } from "node:fs/promises";
import { AppError } from "../../protocol/errors.js";

/**
 * Taking members out of the tar stream, hashing every byte on the way.
 * data.db goes to a new file (created exclusively, mode 0600, fsynced before
 * it is reported complete, so a restore can rename it into place); the
 * small members are kept in memory as bytes. Nothing here judges content:
 * that waits until the hashes are known to match, so a damaged file is
 * reported as damaged. The caller removes the file on failure.
 */
/** Bytes gathered into one write of data.db. */
const WRITE_BYTES = 1024 * 1024;

export async function extractMember(
  body: AsyncIterable<Buffer>,
  path: string,
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  const file = await open(path, "wx", 0o600);
  // Chunks are gathered into writes of WRITE_BYTES, and one write is in flight while the next batch is
  // read and hashed: a thread-pool round trip per batch, not per chunk, and no wait between the two.
  // (The chunks are the gunzip stream's own buffers, never reused, so holding them is safe.)
  let inFlight: Promise<unknown> = Promise.resolve();
  let batch: Buffer[] = [];
  let batched = 0;
  try {
    for await (const chunk of body) {
      hash.update(chunk);
      bytes += chunk.length;
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= WRITE_BYTES) {
        await inFlight;
        inFlight = writeAll(file, batch, batched);
        batch = [];
        batched = 0;
      }
    }
    await inFlight;
    if (batch.length > 0) await writeAll(file, batch, batched);
    await file.sync();
  } catch (err) {
    throw writeError(err, path);
  } finally {
    // A failed read must not leave a write running on a closed file.
    await inFlight.catch(() => {});
    await file.close();
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * Writes every byte of `parts`: writev may write only some (a disk that fills
 * up does that before it fails with ENOSPC), and a short write taken for a
 * whole one leaves a truncated data.db that would then be judged damaged.
 */
async function writeAll(file: FileHandle, parts: Buffer[], total: number): Promise<void> {
  let rest = parts;
  let left = total;
  while (left > 0) {
    const { bytesWritten } = await file.writev(rest);
    left -= bytesWritten;
    if (left > 0) rest = [Buffer.concat(rest).subarray(bytesWritten)];
  }
}

/** Errors of the local disk, said as such (not as a damaged snapshot); anything else as it is. */
function writeError(err: unknown, path: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  const words: Record<string, string> = {
    ENOSPC: "no space left on the device",
    EDQUOT: "disk quota exceeded",
    EIO: "an I/O error",
  };
  if (err instanceof AppError || !code || !words[code]) return err;
  return new AppError("WRITE_FAILED", `cannot extract data.db to ${path} to check it: ${words[code]}`, {
    hint: "Free space on that disk and try again. This says nothing about the snapshot itself: it was not checked.",
    cause: err,
  });
}

export async function readSmallMember(
  body: AsyncIterable<Buffer>,
): Promise<{ data: Buffer; sha256: string }> {
  const parts: Buffer[] = [];
  for await (const chunk of body) parts.push(chunk);
  const data = Buffer.concat(parts);
  return { data, sha256: createHash("sha256").update(data).digest("hex") };
}

/** `data` as strict UTF-8 text. */
export function decodeText(name: string, data: Buffer): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    throw new AppError("SNAPSHOT_INVALID", `${name} is not valid UTF-8 text`);
  }
}
