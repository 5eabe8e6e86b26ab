import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { AppError } from "../../protocol/errors.js";
import { LATEST_SCHEMA_VERSION } from "../store/migrations.js";
import { type ArchiveInput, openArchive } from "./archive-input.js";
import { checkDatabase } from "./check-database.js";
import { decodeText, extractMember, readSmallMember } from "./extract.js";
import { maxArchiveBytes, resolveLimits } from "./limits.js";
import { checkFormat, parseSnapshotMeta } from "./meta.js";
import { parseSums } from "./sums.js";
import { readStrictTar, type TarMember } from "./tar-reader.js";
import { SNAPSHOT_MEMBERS, type SnapshotLimits, type SnapshotMeta, type VerifiedSnapshot } from "./types.js";

/**
 * Reading a snapshot: `verifySnapshot` is the full dry run of a restore and
 * the only way to get a database out of a snapshot. Nothing it returns was
 * trusted before being checked, in this order: the layers (age, gzip, the
 * decompressed size cap), the tar structure and member sizes as they stream,
 * meta.json's format as soon as it is read, then the member set, both
 * SHA-256 sums, meta.json in full, and data.db itself (integrity, facts
 * agreeing with meta.json, a schema this build can open).
 *
 * Invariants: on any failure the extracted file is removed before the
 * error is thrown, and every failure about the file's contents is an
 * AppError (SNAPSHOT_INVALID, SNAPSHOT_INCOMPATIBLE or
 * SNAPSHOT_DECRYPT_FAILED); I/O errors of `input` or `dir` pass through.
 * The input is consumed to its end (trailing data is refused) and
 * destroyed afterwards.
 */
export interface ReadOptions {
  readonly limits?: Partial<SnapshotLimits>;
  /** Asked only when the file is encrypted with a passphrase. */
  readonly passphrase?: () => Promise<string>;
  /** age secret keys (AGE-SECRET-KEY-1…), e.g. from parseIdentities(). */
  readonly identities?: string[];
}

export interface VerifyOptions extends ReadOptions {
  /** Where data.db is extracted (as `.verify-<random>.db`); put it on the file system it will end up on. */
  readonly dir: string;
  /** A token hash to look for in data.db (VerifiedSnapshot.hasToken). */
  readonly tokenHash?: string;
  /**
   * false: leave out VerifiedSnapshot.tableBytes, one more read of every page of data.db (restores
   * pass it; they have no use for the sizes). Default true.
   */
  readonly tableBytes?: boolean;
}

export async function verifySnapshot(input: Readable, opts: VerifyOptions): Promise<VerifiedSnapshot> {
  const limits = resolveLimits(opts.limits);
  const dbPath = join(opts.dir, `.verify-${randomBytes(8).toString("hex")}.db`);
  let archive: ArchiveInput | undefined;
  try {
    archive = await openArchive(input, { ...opts, maxBytes: maxArchiveBytes(limits) });
    const found = await readMembers(archive, limits, dbPath);
    const sums = parseSums(decodeText("SHA256SUMS", found.sums));
    for (const name of ["meta.json", "data.db"] as const) {
      if (sums[name] !== found.hashes[name]) {
        throw invalid(`${name} does not match its SHA-256 in SHA256SUMS (the file is damaged)`);
      }
    }
    const meta = parseSnapshotMeta(decodeText("meta.json", found.meta));
    const facts = checkDatabase(dbPath, meta, opts.tokenHash, { tableBytes: opts.tableBytes !== false });
    if (meta.schemaVersion > LATEST_SCHEMA_VERSION) {
      throw new AppError(
        "SNAPSHOT_INCOMPATIBLE",
        `schema version ${meta.schemaVersion} is newer than this build's ${LATEST_SCHEMA_VERSION}`,
      );
    }
    return {
      meta,
      dbPath,
      archiveBytes: archive.archiveBytes(),
      dbBytes: found.dbBytes,
      encrypted: archive.encrypted,
      ...(facts.tableBytes ? { tableBytes: facts.tableBytes } : {}),
      ...(facts.hasToken === undefined ? {} : { hasToken: facts.hasToken }),
    };
  } catch (err) {
    for (const suffix of ["", "-journal", "-wal", "-shm"]) rmSync(dbPath + suffix, { force: true });
    throw err;
  } finally {
    archive?.close();
  }
}

