import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { ClientIdentity, ClientKind } from "../../src/protocol/headers.js";
import { InventoryRecorder } from "../../src/server/inventory-recorder.js";
import { createLogger } from "../../src/server/logger.js";
import { inventoryToProto } from "../../src/server/services/waypoint-service.js";
import { SqliteStore } from "../../src/server/store/sqlite-store.js";
import type { Store } from "../../src/server/store/store.js";
import { LogSink } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const T0 = Date.parse("2026-06-01T12:00:00.000Z");
const HOUR = 3_600_000;

function who(id: string, opts: { kind?: ClientKind; version?: string } = {}): ClientIdentity {
  return {
    version: opts.version ?? "0.1.0",
    kind: opts.kind ?? "cli",
    id,
    api: { min: 1, current: 1 },
    entrypoint: { min: 1, current: 1 },
    emulated: false,
  };
}

interface Setup {
  readonly store: SqliteStore;
  readonly recorder: InventoryRecorder;
  readonly logs: LogSink;
  readonly dbPath: string;
  /** Moves the recorder's clock. */
  advance(ms: number): void;
  now(): number;
}

/**
 * A recorder over a real SqliteStore in a temp dir, with a fake clock
 * starting at T0. `store` lets a test put a wrapper between the two.
 */
function setup(
  t: ExecutionContext,
  opts: { activeWindowMs?: number; flushMs?: number; store?: (real: SqliteStore) => Store } = {},
): Setup {
  const dbPath = join(tempDir(t), "data.db");
  const store = SqliteStore.open(dbPath);
  t.teardown(() => store.close());
  let now = T0;
  const logs = new LogSink();
  const recorder = new InventoryRecorder(opts.store ? opts.store(store) : store, {
    server: BUILD_VERSION_INFO,
    activeWindowMs: opts.activeWindowMs ?? 168 * HOUR,
    flushMs: opts.flushMs ?? 60_000,
    logger: createLogger("trace", logs),
    now: () => now,
  });
  return {
    store,
    recorder,
    logs,
    dbPath,
    advance: (ms) => {
      now += ms;
    },
    now: () => now,
  };
}

const iso = (ms: number) => new Date(ms).toISOString();
const GET_INVENTORY = loadWaypointProto().grpc.waypoint.v1.Waypoint.service.GetInventory;

test("a thousand calls from one component cost at most a couple of store writes", async (t) => {
  const { store, recorder, advance } = setup(t);
  const busy = who("busy-cli");

  // The flush timer ticking between every call (the worst case for coalescing).
  const before = store.stateIndex();
  for (let i = 0; i < 1000; i++) {
    advance(1);
    recorder.seen(busy);
    recorder.flush();
  }
  const writes = store.stateIndex() - before;
  t.true(writes >= 1 && writes <= 2, `${writes} store writes for 1000 calls within one second`);
  t.like(
    store.listComponents().find((c) => c.id === "busy-cli"),
    { kind: "client", via: "cli", version: "0.1.0" },
  );

  // Calls arriving between two ticks: one write however many there were.
  advance(5000);
  const middle = store.stateIndex();
  for (let i = 0; i < 1000; i++) {
    advance(1);
    recorder.seen(busy);
  }
  recorder.flush();
  t.is(store.stateIndex() - middle, 1);
  t.is(store.listComponents().find((c) => c.id === "busy-cli")?.lastSeen, iso(T0 + 1000 + 5000 + 1000));
});

test("an unchanged component is rewritten once the coalescing second has passed, refreshing lastSeen", async (t) => {
  const { store, recorder, advance } = setup(t);
  recorder.seen(who("steady"));
  recorder.flush();
  const after = store.stateIndex();

  advance(500);
  recorder.seen(who("steady"));
  recorder.flush();
  t.is(store.stateIndex(), after, "within the second: nothing to write");

  advance(1000);
  recorder.seen(who("steady"));
  recorder.flush();
  t.is(store.stateIndex(), after + 1);
  const row = store.listComponents().find((c) => c.id === "steady");
  t.is(row?.lastSeen, iso(T0 + 1500));
  t.is(row?.firstSeen, iso(T0));
});

