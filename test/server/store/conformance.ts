import type { ExecutionContext, TestFn } from "ava";
import type { ComponentRecord, RejectedRecord, Store, TokenRecord } from "../../../src/server/store/store.js";

/**
 * The behaviour every Store implementation must have. `open(path)` opens (or
 * reopens) the store at `path`; `newPath()` names a fresh location.
 */
export interface StoreFactory {
  readonly name: string;
  newPath(t: ExecutionContext): string;
  open(path: string): Store;
}

const token = (id: string, kind: TokenRecord["kind"] = "management"): TokenRecord => ({
  id,
  kind,
  hash: `hash-${id}`,
  createdAt: "2026-11-22T10:00:00.000Z",
});

const component = (id: string, over: Partial<ComponentRecord> = {}): ComponentRecord => ({
  kind: "client",
  via: "cli",
  id,
  version: "0.1.0",
  api: { min: 1, current: 1 },
  entrypoint: { min: 1, current: 1 },
  emulated: false,
  firstSeen: "2026-11-22T10:00:00.000Z",
  lastSeen: "2026-11-22T10:00:00.000Z",
  ...over,
});

const rejection = (id: string, over: Partial<RejectedRecord> = {}): RejectedRecord => ({
  kind: "entrypoint",
  id,
  version: "0.0.1",
  api: { min: 1, current: 1 },
  entrypoint: { min: 1, current: 1 },
  emulated: true,
  reason: "client is outdated",
  count: 1,
  firstSeen: "2026-11-22T10:00:00.000Z",
  lastSeen: "2026-11-22T10:00:00.000Z",
  ...over,
});

export function storeConformance(test: TestFn, f: StoreFactory): void {
  const open = (t: ExecutionContext) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    return { store, path };
  };

  test(`${f.name}: a new store starts at state index 0 and not bootstrapped`, (t) => {
    const { store } = open(t);
    t.is(store.stateIndex(), 0);
    t.false(store.isBootstrapped());
    t.deepEqual(store.listTokens(), []);
    t.deepEqual(store.listComponents(), []);
  });

  test(`${f.name}: every write advances the state index by one and reads do not`, (t) => {
    const { store } = open(t);
    store.insertToken(token("a"));
    t.is(store.stateIndex(), 1);
    store.upsertComponents([component("c1"), component("c2")]);
    t.is(store.stateIndex(), 2);
    store.recordRejections([rejection("r1")]);
    t.is(store.stateIndex(), 3);
    store.listTokens();
    store.listComponents();
    t.is(store.stateIndex(), 3);
  });

  test(`${f.name}: bootstrap works once`, (t) => {
    const { store } = open(t);
    store.bootstrapToken(token("first"));
    t.true(store.isBootstrapped());
    const err = t.throws(() => store.bootstrapToken(token("second")));
    t.is((err as { code?: string }).code, "ALREADY_BOOTSTRAPPED");
    t.deepEqual(
      store.listTokens().map((x) => x.id),
      ["first"],
    );
    t.is(store.stateIndex(), 1, "a refused bootstrap writes nothing");
  });

  test(`${f.name}: tokens keep their scope`, (t) => {
    const { store } = open(t);
    store.insertToken({ ...token("e", "entrypoint"), app: "web", deployment: "d1", description: "for web" });
    t.like(store.listTokens()[0], {
      kind: "entrypoint",
      app: "web",
      deployment: "d1",
      description: "for web",
    });
  });

  test(`${f.name}: upserting a component keeps its first-seen time and never moves last-seen back`, (t) => {
    const { store } = open(t);
    store.upsertComponents([component("c", { lastSeen: "2026-11-22T10:05:00.000Z" })]);
    store.upsertComponents([
      component("c", {
        version: "0.2.0",
        firstSeen: "2026-11-22T11:00:00.000Z",
        lastSeen: "2026-11-22T10:01:00.000Z",
      }),
    ]);
    const [c] = store.listComponents();
    t.like(c, {
      version: "0.2.0",
      firstSeen: "2026-11-22T10:00:00.000Z",
      lastSeen: "2026-11-22T10:05:00.000Z",
    });
  });

  test(`${f.name}: entrypoint components keep app, deployment, instance and host`, (t) => {
    const { store } = open(t);
    store.upsertComponents([
      component("i1", {
        kind: "entrypoint",
        via: undefined,
        app: "web",
        deployment: "d1",
        instance: "i1",
        hostname: "h1",
        emulated: true,
      }),
    ]);
    const [c] = store.listComponents();
    t.like(c, {
      kind: "entrypoint",
      app: "web",
      deployment: "d1",
      instance: "i1",
      hostname: "h1",
      emulated: true,
    });
    t.false("via" in (c as object));
  });

  test(`${f.name}: rejections accumulate their count and keep the latest reason`, (t) => {
    const { store } = open(t);
    store.recordRejections([rejection("r", { count: 2 })]);
    store.recordRejections([
      rejection("r", { count: 3, reason: "newer reason", lastSeen: "2026-11-22T12:00:00.000Z" }),
    ]);
    t.like(store.listRejected()[0], {
      count: 5,
      reason: "newer reason",
      lastSeen: "2026-11-22T12:00:00.000Z",
    });
  });

  test(`${f.name}: everything survives close and reopen`, (t) => {
    const path = f.newPath(t);
    const first = f.open(path);
    first.bootstrapToken(token("boot"));
    first.insertToken({ ...token("ep", "entrypoint"), app: "web", deployment: "d1" });
    first.upsertComponents([component("c1"), component("c2", { kind: "runner", via: undefined })]);
    first.recordRejections([rejection("r1", { count: 4 })]);
    const index = first.stateIndex();
    const tokens = first.listTokens();
    const components = first.listComponents();
    const rejected = first.listRejected();
    first.close();
    first.close();

    const second = f.open(path);
    t.teardown(() => second.close());
    t.is(second.stateIndex(), index);
    t.true(second.isBootstrapped());
    t.deepEqual(second.listTokens(), tokens);
    t.deepEqual(second.listComponents(), components);
    t.deepEqual(second.listRejected(), rejected);
    second.insertToken(token("after"));
    t.is(second.stateIndex(), index + 1);
  });

  test(`${f.name}: a closed store refuses to be used`, (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    store.close();
    t.throws(() => store.listTokens());
  });
}

