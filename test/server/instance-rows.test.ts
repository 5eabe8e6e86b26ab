import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { createLogger } from "../../src/server/logger.js";
import { InstanceRows } from "../../src/server/runtime/instance-rows.js";
import { SqliteStore } from "../../src/server/store/sqlite-store.js";
import type { InstanceRecord, Store } from "../../src/server/store/store.js";
import { LogSink } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(t: ExecutionContext, wrap?: (real: SqliteStore) => Store) {
  const store = SqliteStore.open(join(tempDir(t), "data.db"));
  t.teardown(() => store.close());
  const at = "2026-12-01T00:00:00.000Z";
  store.createApp("web", at);
  const dep = store.createDeployment("web", at, (d) => ({
    id: `tok-${d.id}`,
    kind: "entrypoint",
    hash: `hash-${d.id}`,
    createdAt: at,
    app: d.app,
    deployment: d.id,
  }));
  const logs = new LogSink();
  const rows = new InstanceRows(wrap ? wrap(store) : store, createLogger("info", logs), {
    delayMs: 30,
    retryMs: 50,
  });
  return { store, rows, logs, deployment: dep.id };
}

function instance(id: string, deployment: string, lastSeen = "2026-12-01T10:00:00.000Z"): InstanceRecord {
  return {
    id,
    app: "web",
    deployment,
    version: "0.1.0",
    entrypoint: { min: 1, current: 1 },
    emulated: false,
    hostname: "h",
    pid: 1,
    startedAt: "",
    execDisabled: false,
    firstSeen: lastSeen,
    lastSeen,
  };
}

test("registrations are written together after the delay, in one step of the state index, and seen before they are", async (t) => {
  const { store, rows, deployment } = setup(t);
  const before = store.stateIndex();
  for (let i = 0; i < 500; i++) rows.upsert(instance(`i-${i}`, deployment));
  await sleep(5);
  t.is(store.listInstances().length, 0, "nothing written before the delay");
  t.is(rows.get("i-7")?.deployment, deployment, "a queued registration is seen");
  await waitFor(() => store.listInstances().length === 500, "the group commit");
  t.is(store.stateIndex(), before + 1);
  rows.touch("i-7", "2026-12-01T11:00:00.000Z");
  await waitFor(() => store.getInstance("i-7")?.lastSeen === "2026-12-01T11:00:00.000Z", "the touch");
  t.is(store.getInstance("i-8")?.lastSeen, "2026-12-01T10:00:00.000Z");
});

test("list writes what is queued first, so a reader never sees the delay", (t) => {
  const { store, rows, deployment } = setup(t);
  rows.upsert(instance("now", deployment));
  t.deepEqual(
    rows.list().map((i) => i.id),
    ["now"],
  );
  t.is(store.listInstances().length, 1);
});

test("a failed write keeps every queued write in order, says so once, and writes them once it can", async (t) => {
  let failing = true;
  const { store, rows, logs, deployment } = setup(
    t,
    (real) =>
      new Proxy(real, {
        get: (target, key) => {
          if (key === "writeInstances" && failing)
            return () => {
              throw new Error("disk full");
            };
          const v = Reflect.get(target, key);
          return typeof v === "function" ? v.bind(target) : v;
        },
      }),
  );
  rows.upsert(instance("a", deployment));
  rows.touch("a", "2026-12-01T12:00:00.000Z");
  await sleep(160); // the commit and two retries
  rows.upsert(instance("b", deployment));
  t.is(store.listInstances().length, 0);
  t.is(rows.get("a")?.id, "a", "still seen while it cannot be written");
  t.is(logs.lines.filter((l) => l.msg === "could not record instances' registrations; will retry").length, 1);
  failing = false;
  await waitFor(() => store.listInstances().length === 2, "the queued writes to be written");
  t.is(store.getInstance("a")?.lastSeen, "2026-12-01T12:00:00.000Z", "the touch came after the upsert");
  t.true(logs.lines.some((l) => l.msg === "instances' registrations recorded again"));
});

test("clear drops what is queued (the database was replaced)", async (t) => {
  const { store, rows, deployment } = setup(t);
  rows.upsert(instance("gone", deployment));
  rows.clear();
  t.is(rows.get("gone"), undefined);
  await sleep(60);
  t.is(store.listInstances().length, 0);
});
