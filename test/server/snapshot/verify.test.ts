import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGzip, gunzipSync, gzipSync } from "node:zlib";
import { generateIdentity, identityToRecipient } from "age-encryption";
import test, { type ExecutionContext } from "ava";
import Database from "better-sqlite3";
import { AppError } from "../../../src/protocol/errors.js";
import { encrypt } from "../../../src/server/snapshot/crypt.js";
import { resolveLimits } from "../../../src/server/snapshot/limits.js";
import { readSnapshotMeta, verifySnapshot } from "../../../src/server/snapshot/verify.js";
import { LATEST_SCHEMA_VERSION } from "../../../src/server/store/migrations.js";
import { tempDir } from "../../helpers/temp.js";
import {
  consistentSnapshot,
  file,
  flip,
  type Member,
  members,
  packTar,
  parts,
  snapshotBytes,
  storeWithRows,
  token,
  verifyFails,
} from "./helpers.js";

/** A good snapshot of a store with a few rows. */
async function good(t: ExecutionContext) {
  return snapshotBytes(t, storeWithRows(t));
}

/** The good snapshot's members after `edit`, packed and gzip'd again. */
async function edited(t: ExecutionContext, edit: (ms: Member[]) => Member[]): Promise<Buffer> {
  return gzipSync(await packTar(edit(await members((await good(t)).bytes))));
}

test("a good snapshot verifies, leaving only the extracted database in dir", async (t) => {
  const { bytes, meta } = await good(t);
  const dir = tempDir(t);
  const verified = await verifySnapshot(Readable.from([bytes]), { dir });
  t.deepEqual(verified.meta, meta);
  t.is(verified.archiveBytes, bytes.length);
  t.deepEqual(readdirSync(dir), [verified.dbPath.slice(dir.length + 1)]);
  t.regex(verified.dbPath, /\/\.verify-[0-9a-f]+\.db$/);
});

test("readSnapshotMeta stops after meta.json", async (t) => {
  const { bytes, meta } = await good(t);
  t.deepEqual(await readSnapshotMeta(Readable.from([bytes])), meta);
  // What follows meta.json is not read, so a cut-off file still shows its meta.
  t.deepEqual(await readSnapshotMeta(Readable.from([bytes.subarray(0, bytes.length - 100)])), meta);
  await t.throwsAsync(
    verifySnapshot(Readable.from([bytes.subarray(0, bytes.length - 100)]), { dir: tempDir(t) }),
    {
      message: /^truncated/,
    },
  );
});

test("an empty file is refused", async (t) => {
  await verifyFails(t, Buffer.alloc(0), "SNAPSHOT_INVALID", "the file is empty");
});

test("a file that is not gzip is refused", async (t) => {
  await verifyFails(t, Buffer.from("hello, this is not a snapshot\n"), "SNAPSHOT_INVALID", "not a gzip file");
});

