/**
 * Reading snapshot files on this machine, shared by `server restore`,
 * `snapshot inspect` and `snapshot verify`: the -identity flag, credentials
 * (passphrase asked lazily), file checks, private work dirs, and the full
 * local verification through the server's own verifier.
 */
import {
  closeSync,
  createReadStream,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addAbortSignal, Readable } from "node:stream";
import { AppError } from "../protocol/errors.js";
import type { SnapshotMeta, VerifiedSnapshot } from "../server/offline.js";
import {
  decrypt,
  isAgeEncrypted,
  parseIdentities,
  resolveLimits,
  verifySnapshot,
} from "../server/offline.js";
import type { Io } from "./command.js";
import type { FlagSpec, ParsedFlags } from "./flags.js";
import type { Scope } from "./interrupt.js";
import { type PassphraseSource, passphraseSource } from "./passphrase.js";

export const IDENTITY_FLAG: FlagSpec = {
  name: "identity",
  type: "string-list",
  usage: "age identity file (age-keygen output) for a snapshot encrypted with -recipient",
  placeholder: "FILE",
};

/** How to open an encrypted snapshot: the passphrase (asked only if needed) and age identities. */
export interface Credentials {
  readonly passphrase: PassphraseSource;
  readonly identities: string[];
}

/** `stdinIsData`: the snapshot comes on stdin, so no passphrase can be asked there. */
export function credentialsFrom(flags: ParsedFlags, io: Io, stdinIsData: boolean): Credentials {
  const identities = flags.list("identity").flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new AppError("INVALID_ARGUMENT", `cannot read -identity ${file}: ${errnoText(err)}`);
    }
    const keys = parseIdentities(text);
    if (keys.length === 0) throw new AppError("INVALID_ARGUMENT", `-identity ${file} holds no age identity`);
    return keys;
  });
  return { passphrase: passphraseSource(io, stdinIsData), identities };
}

/** The snapshot FILE argument, checked to be a readable regular file; returns its size. */
export function checkedFile(path: string): number {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    throw new AppError("NOT_FOUND", `cannot read ${path}: ${errnoText(err)}`, {
      hint: "Check the path of the snapshot file.",
    });
  }
  if (st.isDirectory()) throw new AppError("INVALID_ARGUMENT", `${path} is a directory, not a snapshot file`);
  return st.size;
}

/** A private (0700) temp dir, removed by the caller and, on a second Ctrl-C, by the scope. */
export function workDir(scope: Scope, parent = tmpdir(), prefix = "waypoint-snapshot-"): string {
  const dir = mkdtempSync(join(parent, prefix));
  scope.track(dir);
  return dir;
}

/** Whether the file starts with the age header. */
export function isEncryptedFile(path: string): boolean {
  const head = Buffer.alloc(32);
  const fd = openSync(path, "r");
  try {
    return isAgeEncrypted(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes, stopped by `signal`, counting what was read. */
export function readFile(
  path: string,
  signal: AbortSignal,
  onBytes: (n: number) => void = () => {},
): Readable {
  return counted(addAbortSignal(signal, createReadStream(path)), onBytes);
}

/** `src` passed through, with `onBytes` told the size of every chunk; destroying the result destroys `src`. */
export function counted(src: Readable, onBytes: (n: number) => void): Readable {
  const out = Readable.from(
    (async function* () {
      for await (const chunk of src as AsyncIterable<Buffer>) {
        onBytes(chunk.length);
        yield chunk;
      }
    })(),
    { objectMode: false },
  );
  out.on("close", () => src.destroy());
  return out;
}

/**
 * The full dry run of a restore against this build (hashes, integrity,
 * format, schema), data.db extracted into `dir`; the caller removes it.
 */
export function verifyFile(
  path: string,
  opts: {
    readonly dir: string;
    readonly creds: Credentials;
    readonly io: Io;
    readonly signal: AbortSignal;
    readonly tokenHash?: string | undefined;
    readonly onBytes?: (n: number) => void;
  },
): Promise<VerifiedSnapshot> {
  return verifySnapshot(readFile(path, opts.signal, opts.onBytes), {
    dir: opts.dir,
    limits: resolveLimits({}, opts.io.env),
    passphrase: () => opts.creds.passphrase.get(),
    identities: opts.creds.identities,
    ...(opts.tokenHash === undefined ? {} : { tokenHash: opts.tokenHash }),
  });
}

/**
 * The plain archive of a verified file, for uploading: decrypted here when
 * it is encrypted, with whatever opened it during verification (the
 * passphrase if one was asked for, else the identities).
 */
export function plainArchive(
  path: string,
  encrypted: boolean,
  creds: Credentials,
  signal: AbortSignal,
  onBytes?: (n: number) => void,
): Readable {
  const raw = readFile(path, signal, onBytes);
  if (!encrypted) return raw;
  const passphrase = creds.passphrase.known();
  return decrypt(raw, passphrase === undefined ? { identities: creds.identities } : { passphrase });
}

/** "snap_… (created …, server 0.1.0, schema 3, state index 42)". */
export function describeMeta(
  meta: Pick<SnapshotMeta, "id" | "createdAt" | "schemaVersion" | "index"> & {
    readonly server: Pick<SnapshotMeta["server"], "version" | "emulated">;
  },
): string {
  return `${meta.id} (created ${meta.createdAt}, server ${meta.server.version}${meta.server.emulated ? " (emulated)" : ""}, schema ${meta.schemaVersion}, state index ${meta.index})`;
}

export function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: "no such file or directory",
    EACCES: "permission denied",
    EISDIR: "is a directory",
    ENOSPC: "no space left on the device",
    EROFS: "read-only file system",
    ENOTDIR: "a part of the path is not a directory",
  };
  return (e.code && words[e.code]) ?? e.message ?? String(err);
}
