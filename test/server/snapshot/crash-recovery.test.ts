/**
 * The pieces of crash recovery, one by one (test/e2e/snapshot-crash.test.ts kills real servers):
 * the start-up cleanup of what interrupted snapshot work leaves, the boot-time swap that never
 * separates a database from its WAL, and the gradual removal of large temp files.
 */
import {
  copyFileSync,
  existsSync,
  linkSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import test from "ava";
import Database from "better-sqlite3";
import { AppError } from "../../../src/protocol/errors.js";
import { createLogger } from "../../../src/server/logger.js";
import { removeGradually } from "../../../src/server/snapshot/remove.js";
import { removeLeftovers } from "../../../src/server/snapshot/restore.js";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { swapInDatabase } from "../../../src/server/store/swap.js";
import { LogSink } from "../../helpers/server.js";
import { tempDir } from "../../helpers/temp.js";
import { rowsOf, token } from "./helpers.js";

test("the start-up cleanup removes temp files of interrupted snapshot work and nothing else", (t) => {
  const dir = tempDir(t);
  const db = join(dir, "data.db");
  SqliteStore.open(db).close();
  const leftovers = [
    ".snapshot-0123456789abcdef.db",
    ".snapshot-0123456789abcdef.db-journal",
    ".verify-fedcba9876543210.db",
    ".waypoint-restore-0123456789ab.tmp",
  ];
  const keep = [
    "waypoint-restore.db",
    "data.db.pre-restore-2026-11-22T10-00-00-000Z",
    "data.db.pre-migrate-v1-2026-11-22T10-00-00-000Z.snap",
    ".snapshot-notours.db",
    "notes.txt",
  ];
  for (const name of [...leftovers, ...keep]) writeFileSync(join(dir, name), "x");
  // A restore that died between its link and its rename: a second name of the live file.
  linkSync(db, join(dir, "data.db.pre-restore-2026-11-22T11-00-00-000Z"));

  const logs = new LogSink();
  const removed = removeLeftovers(db, createLogger("info", logs));

  t.deepEqual(removed.sort(), [...leftovers, "data.db.pre-restore-2026-11-22T11-00-00-000Z"].sort());
  t.deepEqual(readdirSync(dir).sort(), ["data.db", ...keep].sort());
  t.true(
    logs.lines.some((l) => /left over/.test(String(l.msg))),
    "the removal is logged",
  );
});

/** A database whose last commit (token B) is only in its WAL, as a killed server leaves it. */
function crashedDatabase(dir: string): string {
  const live = join(dir, "live.db");
  const store = SqliteStore.open(live);
  store.bootstrapToken(token("tok_A"));
  store.checkpoint();
  store.insertToken(token("tok_B", "readonly"));
  const db = join(dir, "data.db");
  copyFileSync(live, db);
  copyFileSync(`${live}-wal`, `${db}-wal`);
  store.close();
  return db;
}

function freshDatabase(path: string): void {
  const store = SqliteStore.open(path);
  store.bootstrapToken(token("tok_C"));
  store.close();
  const db = new Database(path);
  db.pragma("journal_mode = DELETE");
  db.close();
}

const tokenIds = (path: string) => (rowsOf(path).tokens as { id: string }[]).map((r) => r.id);

test("a boot-time swap folds the old WAL into the kept copy first, so neither is ever without it", (t) => {
  const dir = tempDir(t);
  const db = crashedDatabase(dir);
  t.true(statSync(`${db}-wal`).size > 0);
  const verified = join(dir, ".verify-0000000000000000.db");
  freshDatabase(verified);

  const { keptAs } = swapInDatabase(db, verified, "stamp");

  t.is(keptAs, `${db}.pre-restore-stamp`);
  t.false(existsSync(`${keptAs}-wal`), "the kept copy stands alone");
  t.false(existsSync(`${db}-wal`));
  t.deepEqual(
    tokenIds(keptAs!),
    ["tok_A", "tok_B"],
    "the kept copy holds the commit that was only in the WAL",
  );
  t.deepEqual(tokenIds(db), ["tok_C"]);
});

test("a boot-time swap refuses a database another process holds, and changes nothing", (t) => {
  const dir = tempDir(t);
  const db = join(dir, "data.db");
  const running = SqliteStore.open(db);
  t.teardown(() => running.close());
  running.bootstrapToken(token("tok_A"));
  const verified = join(dir, "new.db");
  freshDatabase(verified);
  const before = readdirSync(dir).sort();

  const err = t.throws(() => swapInDatabase(db, verified, "stamp"), { instanceOf: AppError });
  t.is((err as AppError).code, "DB_LOCKED");
  t.deepEqual(readdirSync(dir).sort(), before);
  t.is(running.listTokens().length, 1, "the running store still works");
});

test("removeGradually removes a large file, but never cuts down one with another name", async (t) => {
  const dir = tempDir(t);
  const big = join(dir, "big.db");
  writeFileSync(big, Buffer.alloc(40 * 1024 * 1024, 7));
  await removeGradually(big);
  t.false(existsSync(big));

  const linked = join(dir, "linked.db");
  const other = join(dir, "other-name.db");
  writeFileSync(linked, Buffer.alloc(20 * 1024 * 1024, 9));
  linkSync(linked, other);
  await removeGradually(linked);
  t.false(existsSync(linked));
  t.is(statSync(other).size, 20 * 1024 * 1024);
  t.is(readFileSync(other).at(-1), 9);

  await t.notThrowsAsync(removeGradually(join(dir, "missing.db")));
});