test("a bare SQLite database is named as such", async (t) => {
  const { db } = await parts((await good(t)).bytes);
  await verifyFails(t, db, "SNAPSHOT_INVALID", /^not a gzip file \(it is a bare SQLite database/);
});

test("a truncated file is refused", async (t) => {
  const { bytes } = await good(t);
  await verifyFails(
    t,
    bytes.subarray(0, Math.floor(bytes.length / 2)),
    "SNAPSHOT_INVALID",
    "truncated: the gzip stream ends early (unexpected end of file)",
  );
});

test("a flipped byte in the gzip data is refused", async (t) => {
  const { bytes } = await good(t);
  const damaged = Buffer.from(bytes);
  flip(damaged, damaged.length - 8); // in the CRC-32 of the uncompressed data
  await verifyFails(t, damaged, "SNAPSHOT_INVALID", "the gzip data is corrupt (incorrect data check)");
});

test("a flipped byte in data.db is refused", async (t) => {
  const damaged = await edited(t, (ms) =>
    ms.map((m) => {
      if (m.header.name !== "data.db") return m;
      const data = Buffer.from(m.data);
      flip(data, data.length - 100);
      return { ...m, data };
    }),
  );
  await verifyFails(
    t,
    damaged,
    "SNAPSHOT_INVALID",
    "data.db does not match its SHA-256 in SHA256SUMS (the file is damaged)",
  );
});

test("a missing member is refused", async (t) => {
  const archive = await edited(t, (ms) => ms.filter((m) => m.header.name !== "SHA256SUMS"));
  await verifyFails(t, archive, "SNAPSHOT_INVALID", "missing member SHA256SUMS");
});

test("an extra member is refused", async (t) => {
  const archive = await edited(t, (ms) => [...ms, file("notes.txt", "hi")]);
  await verifyFails(
    t,
    archive,
    "SNAPSHOT_INVALID",
    'unknown member "notes.txt" (a snapshot holds only meta.json, data.db, SHA256SUMS)',
  );
});

test("a duplicated member is refused", async (t) => {
  const archive = await edited(t, (ms) => [...ms.slice(0, 2), ms[1] as Member, ...ms.slice(2)]);
  await verifyFails(t, archive, "SNAPSHOT_INVALID", 'member "data.db" appears more than once');
});

test("a member named ../data.db is refused", async (t) => {
  const archive = await edited(t, (ms) => [file("../data.db", "x"), ...ms]);
  await verifyFails(t, archive, "SNAPSHOT_INVALID", 'member "../data.db" points outside the archive ("..")');
});

test("a member with an absolute path is refused", async (t) => {
  const archive = await edited(t, (ms) => [...ms, file("/abs/path", "x")]);
  await verifyFails(t, archive, "SNAPSHOT_INVALID", 'member "/abs/path" has an absolute path');
});

test("a member in a directory is refused", async (t) => {
  const archive = await edited(t, (ms) => [file("snap/meta.json", "{}"), ...ms]);
  await verifyFails(
    t,
    archive,
    "SNAPSHOT_INVALID",
    'member "snap/meta.json" is in a directory; members must be at the top level',
  );
});

test("a symlink member is refused", async (t) => {
  const archive = await edited(t, (ms) => [
    ms[0] as Member,
    { header: { name: "data.db", type: "symlink", linkname: "/etc/passwd" }, data: Buffer.alloc(0) },
  ]);
  await verifyFails(
    t,
    archive,
    "SNAPSHOT_INVALID",
    'member "data.db" is a symbolic link (to "/etc/passwd"); only regular files are allowed',
  );
});

test("a hardlink member is refused", async (t) => {
  const archive = await edited(t, (ms) => [
    ...ms.slice(0, 2),
    { header: { name: "SHA256SUMS", type: "link", linkname: "meta.json" }, data: Buffer.alloc(0) },
  ]);
  await verifyFails(
    t,
    archive,
    "SNAPSHOT_INVALID",
    'member "SHA256SUMS" is a hard link (to "meta.json"); only regular files are allowed',
  );
});

test("a member over its size limit is refused before it is extracted", async (t) => {
  const { bytes } = await good(t);
  const { db } = await parts(bytes);
  await verifyFails(
    t,
    bytes,
    "SNAPSHOT_INVALID",
    `member "data.db" is ${db.length} bytes, over the 4096-byte limit`,
    { limits: { maxDbBytes: 4096 } },
  );
  await verifyFails(
    t,
    bytes,
    "SNAPSHOT_INVALID",
    /^member "meta.json" is \d+ bytes, over the 64-byte limit$/,
    {
      limits: { maxSmallBytes: 64 },
    },
  );
});

test("a gzip bomb stops at the decompressed-size limit", async (t) => {
  const zeros = Buffer.alloc(64 * 1024);
  const bomb = Buffer.concat(
    await Readable.from(
      (function* () {
        for (let i = 0; i < 256; i++) yield zeros; // 16 MiB
      })(),
    )
      .pipe(createGzip({ level: 9 }))
      .toArray(),
  );
  t.true(bomb.length < 64 * 1024, "the bomb itself is small");
  const err = await verifyFails(
    t,
    bomb,
    "SNAPSHOT_INVALID",
    /^the archive expands beyond the \d+-byte limit$/,
    {
      limits: { maxDbBytes: 1024 * 1024, maxSmallBytes: 1024 },
    },
  );
  const limit = Number(/(\d+)-byte/.exec(err.message)?.[1]);
  t.true(limit >= 1024 * 1024 && limit < 2 * 1024 * 1024, `limit ${limit}`);
});

test("data after the end of the archive is refused", async (t) => {
  const { bytes } = await good(t);
  const tarball = Buffer.concat([gunzipSync(bytes), Buffer.alloc(512, "garbage")]);
  await verifyFails(t, gzipSync(tarball), "SNAPSHOT_INVALID", "unexpected data after the end of the archive");
});

test("a bad SHA256SUMS line is refused", async (t) => {
  const archive = await edited(t, (ms) =>
    ms.map((m) =>
      m.header.name === "SHA256SUMS"
        ? file("SHA256SUMS", String(m.data).replace("  data.db", " *data.db"))
        : m,
    ),
  );
  await verifyFails(
    t,
    archive,
    "SNAPSHOT_INVALID",
    /^SHA256SUMS line 2 is not "<sha256> {2}<member>": "[0-9a-f]{64} \*data\.db"$/,
  );
});

test("a snapshot of an unknown format is incompatible", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  await verifyFails(
    t,
    await consistentSnapshot({ ...meta, format: 2 }, db),
    "SNAPSHOT_INCOMPATIBLE",
    "unknown snapshot format 2 (this build reads format 1)",
  );
});