test("a changed version or entrypoint fact is written at the next flush, even within the coalescing second", async (t) => {
  const { store, recorder, advance } = setup(t);
  recorder.seen(who("upgraded", { version: "0.1.0" }));
  recorder.flush();
  const after = store.stateIndex();

  advance(10);
  recorder.seen(who("upgraded", { version: "0.2.0" }));
  recorder.flush();
  t.is(store.stateIndex(), after + 1);
  t.like(
    store.listComponents().find((c) => c.id === "upgraded"),
    {
      version: "0.2.0",
      firstSeen: iso(T0),
      lastSeen: iso(T0 + 10),
    },
  );

  const ep = who("ep-1", { kind: "entrypoint" });
  recorder.seen(ep, { app: "web", deployment: "web-v1", instance: "i-1" });
  recorder.flush();
  advance(10);
  recorder.seen(ep, { app: "web", deployment: "web-v2", instance: "i-1" });
  recorder.flush();
  t.like(
    store.listComponents().find((c) => c.id === "ep-1"),
    { kind: "entrypoint", deployment: "web-v2" },
  );
});

test("connected() counts streams: a component shows disconnected only when its last stream closed", async (t) => {
  const { store, recorder, advance } = setup(t);
  const runner = who("runner-1", { kind: "runner" });
  const connected = () => recorder.inventory().components.find((c) => c.id === "runner-1")?.connected;

  const first = recorder.connected(runner);
  const second = recorder.connected(runner);
  t.true(connected());
  first();
  t.true(connected(), "one stream is still open");
  first();
  t.true(connected(), "closing the same stream twice counts once");
  advance(100);
  const before = store.stateIndex();
  second();
  t.false(connected());
  // The disconnect itself is recorded as the last time the runner was seen.
  t.is(store.stateIndex(), before + 1);
  t.is(store.listComponents().find((c) => c.id === "runner-1")?.lastSeen, iso(T0 + 100));

  const third = recorder.connected(runner);
  t.true(connected(), "a new stream connects it again");
  third();
  t.false(connected());
});

test("the active window hides stale components and rejections unless includeInactive", async (t) => {
  const { recorder, advance } = setup(t, { activeWindowMs: HOUR });
  recorder.seen(who("stale"));
  recorder.rejected(who("stale-rejected"), "too old");
  const held = recorder.connected(who("held-open", { kind: "runner" }));
  t.teardown(held);
  advance(2 * HOUR);
  recorder.seen(who("fresh"));
  recorder.rejected(who("fresh-rejected"), "too old");

  const active = recorder.inventory();
  t.is(active.activeWindow, "1h");
  t.deepEqual(
    active.components.map((c) => c.id).sort(),
    ["fresh", "held-open"],
    "connected counts as active",
  );
  t.deepEqual(
    active.rejected.map((r) => r.id),
    ["fresh-rejected"],
  );

  const all = recorder.inventory(true);
  t.deepEqual(all.components.map((c) => c.id).sort(), ["fresh", "held-open", "stale"]);
  t.deepEqual(all.rejected.map((r) => r.id).sort(), ["fresh-rejected", "stale-rejected"]);
  t.like(
    all.components.find((c) => c.id === "stale"),
    { connected: false, lastSeen: iso(T0) },
  );
});

test("rejected() accumulates counts across calls and flushes, keeping firstSeen and the latest reason", async (t) => {
  const { store, recorder, advance } = setup(t);
  const old = who("old-runner", { kind: "runner" });
  for (let i = 0; i < 3; i++) {
    recorder.rejected(old, "reason one");
    advance(10);
  }
  recorder.flush();
  t.like(
    store.listRejected().find((r) => r.id === "old-runner"),
    { count: 3, firstSeen: iso(T0), lastSeen: iso(T0 + 20) },
  );

  advance(60_000 - 30);
  recorder.rejected(old, "reason two");
  recorder.rejected(old, "reason two");
  recorder.rejected(who("old-runner", { kind: "entrypoint" }), "another kind, another row");
  const rows = recorder.inventory().rejected.filter((r) => r.id === "old-runner");
  t.is(rows.length, 2);
  t.like(
    rows.find((r) => r.kind === "runner"),
    { count: 5, reason: "reason two", firstSeen: iso(T0), lastSeen: iso(T0 + 60_000) },
  );
  t.like(
    rows.find((r) => r.kind === "entrypoint"),
    { count: 1 },
  );
});

