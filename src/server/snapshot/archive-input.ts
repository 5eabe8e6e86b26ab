import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { AppError } from "../../protocol/errors.js";
import { ageStanzaKind, decrypt, isAgeEncrypted } from "./crypt.js";
import { ByteSource } from "./tar-reader.js";

/**
 * The layers under the tar: the raw input is sniffed (empty, age, gzip),
 * decrypted if it is an age file, counted and gunzipped with a cap on the
 * decompressed total. Errors of every layer arrive as AppErrors from the
 * returned ByteSource; I/O errors of the input itself pass through as they
 * are. `close()` destroys the whole chain (and so the caller's input) and
 * must be called once the caller is done, also after an error.
 *
 * gzip: concatenated members are read as one stream (as gzip(1) does), and
 * zero bytes after the last member are ignored (zlib's rule for padded
 * media); any other trailing byte is refused as a bad gzip member.
 */
export interface ArchiveInput {
  readonly source: ByteSource;
  readonly encrypted: boolean;
  /** Bytes of the gzip stream read so far (after decryption). */
  archiveBytes(): number;
  close(): void;
}

export interface Credentials {
  readonly passphrase?: (() => Promise<string>) | undefined;
  readonly identities?: readonly string[] | undefined;
}

/** Enough to see the age version line and the first stanza's type. */
const SNIFF_BYTES = 64;
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

export async function openArchive(
  input: Readable,
  opts: Credentials & { maxBytes: number },
): Promise<ArchiveInput> {
  // Every stream of the chain, so that close() can end them all whatever state each is in.
  const layers: Readable[] = [input];
  const add = <T extends Readable>(stream: T): T => {
    layers.push(stream);
    return stream;
  };
  const destroyAll = () => {
    for (const layer of layers) layer.destroy();
  };
  try {
    let sniffed = await sniff(input);
    add(sniffed.stream);
    if (sniffed.head.length === 0) throw invalid("the file is empty");
    const encrypted = isAgeEncrypted(sniffed.head);
    if (encrypted) {
      const plain = add(decrypt(sniffed.stream, await credentialsFor(sniffed.head, opts)));
      sniffed = await sniff(plain);
      add(sniffed.stream);
      if (sniffed.head.length === 0) throw invalid("the encrypted file holds no data");
    }
    checkGzip(sniffed.head);
    let archiveBytes = 0;
    const compressed = sniffed.stream;
    const counted = add(
      Readable.from(
        (async function* () {
          for await (const chunk of compressed as AsyncIterable<Buffer>) {
            archiveBytes += chunk.length;
            yield chunk;
          }
        })(),
        { objectMode: false },
      ),
    );
    // 64 KiB out per inflate call rather than the default 16 KiB: a quarter of the calls and of the
    // chunks every later stage (tar reader, hash, file write) handles.
    const gunzip = add(createGunzip({ chunkSize: 64 * 1024 }));
    pipeline(counted, gunzip, () => {
      // errors surface through the gunzip stream's iterator
    });
    return {
      source: new ByteSource(capped(gunzip, opts.maxBytes)),
      encrypted,
      archiveBytes: () => archiveBytes,
      close: destroyAll,
    };
  } catch (err) {
    destroyAll();
    throw err;
  }
}

async function credentialsFor(
  head: Buffer,
  opts: Credentials,
): Promise<{ passphrase?: string; identities?: string[] }> {
  const identities = [...(opts.identities ?? [])];
  if (opts.passphrase === undefined && identities.length === 0) {
    throw new AppError(
      "SNAPSHOT_DECRYPT_FAILED",
      "the snapshot is encrypted; set WAYPOINT_SNAPSHOT_PASSPHRASE or pass -identity",
    );
  }
  const kind = ageStanzaKind(head);
  if (kind === "passphrase") {
    if (opts.passphrase === undefined) {
      throw new AppError(
        "SNAPSHOT_DECRYPT_FAILED",
        "the snapshot is encrypted with a passphrase, not for an identity; set WAYPOINT_SNAPSHOT_PASSPHRASE",
      );
    }
    return { passphrase: await opts.passphrase() };
  }
  if (kind === "recipients" && identities.length === 0) {
    throw new AppError(
      "SNAPSHOT_DECRYPT_FAILED",
      "the snapshot is encrypted for age recipients, not with a passphrase; pass -identity with a matching key",
    );
  }
  return { identities };
}

function checkGzip(head: Buffer): void {
  if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) return;
  const text = head.toString("latin1");
  const looks = text.startsWith("SQLite format 3\0")
    ? " (it is a bare SQLite database; a snapshot is the .tar.gz that `waypoint server snapshot` writes)"
    : text.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")
      ? " (it is an ASCII-armored age file; decrypt it with `age -d` first, or encrypt without -a)"
      : text.startsWith("age-encryption.org/")
        ? " (it looks like an age file of an unknown version)"
        : "";
  throw invalid(`not a gzip file${looks}`);
}

/**
 * Reads the first chunk(s) of `stream` and returns them with a stream that
 * yields the same bytes from the start. Input errors propagate.
 */
async function sniff(stream: Readable): Promise<{ head: Buffer; stream: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const parts: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < SNIFF_BYTES) {
    const next = await it.next();
    if (next.done) {
      done = true;
      break;
    }
    parts.push(next.value);
    have += next.value.length;
  }
  const head = Buffer.concat(parts, have);
  const rest = Readable.from(
    (async function* () {
      try {
        yield head;
        while (!done) {
          const next = await it.next();
          if (next.done) return;
          yield next.value;
        }
      } finally {
        await it.return?.();
      }
    })(),
    { objectMode: false },
  );
  return { head, stream: rest };
}

/** The decompressed chunks, refusing to go past `maxBytes` (a gzip bomb stops here). */
async function* capped(gunzip: Readable, maxBytes: number): AsyncGenerator<Buffer, void, undefined> {
  let total = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > maxBytes) throw invalid(`the archive expands beyond the ${maxBytes}-byte limit`);
      yield chunk;
    }
  } catch (err) {
    throw gunzipError(err);
  }
}

function gunzipError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== "string" || !code.startsWith("Z_")) return err;
  const detail = (err as Error).message;
  return code === "Z_BUF_ERROR"
    ? invalid(`truncated: the gzip stream ends early (${detail})`)
    : invalid(`the gzip data is corrupt (${detail})`);
}

function invalid(message: string): AppError {
  return new AppError("SNAPSHOT_INVALID", message);
}
