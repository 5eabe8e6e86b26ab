import type { ExecutionContext, TestFn } from "ava";
import type {
  ComponentRecord,
  InstanceRecord,
  RejectedRecord,
  Store,
  TokenRecord,
} from "../../../src/server/store/store.js";

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

const instance = (id: string, over: Partial<InstanceRecord> = {}): InstanceRecord => ({
  id,
  app: "web",
  deployment: "web-v1",
  version: "0.1.0",
  entrypoint: { min: 1, current: 2 },
  emulated: false,
  hostname: "host-1",
  pid: 42,
  startedAt: "2026-11-22T09:59:00.000Z",
  execDisabled: false,
  firstSeen: "2026-11-22T10:00:00.000Z",
  lastSeen: "2026-11-22T10:00:00.000Z",
  ...over,
});

const T0 = "2026-11-22T10:00:00.000Z";
const T1 = "2026-11-22T10:01:00.000Z";
const T2 = "2026-11-22T10:02:00.000Z";
const T3 = "2026-11-22T10:03:00.000Z";

/** The entrypoint token createDeployment stores with a deployment. */
const deploymentToken = (d: { id: string; app: string }): TokenRecord => ({
  ...token(`tok-${d.id}`, "entrypoint"),
  hash: `hash-tok-${d.id}`,
  app: d.app,
  deployment: d.id,
});