test("a failed flush keeps every pending entry, and the next flush writes them", async (t) => {
  // The recorder talks to whichever store is current: first one that gets closed, then a reopened one.
  let current: Store | undefined;
  const { store, recorder, logs, dbPath, advance } = setup(t, {
    flushMs: 10,
    store: (real) => {
      current = real;
      return new Proxy({} as Store, {
        get: (_target, key) => {
          const value = Reflect.get(current!, key);
          return typeof value === "function" ? value.bind(current) : value;
        },
      });
    },
  });
  recorder.seen(who("kept-cli"));
  recorder.rejected(who("kept-rejected", { kind: "runner" }), "outdated");
  recorder.rejected(who("kept-rejected", { kind: "runner" }), "outdated");

  store.close();
  t.throws(() => recorder.flush(), undefined, "flushing into a closed store fails");
  // The timer keeps trying and says so; it never throws out of the interval.
  recorder.start();
  t.teardown(() => {
    try {
      recorder.stop();
    } catch {
      // The store may be closed already at teardown.
    }
  });
  await waitFor(
    () => logs.lines.some((l) => l.msg === "inventory flush failed; will retry"),
    "the failed timer flush to be logged",
  );
  // Calls recorded while the store is down are kept as well.
  advance(10);
  recorder.rejected(who("kept-rejected", { kind: "runner" }), "outdated");
  recorder.seen(who("late-cli"));

  const reopened = SqliteStore.open(dbPath);
  t.teardown(() => reopened.close());
  current = reopened;
  await waitFor(() => reopened.listComponents().length === 2, "the timer to flush into the reopened store");
  recorder.flush();
  t.deepEqual(
    reopened
      .listComponents()
      .map((c) => c.id)
      .sort(),
    ["kept-cli", "late-cli"],
  );
  const rejected = reopened.listRejected();
  t.is(rejected.length, 1);
  t.like(rejected[0], { id: "kept-rejected", count: 3 });
});