/** Online backup and live replacement, for stores that support snapshots. */
export function storeSnapshotConformance(test: TestFn, f: StoreFactory): void {
  test(`${f.name}: an online backup holds every committed write and reports the state index it holds`, async (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    store.bootstrapToken(token("boot"));
    store.upsertComponents([component("c1")]);
    const dest = `${path}.copy`;
    const pending = store.backupTo(dest);
    // A write while the backup runs is carried into it (same connection).
    store.insertToken(token("during"));
    const facts = await pending;
    t.is(facts.index, store.stateIndex());
    t.is(facts.tables.tokens, 2);
    t.is(facts.tables.components, 1);
    const copy = f.open(dest);
    t.teardown(() => copy.close());
    t.deepEqual(
      copy.listTokens().map((x) => x.id),
      ["boot", "during"],
    );
  });

  test(`${f.name}: replacing the database swaps the whole state at once and keeps the previous file`, async (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    store.bootstrapToken(token("old-boot"));
    const dest = `${path}.snapshot-copy`;
    await store.backupTo(dest);
    store.insertToken(token("after-snapshot"));
    store.insertToken(token("after-snapshot-2"));
    const before = store.stateIndex();
    const kept = `${path}.pre-restore-test`;
    const r = store.replaceWith(dest, kept);
    t.is(r.previousIndex, before);
    t.is(r.restoredIndex, 1);
    t.true(store.stateIndex() > before, "the index keeps advancing across a restore");
    t.deepEqual(
      store.listTokens().map((x) => x.id),
      ["old-boot"],
    );
    store.insertToken(token("after-restore"));
    t.is(store.listTokens().length, 2);
    const previous = f.open(kept);
    t.teardown(() => previous.close());
    t.is(previous.listTokens().length, 3);
  });
}

/** Live replacement when the name for the previous database is already taken. */
export function storeReplaceNameConformance(test: TestFn, f: StoreFactory): void {
  test(`${f.name}: a second restore in the same instant keeps both previous databases under distinct names`, async (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    store.bootstrapToken(token("boot"));
    const first = `${path}.snap1`;
    const second = `${path}.snap2`;
    await store.backupTo(first);
    await store.backupTo(second);
    const keep = `${path}.pre-restore-same-instant`;
    const a = store.replaceWith(first, keep);
    const b = store.replaceWith(second, keep);
    t.is(a.keptAs, keep);
    t.is(b.keptAs, `${keep}-2`);
    store.insertToken(token("still-serving"));
    t.is(store.listTokens().length, 2);
  });
}
