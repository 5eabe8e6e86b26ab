import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import Database from "better-sqlite3";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../../../src/server/store/migrations.js";
import { openDatabase } from "../../../src/server/store/open.js";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";

const codeOf = (err: unknown) => (err as { code?: string }).code;

test("creates the database file mode 0600 in a data dir created 0700", (t) => {
  const dir = join(tempDir(t), "nested", "data");
  const store = SqliteStore.open(join(dir, "data.db"));
  t.teardown(() => store.close());
  t.is(statSync(join(dir, "data.db")).mode & 0o777, 0o600);
  t.is(statSync(dir).mode & 0o777, 0o700);
  t.is(store.schemaVersion, LATEST_SCHEMA_VERSION);
});

test("migrates a version 1 database forward, keeping its rows and a backup beside it", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "data.db");
  // Build the database exactly as a version-1 server left it.
  const { db: raw, schemaVersion } = openDatabase(path, { migrations: MIGRATIONS.slice(0, 1) });
  t.is(schemaVersion, 1);
  raw
    .prepare(
      `INSERT INTO tokens (id, kind, hash, bootstrap, created_at) VALUES ('t1', 'management', 'h1', 1, '2026-11-22T10:00:00.000Z')`,
    )
    .run();
  raw
    .prepare(
      `INSERT INTO components (kind, id, via, version, api_min, api_current, entrypoint_min, entrypoint_current, first_seen, last_seen)
       VALUES ('client', 'c1', 'cli', '0.1.0', 1, 1, 1, 1, '2026-11-22T10:00:00.000Z', '2026-11-22T10:00:00.000Z')`,
    )
    .run();
  raw.close();

  const migrations: unknown[] = [];
  const store = SqliteStore.open(path, { onMigrate: (m) => migrations.push(m) });
  t.teardown(() => store.close());
  t.is(store.schemaVersion, LATEST_SCHEMA_VERSION);
  t.like(store.listComponents()[0], { id: "c1", emulated: false });
  t.true(store.isBootstrapped());
  t.is(migrations.length, 1);
  const { backup } = migrations[0] as { from: number; to: number; backup: string };
  t.like(migrations[0], { from: 1, to: LATEST_SCHEMA_VERSION });
  t.true(existsSync(backup));
  t.is(statSync(backup).mode & 0o777, 0o600);
  const copy = new Database(backup, { readonly: true });
  t.is(copy.pragma("user_version", { simple: true }), 1);
  t.is((copy.prepare("SELECT count(*) AS n FROM tokens").get() as { n: number }).n, 1);
  copy.close();
});

test("migrates a version 3 database's apps forward: no operations, entrypoint on, deployments kept", (t) => {
  const path = join(tempDir(t), "data.db");
  const { db: raw, schemaVersion } = openDatabase(path, { migrations: MIGRATIONS.slice(0, 3) });
  t.is(schemaVersion, 3);
  raw.prepare("INSERT INTO apps (name, created_at) VALUES ('web', '2026-11-22T10:00:00.000Z')").run();
  raw
    .prepare(
      "INSERT INTO deployments (id, app, sequence, created_at) VALUES ('web-v1', 'web', 1, '2026-11-22T10:00:00.000Z')",
    )
    .run();
  raw.close();
  const store = SqliteStore.open(path);
  t.teardown(() => store.close());
  t.deepEqual(store.getApp("web"), {
    name: "web",
    createdAt: "2026-11-22T10:00:00.000Z",
    deployments: 1,
    operations: {},
    entrypointDisabled: false,
    urlDisabled: false,
  });
  t.deepEqual(store.updateApp("web", { operations: { deploy: "./deploy.sh" } }).operations, {
    deploy: "./deploy.sh",
  });
});

