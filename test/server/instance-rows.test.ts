import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { AppError } from "../../src/protocol/errors.js";
import { createLogger } from "../../src/server/logger.js";
import { InstanceRows } from "../../src/server/runtime/instance-rows.js";
import { SqliteStore } from "../../src/server/store/sqlite-store.js";
import type { InstanceRecord, InstanceWrite, Store } from "../../src/server/store/store.js";
import { LogSink } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const storageFull = () => new AppError("STORAGE_FULL", "the server's disk is full: the change was not made");

/** `real` with its writeInstances replaced by `write` (a full disk, a bad write). */
function writingWith(real: Store, write: (ops: readonly InstanceWrite[]) => void): Store {
  return new Proxy(real, {
    get: (target, key) => {
      if (key === "writeInstances") return write;
      const v = Reflect.get(target, key);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

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
  const { store, rows, logs, deployment } = setup(t, (real) =>
    writingWith(real, (ops) => {
      if (failing) throw storageFull();
      real.writeInstances(ops);
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

test("a write that fails for another reason than a full disk is dropped alone; the others are written", async (t) => {
  const { store, rows, logs, deployment } = setup(t, (real) =>
    writingWith(real, (ops) => {
      if (ops.some((w) => w.op === "upsert" && w.instance.id === "bad")) throw new Error("constraint");
      real.writeInstances(ops);
    }),
  );
  rows.upsert(instance("a", deployment));
  rows.upsert(instance("bad", deployment));
  rows.upsert(instance("c", deployment));
  t.deepEqual(
    rows
      .list()
      .map((i) => i.id)
      .sort(),
    ["a", "c"],
  );
  t.is(rows.get("bad"), undefined, "not kept queued");
  t.true(
    logs.lines.some(
      (l) => l.msg === "could not record an instance's registration; dropped" && l.instance === "bad",
    ),
  );
  t.is(store.listInstances().length, 2);
});

test("close writes what is queued and takes no more; what it could not write is reported, not retried", async (t) => {
  const { store, rows, logs, deployment } = setup(t);
  rows.upsert(instance("kept", deployment));
  rows.close();
  t.is(store.listInstances().length, 1);
  rows.touch("kept", "2026-12-01T13:00:00.000Z");
  rows.upsert(instance("late", deployment));
  await sleep(80);
  t.is(store.listInstances().length, 1, "nothing is taken after close");

  const second = new InstanceRows(
    writingWith(store, () => {
      throw storageFull();
    }),
    createLogger("info", logs),
    { delayMs: 10, retryMs: 10 },
  );
  second.upsert(instance("lost", deployment));
  second.close();
  t.true(
    logs.lines.some(
      (l) =>
        l.msg?.toString().startsWith("instances' registrations not recorded at shutdown") && l.lost === 1,
    ),
  );
  const attempts = logs.lines.length;
  await sleep(60);
  t.is(logs.lines.length, attempts, "no retry after close");
});