test("a flush that fails on the rejections keeps them without writing the components twice", async (t) => {
  let failRejections = true;
  const { store, recorder } = setup(t, {
    store: (real) =>
      new Proxy(real, {
        get: (target, key) => {
          if (key === "recordRejections" && failRejections) {
            return () => {
              throw new Error("disk full");
            };
          }
          const value = Reflect.get(target, key);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
  });
  recorder.seen(who("cli-a"));
  recorder.rejected(who("runner-b", { kind: "runner" }), "outdated");
  const before = store.stateIndex();
  t.throws(() => recorder.flush(), { message: "disk full" });
  t.is(store.stateIndex(), before + 1, "the components were written");
  t.deepEqual(store.listRejected(), []);

  failRejections = false;
  recorder.flush();
  t.is(store.stateIndex(), before + 2, "only the rejections are written now");
  t.like(store.listRejected()[0], { id: "runner-b", count: 1 });
});

test("the timer flushes recorded calls without a read, and stop() flushes what is left", async (t) => {
  const { store, recorder } = setup(t, { flushMs: 10 });
  recorder.start();
  t.teardown(() => recorder.stop());
  recorder.seen(who("timer-cli"));
  await waitFor(() => store.listComponents().some((c) => c.id === "timer-cli"), "the timer to flush");

  recorder.seen(who("last-cli"));
  recorder.stop();
  t.true(store.listComponents().some((c) => c.id === "last-cli"));
});

test("components not heard from for a minute are no longer tracked in memory", (t) => {
  const { recorder, advance, store } = setup(t);
  for (let i = 0; i < 50; i++) recorder.seen(who(`short-lived-${i}`));
  recorder.flush();
  t.is(recorder.trackedCount, 50);
  advance(61_000);
  recorder.seen(who("still-here"));
  recorder.flush();
  t.is(recorder.trackedCount, 1, "only the component heard from recently is tracked");
  t.is(store.listComponents().length, 51, "forgetting the coalescing entry forgets nothing stored");
});

test("the inventory read from memory matches one read from the store after merges, reorders and a resync", async (t) => {
  const { store, recorder, advance, now } = setup(t);
  const fresh = () =>
    new InventoryRecorder(store, {
      server: BUILD_VERSION_INFO,
      activeWindowMs: 168 * HOUR,
      flushMs: 60_000,
      logger: createLogger("error", new LogSink()),
      now,
    });
  recorder.seen(who("b", { version: "0.2.0" }));
  recorder.seen(who("a", { kind: "runner" }));
  const ep = who("ep-1", { kind: "entrypoint" });
  recorder.connected(ep, { app: "web", deployment: "web-v1", instance: "i-1", hostname: "h1" });
  t.is(recorder.inventory().components.length, 3); // loaded into memory here

  advance(5000);
  recorder.seen(who("b", { version: "0.0.9" })); // a new version moves it in the store's order
  recorder.seen(who("c", { kind: "ui" }));
  recorder.seen(ep, { app: "web", deployment: "web-v2", instance: "i-1" }); // hostname gone, deployment changed
  const mine = recorder.inventory(true);
  // A fresh recorder knows no open streams: compare all but `connected`.
  const rows = (inv: ReturnType<InventoryRecorder["inventory"]>) =>
    inv.components.map(({ connected: _, ...c }) => c);
  t.deepEqual(rows(mine), rows(fresh().inventory(true)));
  t.deepEqual(
    mine.components.map((c) => c.id),
    ["b", "c", "ep-1", "a"],
  );
  t.like(mine.components[0], {
    version: "0.0.9",
    firstSeen: iso(T0),
    lastSeen: iso(T0 + 5000),
    connected: false,
  });
  t.like(mine.components[2], { deployment: "web-v2", connected: true });
  t.false("hostname" in mine.components[2]!);

  // Another database (a live restore): the next read comes from the store again.
  store.upsertComponents([
    {
      kind: "client",
      via: "cli",
      id: "restored",
      version: "0.1.0",
      api: { min: 1, current: 1 },
      entrypoint: { min: 1, current: 1 },
      emulated: false,
      firstSeen: iso(T0),
      lastSeen: iso(now()),
    },
  ]);
  t.false(recorder.inventory(true).components.some((c) => c.id === "restored"));
  recorder.resync();
  t.true(recorder.inventory(true).components.some((c) => c.id === "restored"));
});

test("the encoded inventory follows every change the inventory shows: connection, version and facts", (t) => {
  const { recorder, advance } = setup(t);
  const decode = () =>
    recorder.encodedInventory(true).components.map((b) => GET_INVENTORY.responseDeserialize(b).components[0]);
  const asRead = () =>
    GET_INVENTORY.responseDeserialize(
      GET_INVENTORY.responseSerialize(inventoryToProto(recorder.inventory(true))),
    ).components;
  const ep = who("ep-1", { kind: "entrypoint" });
  const done = recorder.connected(ep, { app: "web", deployment: "web-v1", instance: "i-1" });
  recorder.seen(who("cli-1"));
  t.deepEqual(decode(), asRead());
  t.true(decode().find((c) => c?.id === "ep-1")?.connected);
  done();
  advance(2000);
  t.false(decode().find((c) => c?.id === "ep-1")?.connected);
  recorder.seen(who("cli-1", { version: "0.2.0" }));
  recorder.seen(ep, { app: "web", deployment: "web-v2", instance: "i-1" });
  t.like(
    decode().find((c) => c?.id === "cli-1"),
    { version: "0.2.0" },
  );
  t.like(
    decode().find((c) => c?.id === "ep-1"),
    { deployment: "web-v2" },
  );
  t.deepEqual(decode(), asRead());
});