test("meta.json with an unknown field is refused, naming the field", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  await verifyFails(
    t,
    await consistentSnapshot({ ...meta, compression: "zstd" }, db),
    "SNAPSHOT_INVALID",
    'meta.json has an unknown field "compression"',
  );
});

test("a database of a newer schema is incompatible", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  const path = join(tempDir(t), "newer.db");
  writeFileSync(path, db);
  const sqlite = new Database(path);
  sqlite.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
  sqlite.close();
  await verifyFails(
    t,
    await consistentSnapshot({ ...meta, schemaVersion: LATEST_SCHEMA_VERSION + 1 }, readFileSync(path)),
    "SNAPSHOT_INCOMPATIBLE",
    `schema version ${LATEST_SCHEMA_VERSION + 1} is newer than this build's ${LATEST_SCHEMA_VERSION}`,
  );
});

test("meta.json that does not match data.db is refused", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  const index = meta.index as number;
  await verifyFails(
    t,
    await consistentSnapshot(
      { ...meta, index: index + 5, tables: { ...(meta.tables as object), tokens: 9 } },
      db,
    ),
    "SNAPSHOT_INVALID",
    `meta.json does not match data.db: state index: ${index + 5} in meta.json, ${index} in data.db; ` +
      "rows in table tokens: 9 in meta.json, 3 in data.db",
  );
});

test("a damaged database with matching hashes fails the integrity check", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  const path = join(tempDir(t), "damaged.db");
  writeFileSync(path, db);
  const sqlite = new Database(path, { readonly: true });
  const { rootpage } = sqlite
    .prepare("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_tokens_2'")
    .get() as { rootpage: number };
  const pageSize = sqlite.pragma("page_size", { simple: true }) as number;
  sqlite.close();
  // Change one character of the bootstrap token's hash in the index on tokens.hash, not in the table.
  const damaged = Buffer.from(db);
  const page = damaged.subarray((rootpage - 1) * pageSize, rootpage * pageSize);
  const at = page.indexOf(token("tok_boot").hash);
  t.true(at > 0);
  page[at] = page[at] === 0x61 ? 0x62 : 0x61;
  await verifyFails(
    t,
    await consistentSnapshot(meta, damaged),
    "SNAPSHOT_INVALID",
    "data.db fails PRAGMA integrity_check: row 1 missing from index sqlite_autoindex_tokens_2",
  );
});