const upsert = (store: Store, i: InstanceRecord) => store.writeInstances([{ op: "upsert", instance: i }]);
const touch = (store: Store, id: string, lastSeen: string) =>
  store.writeInstances([{ op: "touch", id, lastSeen }]);

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

  test(`${f.name}: apps are created once and listed by name with their deployment counts`, (t) => {
    const { store } = open(t);
    const plain = { operations: {}, entrypointDisabled: false, urlDisabled: false };
    t.deepEqual(store.createApp("web", T0), { name: "web", createdAt: T0, deployments: 0, ...plain });
    store.createApp("api", T0);
    t.is(store.stateIndex(), 2);
    const err = t.throws(() => store.createApp("web", T0));
    t.is((err as { code?: string }).code, "ALREADY_EXISTS");
    t.is(store.stateIndex(), 2, "a refused create writes nothing");
    store.createDeployment("web", T0, deploymentToken);
    store.createDeployment("web", T0, deploymentToken);
    t.deepEqual(store.listApps(), [
      { name: "api", createdAt: T0, deployments: 0, ...plain },
      { name: "web", createdAt: T0, deployments: 2, ...plain },
    ]);
    t.deepEqual(store.getApp("web"), { name: "web", createdAt: T0, deployments: 2, ...plain });
    t.is(store.getApp("nope"), undefined);
  });

  test(`${f.name}: an app's operations are stored at create, changed one by one, removed with null, and survive reopening`, (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    const created = store.createApp("web", T0, {
      operations: { build: "make build", deploy: "./deploy.sh 'with quotes'" },
      entrypointDisabled: true,
    });
    t.deepEqual(created.operations, { build: "make build", deploy: "./deploy.sh 'with quotes'" });
    t.true(created.entrypointDisabled);
    t.false(created.urlDisabled, "the URL stays on unless asked");
    const before = store.stateIndex();
    const changed = store.updateApp("web", {
      operations: { build: null, release: "./release.sh" },
      entrypointDisabled: false,
    });
    t.is(store.stateIndex(), before + 1, "one write");
    t.deepEqual(changed.operations, { deploy: "./deploy.sh 'with quotes'", release: "./release.sh" });
    t.false(changed.entrypointDisabled);
    t.deepEqual(store.updateApp("web", {}), changed, "an empty change keeps everything");
    const err = t.throws(() => store.updateApp("nope", { operations: { build: "x" } }));
    t.is((err as { code?: string }).code, "NOT_FOUND");
    store.close();
    const again = f.open(path);
    t.teardown(() => again.close());
    t.deepEqual(again.getApp("web"), changed);
  });

  test(`${f.name}: an app's URL switch is stored at create, changed alone by update, and survives reopening`, (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    t.true(store.createApp("web", T0, { operations: { build: "make" }, urlDisabled: true }).urlDisabled);
    t.false(store.createApp("api", T0).urlDisabled);
    const before = store.stateIndex();
    const on = store.updateApp("web", { urlDisabled: false });
    t.is(store.stateIndex(), before + 1, "one write");
    t.false(on.urlDisabled);
    t.deepEqual(on.operations, { build: "make" }, "the operations stay");
    t.false(on.entrypointDisabled, "the entrypoint setting stays");
    const off = store.updateApp("web", { urlDisabled: true, entrypointDisabled: true });
    t.true(off.urlDisabled);
    t.true(store.updateApp("web", { operations: { build: "make all" } }).urlDisabled, "kept when not given");
    store.close();
    const again = f.open(path);
    t.teardown(() => again.close());
    t.deepEqual(
      again.listApps().map((a) => [a.name, a.urlDisabled, a.entrypointDisabled]),
      [
        ["api", false, false],
        ["web", true, true],
      ],
    );
  });

  test(`${f.name}: jobs are queued with ids that count up, assigned oldest first to a runner that may take them, and never reuse an id`, (t) => {
    const path = f.newPath(t);
    const store = f.open(path);
    t.teardown(() => store.close());
    store.createApp("web", T0);
    const err = t.throws(() =>
      store.queueJob({ app: "nope", operation: "build", command: "make", queuedAt: T0 }),
    );
    t.is((err as { code?: string }).code, "NOT_FOUND");
    const j1 = store.queueJob({ app: "web", operation: "build", command: "make", queuedAt: T0 });
    const j2 = store.queueJob({
      app: "web",
      operation: "deploy",
      command: "./d",
      target: "cli_me",
      queuedAt: T0,
    });
    store.queueJob({ app: "web", operation: "release", command: "./r", queuedAt: T0 });
    t.deepEqual(j1, {
      id: "job-1",
      app: "web",
      operation: "build",
      command: "make",
      state: "queued",
      queuedAt: T0,
      attempts: 0,
      cancelRequested: false,
    });
    t.is(j2.target, "cli_me");
    t.deepEqual(
      store.listJobs().map((j) => j.id),
      ["job-1", "job-2", "job-3"],
    );
    const index = store.stateIndex();
    // A targeted-only runner takes only what is queued for it, and nothing else is there for cli_other.
    t.is(store.assignJob("cli_other", T1, { targetedOnly: true }), undefined);
    t.is(store.stateIndex(), index, "finding nothing writes nothing");
    // Another runner skips job-2, which is targeted at cli_me.
    t.like(store.assignJob("runner-a", T1), {
      id: "job-1",
      state: "assigned",
      runner: "runner-a",
      assignedAt: T1,
      attempts: 1,
    });
    t.like(store.assignJob("runner-a", T1), { id: "job-3", runner: "runner-a" });
    t.is(store.assignJob("runner-a", T1), undefined, "nothing left for runner-a");
    t.is(store.stateIndex(), index + 2, "an assignment is one write; finding nothing writes nothing");
    t.like(store.assignJob("cli_me", T1, { targetedOnly: true }), { id: "job-2", runner: "cli_me" });
    t.deepEqual(
      store.listJobs({ app: "web", states: ["assigned"] }).map((j) => j.id),
      ["job-1", "job-2", "job-3"],
    );
    t.deepEqual(store.listJobs({ app: "other" }), []);
    store.close();
    const again = f.open(path);
    t.teardown(() => again.close());
    const j4 = again.queueJob({ app: "web", operation: "build", command: "make", queuedAt: T1 });
    t.is(j4.id, "job-4");
    t.like(again.getJob("job-3"), { state: "assigned", runner: "runner-a" });
  });

  test(`${f.name}: job transitions check where the job is, stamp each state's time, and a requeue clears the runner`, (t) => {
    const { store } = open(t);
    store.createApp("web", T0);
    const { id } = store.queueJob({ app: "web", operation: "deploy", command: "./d", queuedAt: T0 });
    store.assignJob("runner-a", T1);
    const index = store.stateIndex();
    t.is(store.transitionJob(id, ["queued"], "running", { at: T1 }), undefined, "not from assigned");
    t.is(store.transitionJob("job-99", ["assigned"], "running"), undefined);
    t.is(store.stateIndex(), index, "a refused transition writes nothing");
    t.like(store.transitionJob(id, ["assigned"], "running", { at: T2 }), { state: "running", startedAt: T2 });
    // The runner is lost: back to the queue, as if never assigned, the attempt counted.
    const requeued = store.transitionJob(id, ["assigned", "running"], "queued", { at: T2 });
    t.like(requeued, { state: "queued", attempts: 1 });
    t.is(requeued?.runner, undefined);
    t.is(requeued?.startedAt, undefined);
    t.is(requeued?.assignedAt, undefined);
    t.like(store.assignJob("runner-b", T2), { id, runner: "runner-b", attempts: 2 });
    store.transitionJob(id, ["assigned"], "running", { at: T2 });
    t.like(store.requestJobCancel(id), { cancelRequested: true, state: "running" });
    const done = store.transitionJob(id, ["running"], "error", {
      at: T3,
      exitCode: 3,
      error: "exit code 3",
      deployment: "web-v1",
    });
    t.like(done, {
      state: "error",
      finishedAt: T3,
      exitCode: 3,
      error: "exit code 3",
      deployment: "web-v1",
      runner: "runner-b",
    });
    t.is(
      store.transitionJob(id, ["queued", "assigned", "running"], "cancelled"),
      undefined,
      "a finished job stays finished",
    );
    t.is(store.requestJobCancel("job-99"), undefined);
  });

  test(`${f.name}: a deployment and its entrypoint token are written in one transaction`, (t) => {
    const { store } = open(t);
    store.createApp("web", T0);
    const before = store.stateIndex();
    const d1 = store.createDeployment("web", T0, deploymentToken);
    t.deepEqual(d1, { id: "web-v1", app: "web", sequence: 1, createdAt: T0 });
    t.is(store.stateIndex(), before + 1, "one write for both");
    t.like(
      store.listTokens().find((x) => x.id === "tok-web-v1"),
      {
        kind: "entrypoint",
        app: "web",
        deployment: "web-v1",
      },
    );
    t.is(store.createDeployment("web", T0, deploymentToken).id, "web-v2");
    // A token that cannot be stored (its hash is taken) rolls the deployment back too.
    t.throws(
      () => store.createDeployment("web", T0, (d) => ({ ...deploymentToken(d), hash: "hash-tok-web-v1" })),
      { any: true, message: /UNIQUE/ },
    );
    t.deepEqual(
      store.listDeployments("web").map((d) => d.id),
      ["web-v1", "web-v2"],
    );
    t.is(store.stateIndex(), before + 2);
    const missing = t.throws(() => store.createDeployment("ghost", T0, deploymentToken));
    t.is((missing as { code?: string }).code, "NOT_FOUND");
    t.is(store.latestDeployment("web")?.id, "web-v2");
    t.is(store.latestDeployment("ghost"), undefined);
    t.deepEqual(store.getDeployment("web-v1"), d1);
    t.is(store.getDeployment("web-v9"), undefined);
  });

  test(`${f.name}: deployments are listed by app and sequence, all or per app`, (t) => {
    const { store } = open(t);
    store.createApp("web", T0);
    store.createApp("api", T0);
    store.createDeployment("web", T0, deploymentToken);
    store.createDeployment("api", T0, deploymentToken);
    store.createDeployment("web", T0, deploymentToken);
    t.deepEqual(
      store.listDeployments().map((d) => d.id),
      ["api-v1", "web-v1", "web-v2"],
    );
    t.deepEqual(
      store.listDeployments("api").map((d) => d.id),
      ["api-v1"],
    );
    t.deepEqual(store.listDeployments("ghost"), []);
  });

  test(`${f.name}: configuration is set and unset per scope in one write, and resolved per app`, (t) => {
    const { store } = open(t);
    store.createApp("web", T0);
    const before = store.stateIndex();
    t.deepEqual(
      store.setConfig(
        "",
        [
          { name: "LOG", value: "info" },
          { name: "REGION", value: "eu" },
        ],
        [],
      ),
      { notFound: [] },
    );
    t.deepEqual(store.setConfig("web", [{ name: "LOG", value: "debug" }], ["NOPE"]), { notFound: ["NOPE"] });
    t.is(store.stateIndex(), before + 2);
    t.deepEqual(store.listConfig(""), [
      { scope: "", name: "LOG", value: "info", secret: false },
      { scope: "", name: "REGION", value: "eu", secret: false },
    ]);
    t.deepEqual(store.listConfig("web"), [{ scope: "web", name: "LOG", value: "debug", secret: false }]);
    t.deepEqual(store.resolvedConfig("web"), [
      { scope: "web", name: "LOG", value: "debug", secret: false },
      { scope: "", name: "REGION", value: "eu", secret: false },
    ]);
    // Replace and remove in the same write.
    t.deepEqual(store.setConfig("", [{ name: "REGION", value: "us" }], ["LOG"]), { notFound: [] });
    t.deepEqual(store.resolvedConfig("web"), [
      { scope: "web", name: "LOG", value: "debug", secret: false },
      { scope: "", name: "REGION", value: "us", secret: false },
    ]);
    const err = t.throws(() => store.setConfig("ghost", [{ name: "A", value: "1" }], []));
    t.is((err as { code?: string }).code, "NOT_FOUND");
    t.deepEqual(store.listConfig("ghost"), []);
  });

  test(`${f.name}: a secret variable stays secret when set again without the flag, until it is unset`, (t) => {
    const { store } = open(t);
    store.setConfig("", [{ name: "DB_PASSWORD", value: "one", secret: true }], []);
    t.deepEqual(store.listConfig(""), [{ scope: "", name: "DB_PASSWORD", value: "one", secret: true }]);
    store.setConfig("", [{ name: "DB_PASSWORD", value: "two" }], []);
    t.deepEqual(store.listConfig(""), [{ scope: "", name: "DB_PASSWORD", value: "two", secret: true }]);
    store.setConfig("", [], ["DB_PASSWORD"]);
    store.setConfig("", [{ name: "DB_PASSWORD", value: "three" }], []);
    t.deepEqual(store.listConfig(""), [{ scope: "", name: "DB_PASSWORD", value: "three", secret: false }]);
  });

  test(`${f.name}: writeInstances applies registrations and disconnections in order, in one step`, (t) => {
    const { store } = open(t);
    const before = store.stateIndex();
    store.writeInstances([
      { op: "upsert", instance: instance("i1") },
      { op: "touch", id: "i1", lastSeen: "2026-11-22T12:00:00.000Z" },
      { op: "upsert", instance: instance("i2", { deployment: "web-v2" }) },
      { op: "touch", id: "i2", lastSeen: "2026-11-22T09:00:00.000Z" },
    ]);
    t.is(store.stateIndex(), before + 1);
    t.is(store.getInstance("i1")?.lastSeen, "2026-11-22T12:00:00.000Z");
    t.is(store.getInstance("i2")?.lastSeen, instance("i2").lastSeen, "last seen never moves back");
    store.writeInstances([]);
    t.is(store.stateIndex(), before + 1, "nothing to write is no step");
  });

  test(`${f.name}: instances keep their first-seen time and never move last-seen back`, (t) => {
    const { store } = open(t);
    upsert(store, instance("i1", { execDisabled: true, emulated: true }));
    upsert(store, instance("i2", { deployment: "web-v2" }));
    t.deepEqual(store.getInstance("i1"), instance("i1", { execDisabled: true, emulated: true }));
    upsert(
      store,
      instance("i1", {
        pid: 43,
        hostname: "host-2",
        firstSeen: "2026-11-22T11:00:00.000Z",
        lastSeen: "2026-11-22T11:00:00.000Z",
      }),
    );
    t.deepEqual(
      store.getInstance("i1"),
      instance("i1", { pid: 43, hostname: "host-2", lastSeen: "2026-11-22T11:00:00.000Z" }),
    );
    const before = store.stateIndex();
    touch(store, "i1", "2026-11-22T10:30:00.000Z");
    t.is(store.getInstance("i1")?.lastSeen, "2026-11-22T11:00:00.000Z");
    touch(store, "i1", "2026-11-22T12:00:00.000Z");
    t.is(store.getInstance("i1")?.lastSeen, "2026-11-22T12:00:00.000Z");
    t.is(store.stateIndex(), before + 2);
    t.deepEqual(
      store.listInstances().map((i) => [i.id, i.deployment]),
      [
        ["i1", "web-v1"],
        ["i2", "web-v2"],
      ],
    );
    t.is(store.getInstance("ghost"), undefined);
  });

  test(`${f.name}: apps, deployments, configuration and instances survive close and reopen`, (t) => {
    const path = f.newPath(t);
    const first = f.open(path);
    first.createApp("web", T0);
    first.createDeployment("web", T0, deploymentToken);
    first.setConfig("", [{ name: "G", value: "1" }], []);
    first.setConfig("web", [{ name: "A", value: "x\ny" }], []);
    upsert(first, instance("i1"));
    const index = first.stateIndex();
    first.close();

    const second = f.open(path);
    t.teardown(() => second.close());
    t.is(second.stateIndex(), index);
    t.deepEqual(second.listApps(), [
      {
        name: "web",
        createdAt: T0,
        deployments: 1,
        operations: {},
        entrypointDisabled: false,
        urlDisabled: false,
      },
    ]);
    t.deepEqual(second.listDeployments(), [{ id: "web-v1", app: "web", sequence: 1, createdAt: T0 }]);
    t.deepEqual(second.resolvedConfig("web"), [
      { scope: "web", name: "A", value: "x\ny", secret: false },
      { scope: "", name: "G", value: "1", secret: false },
    ]);
    t.deepEqual(second.listInstances(), [instance("i1")]);
    t.is(second.listTokens()[0]?.deployment, "web-v1");
    t.is(second.createDeployment("web", T0, deploymentToken).id, "web-v2");
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
