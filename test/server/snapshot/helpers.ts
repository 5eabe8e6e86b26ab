import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { gunzipSync, gzipSync } from "node:zlib";
import type { ExecutionContext } from "ava";
import Database from "better-sqlite3";
import * as tar from "tar-stream";
import { AppError, type ErrorCode } from "../../../src/protocol/errors.js";
import { buildVersionInfo } from "../../../src/protocol/version-info.js";
import type { SnapshotMeta } from "../../../src/server/snapshot/types.js";
import { type VerifyOptions, verifySnapshot } from "../../../src/server/snapshot/verify.js";
import { writeSnapshot } from "../../../src/server/snapshot/write.js";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import type { ComponentRecord, TokenRecord } from "../../../src/server/store/store.js";
import { tempDir } from "../../helpers/temp.js";

export const VERSION_INFO = buildVersionInfo("0.1.0");

export const token = (id: string, kind: TokenRecord["kind"] = "management"): TokenRecord => ({
  id,
  kind,
  hash: sha256(`secret-${id}`),
  createdAt: "2026-11-22T10:00:00.000Z",
});

/**
 * When the components were seen: a minute before the run, so they are within the server's active
 * window (168 h) whenever the tests run, and a restored store shows them.
 */
const SEEN = new Date(Date.now() - 60_000).toISOString();

export const component = (id: string, over: Partial<ComponentRecord> = {}): ComponentRecord => ({
  kind: "runner",
  id,
  version: "0.1.0",
  api: { min: 1, current: 1 },
  entrypoint: { min: 1, current: 1 },
  emulated: false,
  firstSeen: SEEN,
  lastSeen: SEEN,
  ...over,
});

/** A real store in a temp dir, with a bootstrap token, two more tokens and three components. */
export function storeWithRows(t: ExecutionContext): SqliteStore {
  const store = SqliteStore.open(join(tempDir(t), "data.db"));
  t.teardown(() => store.close());
  store.bootstrapToken(token("tok_boot"));
  store.insertToken(token("tok_ro", "readonly"));
  store.insertToken({ ...token("tok_ep", "entrypoint"), app: "web", deployment: "d1" });
  store.upsertComponents([
    component("r1"),
    component("r2", { hostname: "host-2" }),
    component("e1", { kind: "entrypoint", app: "web", deployment: "d1", instance: "i1" }),
  ]);
  return store;
}

/** A snapshot of `store` as bytes, written by writeSnapshot into memory. */
export async function snapshotBytes(
  t: ExecutionContext,
  store: SqliteStore,
): Promise<{ bytes: Buffer; meta: SnapshotMeta }> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const meta = await writeSnapshot(store, sink, { versionInfo: VERSION_INFO, tmpDir: tempDir(t) });
  return { bytes: Buffer.concat(chunks), meta };
}

export function sha256(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

export interface Member {
  readonly header: Partial<tar.Header> & Pick<tar.Header, "name">;
  readonly data: Buffer;
}

/** The members of a gzip'd tar, read with tar-stream (an implementation independent of ours). */
export async function members(gz: Buffer): Promise<Member[]> {
  const out: Member[] = [];
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      out.push({ header: entry.header, data: Buffer.concat(parts) });
    }
  })();
  extract.end(gunzipSync(gz));
  await done;
  return out;
}

/** A tar (not gzip'd) of `entries`, written with tar-stream, which writes whatever it is given. */
export async function packTar(entries: readonly Member[]): Promise<Buffer> {
  const pack = tar.pack();
  const collected = (async () => {
    const parts: Buffer[] = [];
    for await (const chunk of pack) parts.push(chunk as Buffer);
    return Buffer.concat(parts);
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      pack.entry(e.header, e.data, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  return collected;
}

/** Regular-file member. */
export const file = (name: string, data: Buffer | string): Member => ({
  header: { name, mode: 0o600, mtime: new Date("2026-11-22T10:00:00Z"), type: "file" },
  data: Buffer.from(data),
});

/** SHA256SUMS for the given meta.json and data.db bytes. */
export function sumsFor(meta: Buffer, db: Buffer): string {
  return `${sha256(meta)}  meta.json\n${sha256(db)}  data.db\n`;
}

/**
 * A gzip'd snapshot of `meta` and `db` whose SHA256SUMS match, so that only
 * the property under test is wrong.
 */
export async function consistentSnapshot(meta: unknown, db: Buffer): Promise<Buffer> {
  const metaBytes = Buffer.from(JSON.stringify(meta));
  return gzipSync(
    await packTar([
      file("meta.json", metaBytes),
      file("data.db", db),
      file("SHA256SUMS", sumsFor(metaBytes, db)),
    ]),
  );
}

/** Meta and data.db of a good snapshot. */
export async function parts(
  gz: Buffer,
): Promise<{ meta: Record<string, unknown>; db: Buffer; sums: Buffer }> {
  const byName = new Map((await members(gz)).map((m) => [m.header.name, m.data]));
  return {
    meta: JSON.parse(String(byName.get("meta.json"))) as Record<string, unknown>,
    db: byName.get("data.db") as Buffer,
    sums: byName.get("SHA256SUMS") as Buffer,
  };
}

/** Runs verifySnapshot on `bytes` in a fresh dir; asserts an AppError and an empty dir afterwards. */
export async function verifyFails(
  t: ExecutionContext,
  bytes: Buffer,
  code: ErrorCode,
  message: string | RegExp,
  opts: Omit<VerifyOptions, "dir"> = {},
): Promise<AppError> {
  const dir = tempDir(t);
  const err = await t.throwsAsync(verifySnapshot(Readable.from([bytes]), { ...opts, dir }), {
    instanceOf: AppError,
  });
  if (!(err instanceof AppError)) throw new Error("expected an AppError");
  t.is(err.code, code, err.message);
  if (typeof message === "string") t.is(err.message, message);
  else t.regex(err.message, message);
  t.deepEqual(readdirSync(dir), [], "nothing is left in dir");
  return err;
}

/** Rows of the tables a restore must carry over, read straight from a database file. */
export function rowsOf(dbPath: string): { tokens: unknown[]; components: unknown[]; rejected: unknown[] } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    return {
      tokens: db.prepare("SELECT * FROM tokens ORDER BY id").all(),
      components: db.prepare("SELECT * FROM components ORDER BY kind, id").all(),
      rejected: db.prepare("SELECT * FROM rejected ORDER BY kind, id").all(),
    };
  } finally {
    db.close();
  }
}

/** Flips the lowest bit of `buf[at]`, in place. */
export function flip(buf: Buffer, at: number): void {
  buf[at] = (buf[at] ?? 0) ^ 0x01;
}
