import { Readable } from "node:stream";
import type { ReadableStream } from "node:stream/web";
import { Decrypter, Encrypter } from "age-encryption";
import { AppError } from "../../protocol/errors.js";

/**
 * age encryption of a whole snapshot file (age-encryption.org/v1, binary,
 * not armored), as Node streams around age-encryption's web streams. The
 * output of `encrypt` is a plain age file: `age -d` decrypts it.
 *
 * Invariants: options are checked when `encrypt` / `decrypt` is called (a
 * bad recipient or identity throws at once); the returned stream fails with
 * an AppError — SNAPSHOT_DECRYPT_FAILED when no passphrase or identity
 * opens the file, SNAPSHOT_INVALID when the file is damaged or truncated
 * (age authenticates every 64 KiB chunk and the end of the stream, so no
 * altered or cut-short plaintext is ever passed on as complete).
 * Passphrases use scrypt at age's default work factor, which takes about a
 * second of CPU on purpose.
 */
export const AGE_MAGIC = "age-encryption.org/v1";

const MAGIC_BYTES = Buffer.from(AGE_MAGIC, "ascii");
const NO_MATCH = "no identity matched any of the file's recipients";

/** Whether `firstBytes` (at least the first 21 bytes of the file) start with the age v1 header line. */
export function isAgeEncrypted(firstBytes: Uint8Array): boolean {
  return Buffer.from(firstBytes.buffer, firstBytes.byteOffset, firstBytes.byteLength)
    .subarray(0, MAGIC_BYTES.length)
    .equals(MAGIC_BYTES);
}

/**
 * How an age file was encrypted, from its first recipient stanza: with a
 * passphrase ("scrypt", which age allows only alone) or for recipients.
 * `head` must hold the header's first two lines; undefined if it does not.
 */
export function ageStanzaKind(head: Uint8Array): "passphrase" | "recipients" | undefined {
  const text = Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString("latin1");
  const m = /^age-encryption\.org\/v1\n-> (\S+)/.exec(text);
  if (!m) return undefined;
  return m[1] === "scrypt" ? "passphrase" : "recipients";
}

/** The identities in an age identity file (`age-keygen` output): non-empty lines not starting with "#". */
export function parseIdentities(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

export function encrypt(input: Readable, opts: { passphrase?: string; recipients?: string[] }): Readable {
  const recipients = opts.recipients ?? [];
  if ((opts.passphrase === undefined) === (recipients.length === 0)) {
    throw new AppError(
      "INVALID_ARGUMENT",
      "encrypt with either a passphrase or recipients, not both or neither",
    );
  }
  const encrypter = new Encrypter();
  if (opts.passphrase !== undefined) {
    if (opts.passphrase === "") throw new AppError("INVALID_ARGUMENT", "the passphrase is empty");
    encrypter.setPassphrase(opts.passphrase);
  }
  for (const r of recipients) {
    try {
      encrypter.addRecipient(r);
    } catch (err) {
      throw new AppError(
        "INVALID_ARGUMENT",
        `not an age recipient: ${JSON.stringify(r)} (${(err as Error).message})`,
      );
    }
  }
  return Readable.from(
    (async function* () {
      const out = await encrypter.encrypt(toWeb(input));
      yield* Readable.fromWeb(out);
    })(),
    { objectMode: false },
  );
}

export function decrypt(input: Readable, opts: { passphrase?: string; identities?: string[] }): Readable {
  const decrypter = new Decrypter();
  if (opts.passphrase !== undefined) decrypter.addPassphrase(opts.passphrase);
  for (const identity of opts.identities ?? []) {
    try {
      decrypter.addIdentity(identity);
    } catch {
      throw new AppError(
        "SNAPSHOT_DECRYPT_FAILED",
        "an identity is not an age secret key (expected AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1…)",
      );
    }
  }
  if (opts.passphrase === undefined && (opts.identities ?? []).length === 0) {
    throw new AppError("SNAPSHOT_DECRYPT_FAILED", "no passphrase or identity to decrypt with");
  }
  const noMatch =
    opts.passphrase === undefined
      ? "none of the given identities can decrypt this snapshot"
      : (opts.identities ?? []).length === 0
        ? "wrong passphrase: it does not decrypt this snapshot"
        : "neither the passphrase nor the given identities can decrypt this snapshot";
  return Readable.from(
    (async function* () {
      let out: ReadableStream<Uint8Array>;
      try {
        out = await decrypter.decrypt(toWeb(input));
      } catch (err) {
        throw decryptError(err, noMatch);
      }
      try {
        yield* Readable.fromWeb(out);
      } catch (err) {
        throw decryptError(err, noMatch);
      }
    })(),
    { objectMode: false },
  );
}

function toWeb(input: Readable): ReadableStream<Uint8Array> {
  return Readable.toWeb(input) as ReadableStream<Uint8Array>;
}

/** Keeps AppErrors and I/O errors of the input; explains age's plain Errors. */
function decryptError(err: unknown, noMatch: string): unknown {
  if (err instanceof AppError) return err;
  if (typeof (err as NodeJS.ErrnoException).code === "string") return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message === NO_MATCH) {
    return new AppError("SNAPSHOT_DECRYPT_FAILED", noMatch, { cause: err });
  }
  return new AppError("SNAPSHOT_INVALID", `the encrypted data is damaged or truncated (${message})`, {
    cause: err,
  });
}
