import { execFile } from "node:child_process";
import { createReadStream, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import { promisify } from "node:util";
import test from "ava";
import { AppError } from "../../../src/protocol/errors.js";
import { decodeHeader, encodeHeader } from "../../../src/server/snapshot/ustar.js";
import { verifySnapshot } from "../../../src/server/snapshot/verify.js";
import { writeSnapshot, writeSnapshotFile } from "../../../src/server/snapshot/write.js";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";
import { component, rowsOf, storeWithRows, token, VERSION_INFO } from "./helpers.js";

const run = promisify(execFile);

type Progress = { phase: "copy" | "archive"; done: number; total: number };

test("a snapshot file verifies back to the store's meta and rows", async (t) => {
  const store = storeWithRows(t);
  const dir = tempDir(t);
  const progress: Progress[] = [];
  const meta = await writeSnapshotFile(store, join(dir, "backup.snap"), {
    versionInfo: VERSION_INFO,
    tmpDir: dir,
    onProgress: (p) => progress.push(p),
  });
  t.is(meta.format, 1);
  t.regex(meta.id, /^snap_[0-9a-f]{20}$/);
  t.deepEqual(meta.server, VERSION_INFO);
  t.is(meta.index, store.stateIndex());
  t.deepEqual(meta.tables, {
    apps: 0,
    components: 3,
    config: 0,
    deployments: 0,
    instances: 0,
    jobs: 0,
    meta: 1,
    rejected: 0,
    tokens: 3,
  });
  t.is(statSync(join(dir, "backup.snap")).mode & 0o777, 0o600);

  const bootHash = token("tok_boot").hash;
  const verified = await verifySnapshot(createReadStream(join(dir, "backup.snap")), {
    dir,
    tokenHash: bootHash,
  });
  t.deepEqual(verified.meta, meta);
  t.false(verified.encrypted);
  t.true(verified.hasToken);
  t.is(verified.archiveBytes, statSync(join(dir, "backup.snap")).size);
  t.is(verified.dbBytes, statSync(verified.dbPath).size);
  const restored = SqliteStore.open(verified.dbPath);
  t.teardown(() => restored.close());
  t.deepEqual(restored.listTokens(), store.listTokens());
  t.deepEqual(restored.listComponents(), store.listComponents());
  t.is(restored.stateIndex(), meta.index);

  const last = (phase: Progress["phase"]) => progress.filter((p) => p.phase === phase).at(-1);
  t.like(last("copy"), { done: last("copy")?.total });
  t.deepEqual(last("archive"), { phase: "archive", done: verified.dbBytes, total: verified.dbBytes });
});

test("the archive is read by the real tar, sha256sum and sqlite3", async (t) => {
  const store = storeWithRows(t);
  const dir = tempDir(t);
  const file = join(dir, "backup.snap");
  const meta = await writeSnapshotFile(store, file, { versionInfo: VERSION_INFO, tmpDir: tempDir(t) });

  const listing = await run("tar", ["--full-time", "-tvzf", file], { env: { ...process.env, TZ: "UTC" } });
  const when = meta.createdAt.slice(0, 19).replace("T", " ");
  const listed = listing.stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [mode, owner, , date, time, name] = line.split(/\s+/);
      return { mode, owner, mtime: `${date} ${time}`, name };
    });
  t.deepEqual(
    listed,
    ["meta.json", "data.db", "SHA256SUMS"].map((name) => ({
      mode: "-rw-------",
      owner: "0/0",
      mtime: when,
      name,
    })),
  );

  const out = tempDir(t);
  await run("tar", ["-xzf", file, "-C", out]);
  t.deepEqual(readdirSync(out).sort(), ["SHA256SUMS", "data.db", "meta.json"]);
  const sums = await run("sha256sum", ["-c", "SHA256SUMS"], { cwd: out });
  t.is(sums.stdout, "meta.json: OK\ndata.db: OK\n");
  t.deepEqual(JSON.parse(readFileSync(join(out, "meta.json"), "utf8")), meta);

  const sql = async (query: string) => (await run("sqlite3", [join(out, "data.db"), query])).stdout.trim();
  t.is(await sql("PRAGMA integrity_check"), "ok");
  t.is(await sql("PRAGMA journal_mode"), "delete");
  t.is(await sql("SELECT value FROM meta WHERE key = 'state_index'"), String(meta.index));
  t.is(await sql("PRAGMA user_version"), String(meta.schemaVersion));
  for (const [table, rows] of Object.entries(meta.tables)) {
    t.is(await sql(`SELECT count(*) FROM ${table}`), String(rows), table);
  }
});

