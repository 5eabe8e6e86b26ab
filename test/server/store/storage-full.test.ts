/**
 * A full disk, simulated where no small file system can be mounted: SQLite's max_page_count caps
 * the database as a full disk would, and fails a write with SQLITE_FULL. (test/faults/disk-full.test.ts
 * fills a real tmpfs under a real server.)
 */
import { join } from "node:path";
import test from "ava";
import type Database from "better-sqlite3";
import { AppError } from "../../../src/protocol/errors.js";
import { SqliteStore } from "../../../src/server/store/sqlite-store.js";
import { tempDir } from "../../helpers/temp.js";

test("a write the disk has no room for is STORAGE_FULL, changes nothing, and writes work again once there is room", (t) => {
  const store = SqliteStore.open(join(tempDir(t), "data.db"));
  t.teardown(() => store.close());
  // The store's own connection (private: only this test reaches in).
  const db = (store as unknown as { db: Database.Database }).db;
  store.setConfig("", [{ name: "BEFORE", value: "kept" }], []);
  const index = store.stateIndex();
  const pages = db.pragma("page_count", { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);

  const big = "x".repeat(64 * 1024);
  const err = t.throws(() => store.setConfig("", [{ name: "BIG", value: big }], []));
  t.true(err instanceof AppError, String(err));
  t.is((err as AppError).code, "STORAGE_FULL");
  t.is((err as AppError).grpcStatus, "RESOURCE_EXHAUSTED");
  t.notRegex(err!.message, /SQLITE/);
  t.is(store.stateIndex(), index, "the state index did not move");
  t.deepEqual(
    store.listConfig("").map((c) => c.name),
    ["BEFORE"],
    "reads go on, and the refused write left nothing",
  );

  db.pragma(`max_page_count = ${2 ** 30}`);
  store.setConfig("", [{ name: "BIG", value: big }], []);
  t.is(store.stateIndex(), index + 1);
  t.deepEqual(
    store
      .listConfig("")
      .map((c) => c.name)
      .sort(),
    ["BEFORE", "BIG"],
  );
  t.is(db.pragma("integrity_check", { simple: true }), "ok");
});