test("a data.db that SQLite cannot read is refused", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  const damaged = Buffer.from(db);
  const pageSize = damaged.readUInt16BE(16);
  // Page 1 after the file header: the root of the schema table (its page header, cell pointers and
  // cells), so SQLite cannot even read which tables there are.
  damaged.fill(0xa5, 100, pageSize);
  await verifyFails(
    t,
    await consistentSnapshot(meta, damaged),
    "SNAPSHOT_INVALID",
    "data.db: not a readable SQLite database (SQLITE_CORRUPT)",
  );
});

test("a database in WAL mode is refused", async (t) => {
  const { meta, db } = await parts((await good(t)).bytes);
  const wal = Buffer.from(db);
  wal[18] = 2;
  wal[19] = 2;
  await verifyFails(
    t,
    await consistentSnapshot(meta, wal),
    "SNAPSHOT_INVALID",
    "data.db is in WAL mode; a snapshot's database must stand alone (rollback-journal mode)",
  );
});

test("an encrypted snapshot without a passphrase says how to give one", async (t) => {
  const { bytes } = await good(t);
  const sealed = Buffer.concat(
    await encrypt(Readable.from([bytes]), { passphrase: "correct horse" }).toArray(),
  );
  await verifyFails(
    t,
    sealed,
    "SNAPSHOT_DECRYPT_FAILED",
    "the snapshot is encrypted; set WAYPOINT_SNAPSHOT_PASSPHRASE or pass -identity",
  );
  await verifyFails(
    t,
    sealed,
    "SNAPSHOT_DECRYPT_FAILED",
    "wrong passphrase: it does not decrypt this snapshot",
    {
      passphrase: async () => "battery staple",
    },
  );
  const dir = tempDir(t);
  const verified = await verifySnapshot(Readable.from([sealed]), {
    dir,
    passphrase: async () => "correct horse",
  });
  t.true(verified.encrypted);
  t.is(verified.archiveBytes, bytes.length);
});

test("the passphrase is asked only for a passphrase-encrypted file", async (t) => {
  const { bytes } = await good(t);
  let asked = 0;
  const passphrase = async () => {
    asked++;
    return "x";
  };
  const plain = await verifySnapshot(Readable.from([bytes]), { dir: tempDir(t), passphrase });
  t.false(plain.encrypted);

  const identity = await generateIdentity();
  const sealed = Buffer.concat(
    await encrypt(Readable.from([bytes]), { recipients: [await identityToRecipient(identity)] }).toArray(),
  );
  await verifyFails(
    t,
    sealed,
    "SNAPSHOT_DECRYPT_FAILED",
    "the snapshot is encrypted for age recipients, not with a passphrase; pass -identity with a matching key",
    { passphrase },
  );
  t.is(asked, 0);
  const verified = await verifySnapshot(Readable.from([sealed]), { dir: tempDir(t), identities: [identity] });
  t.true(verified.encrypted);
});

test("WAYPOINT_SNAPSHOT_MAX_BYTES sets the data.db limit, and a bad value is a config error", (t) => {
  t.is(resolveLimits({}, {}).maxDbBytes, 16 * 1024 ** 3);
  t.is(resolveLimits({}, { WAYPOINT_SNAPSHOT_MAX_BYTES: "4096" }).maxDbBytes, 4096);
  t.is(resolveLimits({ maxDbBytes: 10 }, { WAYPOINT_SNAPSHOT_MAX_BYTES: "4096" }).maxDbBytes, 10);
  const err = t.throws(() => resolveLimits({}, { WAYPOINT_SNAPSHOT_MAX_BYTES: "4G" }), {
    instanceOf: AppError,
  });
  t.is(err?.code, "CONFIG_INVALID");
});