test("writes continue during a snapshot and the snapshot is consistent", async (t) => {
  const store = storeWithRows(t);
  // Enough pages that the online copy takes several event-loop turns.
  const padding = "x".repeat(400);
  store.upsertComponents(
    Array.from({ length: 8000 }, (_, i) => component(`bulk-${i}`, { hostname: padding })),
  );
  const indexBefore = store.stateIndex();
  const componentsBefore = store.listComponents().length;

  let copying = false;
  let writesDuringCopy = 0;
  let finished = false;
  const writer = (async () => {
    for (let i = 0; !finished; i++) {
      store.upsertComponents([component(`during-${i}`)]); // one component and one index step per write
      if (copying) writesDuringCopy++;
      await nextTurn();
    }
  })();
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const meta = await writeSnapshot(store, sink, {
    versionInfo: VERSION_INFO,
    tmpDir: tempDir(t),
    gzipLevel: 1,
    onProgress: (p) => {
      if (p.phase === "copy") copying = p.done < p.total;
    },
  }).finally(() => {
    finished = true;
  });
  await writer;

  t.true(writesDuringCopy > 0, "the writer ran while the copy was being made");
  t.true(meta.index > indexBefore);
  t.true(meta.index <= store.stateIndex());

  const dir = tempDir(t);
  const verified = await verifySnapshot(Readable.from([Buffer.concat(chunks)]), { dir });
  const rows = rowsOf(verified.dbPath);
  t.is(rows.components.length - componentsBefore, meta.index - indexBefore, "rows and index agree");
  t.is(meta.tables.components, rows.components.length);
});

test("writeSnapshotFile never overwrites without force and leaves no temp file", async (t) => {
  const store = storeWithRows(t);
  const dir = tempDir(t);
  const tmpDir = tempDir(t);
  const file = join(dir, "backup.snap");
  writeFileSync(file, "precious");
  const err = await t.throwsAsync(writeSnapshotFile(store, file, { versionInfo: VERSION_INFO, tmpDir }), {
    instanceOf: AppError,
  });
  t.is(err?.code, "ALREADY_EXISTS");
  t.is(readFileSync(file, "utf8"), "precious");

  const meta = await writeSnapshotFile(store, file, { versionInfo: VERSION_INFO, tmpDir, force: true });
  const verified = await verifySnapshot(createReadStream(file), { dir: tmpDir });
  t.is(verified.meta.id, meta.id);
  t.deepEqual(readdirSync(dir), ["backup.snap"]);
  t.deepEqual(readdirSync(tmpDir), [verified.dbPath.slice(tmpDir.length + 1)]);
});

test("the database copy is removed when the output fails", async (t) => {
  const store = storeWithRows(t);
  const tmpDir = tempDir(t);
  const broken = new Writable({
    write(_chunk, _enc, cb) {
      cb(new Error("disk full"));
    },
  });
  await t.throwsAsync(writeSnapshot(store, broken, { versionInfo: VERSION_INFO, tmpDir }), {
    message: "disk full",
  });
  t.deepEqual(readdirSync(tmpDir), []);
});

test("member sizes of 8 GiB and more are written in GNU base-256 and read back", (t) => {
  const size = 20 * 1024 ** 3 + 7;
  const header = encodeHeader({ name: "data.db", size, mode: 0o600, mtime: new Date(0) });
  t.is(header[124], 0x80);
  t.like(decodeHeader(header), { name: "data.db", type: "0", size });
  t.is(
    decodeHeader(encodeHeader({ name: "meta.json", size: 406, mode: 0o600, mtime: new Date(0) })).size,
    406,
  );
});