/**
 * meta.json only, for status displays: decrypts and gunzips like
 * verifySnapshot and applies the same member rules up to meta.json, then
 * stops. Nothing is hashed, so the result is unverified.
 */
export async function readSnapshotMeta(input: Readable, opts: ReadOptions = {}): Promise<SnapshotMeta> {
  const limits = resolveLimits(opts.limits);
  const archive = await openArchive(input, { ...opts, maxBytes: maxArchiveBytes(limits) });
  try {
    let text: string | undefined;
    const seen = new Set<string>();
    await readStrictTar(archive.source, async (member, body) => {
      checkMember(member, seen, limits);
      if (member.name !== "meta.json") return undefined;
      text = decodeText("meta.json", (await readSmallMember(body)).data);
      return "stop";
    });
    if (text === undefined) throw invalid("missing member meta.json");
    return parseSnapshotMeta(text);
  } finally {
    archive.close();
  }
}

interface Members {
  readonly meta: Buffer;
  readonly sums: Buffer;
  readonly hashes: Readonly<Record<"meta.json" | "data.db", string>>;
  readonly dbBytes: number;
}

async function readMembers(archive: ArchiveInput, limits: SnapshotLimits, dbPath: string): Promise<Members> {
  const seen = new Set<string>();
  let meta: { data: Buffer; sha256: string } | undefined;
  let sums: Buffer | undefined;
  let db: { sha256: string; bytes: number } | undefined;
  await readStrictTar(archive.source, async (member, body) => {
    checkMember(member, seen, limits);
    if (member.name === "data.db") {
      db = await extractMember(body, dbPath);
    } else if (member.name === "meta.json") {
      meta = await readSmallMember(body);
      // A newer format may change anything after meta.json, so judge the format before the rest.
      checkEarlyFormat(meta.data.toString("utf8"));
    } else {
      sums = (await readSmallMember(body)).data;
    }
    return undefined;
  });
  const missing = SNAPSHOT_MEMBERS.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    throw invalid(`missing member${missing.length > 1 ? "s" : ""} ${missing.join(", ")}`);
  }
  if (meta === undefined || sums === undefined || db === undefined) throw invalid("missing members");
  return {
    meta: meta.data,
    sums,
    hashes: { "meta.json": meta.sha256, "data.db": db.sha256 },
    dbBytes: db.bytes,
  };
}

/** The member rules: a known name, once, within its size limit. */
function checkMember(member: TarMember, seen: Set<string>, limits: SnapshotLimits): void {
  const quoted = JSON.stringify(member.name);
  if (!(SNAPSHOT_MEMBERS as readonly string[]).includes(member.name)) {
    throw invalid(`unknown member ${quoted} (a snapshot holds only ${SNAPSHOT_MEMBERS.join(", ")})`);
  }
  if (seen.has(member.name)) throw invalid(`member ${quoted} appears more than once`);
  seen.add(member.name);
  const limit = member.name === "data.db" ? limits.maxDbBytes : limits.maxSmallBytes;
  if (member.size > limit) {
    throw invalid(`member ${quoted} is ${member.size} bytes, over the ${limit}-byte limit`);
  }
}

/**
 * When meta.json is a JSON object with a "format" field, judges that field
 * now; anything else is left to the full parse after the hashes are checked.
 */
function checkEarlyFormat(text: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return;
  }
  if (typeof raw === "object" && raw !== null && "format" in raw) checkFormat(raw.format);
}

function invalid(message: string): AppError {
  return new AppError("SNAPSHOT_INVALID", message);
}