test("migrates a version 5 database's apps forward with the URL on, keeping operations and jobs", (t) => {
  const path = join(tempDir(t), "data.db");
  const { db: raw, schemaVersion } = openDatabase(path, { migrations: MIGRATIONS.slice(0, 5) });
  t.is(schemaVersion, 5);
  raw
    .prepare(
      `INSERT INTO apps (name, created_at, build, entrypoint_disabled)
       VALUES ('web', '2026-11-22T10:00:00.000Z', 'make', 1), ('api', '2026-11-22T10:00:00.000Z', NULL, 0)`,
    )
    .run();
  raw
    .prepare(
      `INSERT INTO jobs (id, app, operation, command, state, queued_at)
       VALUES ('job-1', 'web', 'build', 'make', 'queued', '2026-11-22T10:00:00.000Z')`,
    )
    .run();
  raw.close();
  const migrated: unknown[] = [];
  const store = SqliteStore.open(path, { onMigrate: (m) => migrated.push(m) });
  t.teardown(() => store.close());
  t.like(migrated[0], { from: 5, to: LATEST_SCHEMA_VERSION });
  t.deepEqual(
    store.listApps().map((a) => [a.name, a.operations, a.entrypointDisabled, a.urlDisabled]),
    [
      ["api", {}, false, false],
      ["web", { build: "make" }, true, false],
    ],
  );
  t.like(store.getJob("job-1"), { app: "web", state: "queued" });
  t.true(store.updateApp("api", { urlDisabled: true }).urlDisabled);
});

test("refuses a database from a newer schema and leaves it byte-identical", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "data.db");
  SqliteStore.open(path).close();
  const raw = new Database(path);
  raw.pragma("journal_mode = DELETE");
  raw.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
  raw.close();
  const before = readFileSync(path);
  const filesBefore = readdirSync(dir).sort();
  const err = t.throws(() => SqliteStore.open(path));
  t.is(codeOf(err), "DB_NEWER_SCHEMA");
  t.regex(err!.message, new RegExp(`schema version ${LATEST_SCHEMA_VERSION + 1}`));
  t.deepEqual(readFileSync(path), before);
  t.deepEqual(readdirSync(dir).sort(), filesBefore);
});

test("refuses a second open of the same database while the first holds it", (t) => {
  const path = join(tempDir(t), "data.db");
  const first = SqliteStore.open(path);
  t.teardown(() => first.close());
  const err = t.throws(() => SqliteStore.open(path));
  t.is(codeOf(err), "DB_LOCKED");
  first.insertToken({
    id: "still-works",
    kind: "readonly",
    hash: "h",
    createdAt: "2026-11-22T10:00:00.000Z",
  });
  t.is(first.listTokens().length, 1);
});

test("refuses a file that is not a SQLite database without changing it", (t) => {
  const path = join(tempDir(t), "data.db");
  writeFileSync(path, "this is not a database, it is a note\n".repeat(200));
  const before = readFileSync(path);
  const err = t.throws(() => SqliteStore.open(path));
  t.is(codeOf(err), "DB_INVALID");
  t.deepEqual(readFileSync(path), before);
});

test("refuses another application's SQLite database", (t) => {
  const path = join(tempDir(t), "data.db");
  const raw = new Database(path);
  raw.exec("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');");
  raw.close();
  const err = t.throws(() => SqliteStore.open(path));
  t.is(codeOf(err), "DB_INVALID");
});

test("reports an unwritable data dir", (t) => {
  if (process.getuid?.() === 0) {
    // root ignores directory permissions; use a path under a regular file instead.
    const file = join(tempDir(t), "a-file");
    writeFileSync(file, "");
    const err = t.throws(() => SqliteStore.open(join(file, "data.db")));
    t.is(codeOf(err), "DATA_DIR_UNWRITABLE");
    return;
  }
  const dir = tempDir(t);
  chmodSync(dir, 0o500);
  t.teardown(() => chmodSync(dir, 0o700));
  const err = t.throws(() => SqliteStore.open(join(dir, "data.db")));
  t.is(codeOf(err), "DATA_DIR_UNWRITABLE");
});

test("after close the database file alone holds every write", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "data.db");
  const store = SqliteStore.open(path);
  store.bootstrapToken({ id: "t1", kind: "management", hash: "h1", createdAt: "2026-11-22T10:00:00.000Z" });
  store.close();
  t.false(existsSync(`${path}-wal`) && statSync(`${path}-wal`).size > 0);
  const copyDir = tempDir(t);
  writeFileSync(join(copyDir, "data.db"), readFileSync(path));
  const copy = SqliteStore.open(join(copyDir, "data.db"));
  t.teardown(() => copy.close());
  t.true(copy.isBootstrapped());
});

test("refuses a -db path that is a directory, as a startup failure", (t) => {
  const dir = tempDir(t);
  const err = t.throws(() => SqliteStore.open(dir));
  t.is(codeOf(err), "DB_INVALID");
  t.regex(err!.message, /not a regular file/);
});
