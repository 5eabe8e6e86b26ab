/**
 * The console rendered with ink-testing-library over an injected client: whole frames for each
 * screen, keys (including fast sequences), the help overlay, and a server that goes away.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { render } from "ink-testing-library";
import type { StagedRestore } from "../../src/client/connection.js";
import type { DeploymentInfo, InstanceInfo, JobInfo } from "../../src/client/runtime.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import type { InventoryJson } from "../../src/protocol/inventory.js";
import type { VersionInfo } from "../../src/protocol/version-info.js";
import { App } from "../../src/tui/app.js";
import type { ConsoleClient } from "../../src/tui/console-client.js";
import { consoleReducer, INITIAL_STATE } from "../../src/tui/console-state.js";
import type { KeyPress } from "../../src/tui/keymap.js";
import type { SnapshotDesk, SnapshotFileInfo } from "../../src/tui/snapshot-desk.js";
import { REPO_ROOT } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";

/** The catalog plans are made from: the protocol steps 0.1.0 → 0.4.0 shipped in fixtures/. */
const CATALOG_PATH = join(REPO_ROOT, "fixtures", "catalogs", "protocol-steps.json");
/** The instant the console and the fake server's data both take as now, so every age in a frame is exact. */
const T0 = Date.now();
const clock = () => T0;

const PLANNING = {
  catalog: parseCatalog(readFileSync(CATALOG_PATH, "utf8"), CATALOG_PATH),
  catalogPath: CATALOG_PATH,
  clock,
};

const SERVER: VersionInfo = {
  version: "0.4.0",
  api: { min: 1, current: 3 },
  entrypoint: { min: 2, current: 2 },
  emulated: false,
};

function inventory(now: number): InventoryJson & { generatedAt: string } {
  const seen = (agoMs: number) => new Date(now - agoMs).toISOString();
  const range = (min: number, current: number) => ({ min, current });
  return {
    server: { version: "0.4.0", api: range(1, 3), entrypoint: range(2, 2) },
    activeWindow: "168h",
    generatedAt: seen(0),
    components: [
      {
        kind: "client",
        via: "cli",
        id: "cli_alice",
        version: "0.4.0",
        api: range(1, 3),
        lastSeen: seen(1000),
        connected: true,
      },
      {
        kind: "client",
        via: "ui",
        id: "cli_bob",
        version: "0.3.1",
        api: range(1, 2),
        lastSeen: seen(120_000),
        connected: false,
      },
      {
        kind: "runner",
        id: "runner-eu-1",
        version: "0.4.0",
        api: range(1, 3),
        lastSeen: seen(0),
        connected: true,
      },
      {
        kind: "entrypoint",
        id: "ceb_a1",
        version: "0.3.1",
        entrypoint: range(1, 2),
        emulated: true,
        app: "web",
        deployment: "web-v3",
        hostname: "node-1",
        lastSeen: seen(0),
        connected: true,
      },
      {
        kind: "entrypoint",
        id: "ceb_a2",
        version: "0.3.1",
        entrypoint: range(1, 2),
        app: "web",
        deployment: "web-v3",
        hostname: "node-2",
        lastSeen: seen(7_200_000),
        connected: false,
      },
    ],
    rejected: [
      {
        kind: "client",
        via: "cli",
        id: "cli_old",
        version: "0.1.0",
        api: range(1, 1),
        lastSeen: seen(60_000),
        reason: "client api protocol 1 is older than the server's minimum 1… upgrade the client",
        count: 4,
      },
    ],
  } as InventoryJson & { generatedAt: string };
}

const INSTANCE_BASE = {
  version: "0.3.1",
  entrypoint: { min: 1, current: 2 },
  emulated: false,
  pid: 10,
  startedAt: "2026-12-01T09:00:00.000Z",
  firstSeen: "2026-12-01T09:00:00.000Z",
  lastSeen: "2026-12-01T09:00:00.000Z",
  execDisabled: false,
};
const INSTANCES: InstanceInfo[] = [
  { ...INSTANCE_BASE, id: "ceb_a1", app: "web", deployment: "web-v3", hostname: "node-1", connected: true },
  { ...INSTANCE_BASE, id: "ceb_a2", app: "web", deployment: "web-v3", hostname: "node-2", connected: false },
];
const DEPLOYMENTS: DeploymentInfo[] = [
  { id: "api-v1", app: "api", sequence: 1, createdAt: "2026-12-01T08:00:00.000Z", connectedInstances: 0 },
  {
    id: "web-v2",
    app: "web",
    sequence: 2,
    createdAt: "2026-12-01T08:30:00.000Z",
    connectedInstances: 0,
    url: "http://web--v2.localhost:9703",
  },
  {
    id: "web-v3",
    app: "web",
    sequence: 3,
    createdAt: "2026-12-01T09:00:00.000Z",
    connectedInstances: 1,
    url: "http://web--v3.localhost:9703",
  },
];
const JOB_BASE = {
  command: "make",
  target: null,
  deployment: null,
  assignedAt: null,
  startedAt: null,
  finishedAt: null,
  exitCode: null,
  error: null,
  attempts: 1,
  cancelRequested: false,
};
const JOBS: JobInfo[] = [
  {
    ...JOB_BASE,
    id: "job-1",
    app: "web",
    operation: "build",
    state: "success",
    runner: "runner-eu-1",
    queuedAt: new Date(T0 - 3_600_000).toISOString(),
    exitCode: 0,
  },
  {
    ...JOB_BASE,
    id: "job-2",
    app: "web",
    operation: "deploy",
    state: "running",
    runner: "runner-eu-1",
    queuedAt: new Date(T0).toISOString(),
  },
];

interface Fake extends ConsoleClient {
  /** Replaces the inventory the fake serves. */
  inv?: InventoryJson;
  down: boolean;
  calls: number;
  staged: StagedRestore;
  lastSnapshotAt?: number;
}

function fakeClient(staged: StagedRestore = { staged: false }): Fake {
  const fake: Fake = {
    address: "127.0.0.1:9701",
    down: false,
    calls: 0,
    staged,
    async versionInfo() {
      fake.calls++;
      if (fake.down) throw new Error("the server at 127.0.0.1:9701 is not reachable");
      return SERVER;
    },
    async inventory() {
      if (fake.down) throw new Error("the server at 127.0.0.1:9701 is not reachable");
      return fake.inv ? { ...fake.inv, generatedAt: new Date(T0).toISOString() } : inventory(T0);
    },
    async stagedRestore() {
      return fake.staged;
    },
    async cancelStagedRestore() {
      const was = fake.staged.staged;
      fake.staged = { staged: false };
      return was;
    },
    async serverStatus() {
      if (fake.down) throw new Error("the server at 127.0.0.1:9701 is not reachable");
      return {
        startedAt: new Date(T0 - 3 * 3_600_000).toISOString(),
        databaseBytes: 2_202_009,
        stateIndex: 1234,
        ...(fake.lastSnapshotAt
          ? {
              lastSnapshot: {
                id: "snap_1",
                index: 1200,
                takenAt: new Date(fake.lastSnapshotAt).toISOString(),
              },
            }
          : {}),
      };
    },
    async listInstances() {
      return INSTANCES;
    },
    async listJobs() {
      return JOBS;
    },
    async listDeployments() {
      return DEPLOYMENTS;
    },
    logs(req, onLines, onEnd) {
      setImmediate(() => {
        onLines(
          req.instance === "ceb_a1"
            ? [
                {
                  instance: "ceb_a1",
                  source: "stdout",
                  line: "listening on :8080",
                  at: "2026-12-01T10:00:00.000Z",
                },
                {
                  instance: "ceb_a1",
                  source: "stderr",
                  line: "slow request /api",
                  at: "2026-12-01T10:00:01.000Z",
                },
              ]
            : [],
        );
        onEnd();
      });
      return { cancel: () => {} };
    },
  };
  return fake;
}

/** A desk over an in-memory directory: what the Snapshots screen lists and what its actions did. */
interface FakeDesk extends SnapshotDesk {
  files: SnapshotFileInfo[];
  done: string[];
  exported: { name: string; text: string }[];
  failVerify?: string;
}

const META = (id: string, index: number, createdAt: string) => ({
  format: 1,
  id,
  createdAt,
  server: SERVER,
  schemaVersion: 5,
  index,
  tables: { tokens: 3, components: 4 },
});

function fakeDesk(): FakeDesk {
  const desk: FakeDesk = {
    dir: "/srv/snapshots",
    files: [
      {
        name: "waypoint-snapshot-20261201T100000Z.snap",
        path: "/srv/snapshots/waypoint-snapshot-20261201T100000Z.snap",
        bytes: 53_248,
        modifiedAt: "2026-12-01T10:00:01.000Z",
        encrypted: false,
        meta: META("snap_old", 900, "2026-12-01T10:00:00.000Z"),
      },
      {
        name: "offsite.snap",
        path: "/srv/snapshots/offsite.snap",
        bytes: 60_000,
        modifiedAt: "2026-11-30T10:00:00.000Z",
        encrypted: true,
      },
    ],
    done: [],
    exported: [],
    async list() {
      return desk.files;
    },
    async take(onProgress) {
      onProgress({ phase: "copy", done: 50, total: 100 });
      const name = "waypoint-snapshot-20261205T040000Z.snap";
      const meta = META("snap_new", 1234, "2026-12-05T04:00:00.000Z");
      desk.files = [
        {
          name,
          path: `/srv/snapshots/${name}`,
          bytes: 54_000,
          modifiedAt: meta.createdAt,
          encrypted: false,
          meta,
        },
        ...desk.files,
      ];
      desk.done.push("take");
      return { name, path: `/srv/snapshots/${name}`, meta, bytes: 54_000 };
    },
    async verify(name) {
      desk.done.push(`verify ${name}`);
      if (desk.failVerify === name) throw new Error(`${name}: SHA-256 of data.db does not match SHA256SUMS`);
      const f = desk.files.find((x) => x.name === name)!;
      return { meta: f.meta!, encrypted: false, hasToken: true };
    },
    async restore(name, mode) {
      desk.done.push(`${mode} ${name}`);
      const f = desk.files.find((x) => x.name === name)!;
      return mode === "live"
        ? {
            mode,
            meta: f.meta!,
            keptAs: "data.db.before-restore",
            previousIndex: 1234,
            index: 1235,
            exiting: false,
          }
        : { mode, meta: f.meta!, stagedPath: "/data/waypoint-restore.db", exiting: false };
    },
    async exportPlan(name, text) {
      desk.exported.push({ name, text });
      return `/srv/snapshots/${name}`;
    },
    abortAll() {},
  };
  return desk;
}

const frame = (f: string | undefined) =>
  (f ?? "")
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n");

/** The console over a fake client, once its first full overview is drawn; unmounted when the test ends. */
async function openConsole(t: ExecutionContext, client: Fake = fakeClient(), desk: FakeDesk = fakeDesk()) {
  const r = render(<App client={client} {...PLANNING} desk={desk} pollMs={10_000} />);
  t.teardown(r.unmount);
  await frameWith(r.lastFrame, "Warnings");
  return r;
}

async function frameWith(lastFrame: () => string | undefined, text: string): Promise<string> {
  await waitFor(() => frame(lastFrame()).includes(text), `a frame with ${JSON.stringify(text)}`);
  return frame(lastFrame());
}

test("the overview shows the server, counts per kind, the staged restore and the refused components", async (t) => {
  const { lastFrame, unmount } = render(
    <App client={fakeClient()} {...PLANNING} desk={fakeDesk()} pollMs={10_000} />,
  );
  t.teardown(unmount);
  const f = await frameWith(lastFrame, "Warnings");
  t.is(
    f,
    [
      "waypoint 127.0.0.1:9701 server 0.4.0 · api 1–3 · entrypoint 2 · checked 0s ago",
      " 1 Overview  2 Versions  3 Plan  4 Snapshots  5 Runtime  ? help · q quit",
      "Server up 3h · database 2.1 MiB · state index 1234 · last snapshot never",
      "In use (connected, or seen within 168h) · 0s old",
      "  client          2 (1 connected) on 2 versions",
      "  runner          1 (1 connected) on 1 version",
      "  entrypoint      2 (1 connected) on 1 version",
      "",
      "Staged restore",
      "  none",
      "",
      "Warnings",
      "  ! 1 component was refused; latest client cli_old 0.1.0: client api protocol 1 is older than the s…",
    ].join("\n"),
  );
});

test("a staged restore is shown with its snapshot and when it was staged", async (t) => {
  const staged: StagedRestore = {
    staged: true,
    path: "/var/lib/waypoint/waypoint-restore.db",
    stagedAt: "2026-12-01T10:00:00.000Z",
    bytes: 4096,
    meta: { id: "snap_abc", createdAt: "2026-11-30T09:00:00.000Z" } as never,
  };
  const { lastFrame, unmount } = render(
    <App client={fakeClient(staged)} {...PLANNING} desk={fakeDesk()} pollMs={10_000} />,
  );
  t.teardown(unmount);
  const f = await frameWith(lastFrame, "snap_abc");
  t.regex(
    f,
    /\nStaged restore\n {2}snap_abc \(taken 2026-11-30T09:00:00\.000Z\): the server applies it at its next start\n/,
  );
});

test("versions: grouped kind → version, j/k move, enter expands, a fast sequence acts on current state", async (t) => {
  const { lastFrame, stdin } = await openConsole(t);
  stdin.write("2");
  const list = await frameWith(lastFrame, "Versions in use");
  t.is(
    list.split("\n").slice(2).join("\n"),
    [
      "Versions in use / filter · enter expand · 4 groups · marks for 0.4.0 (h/l) · 0s old",
      "›▸ client     0.4.0       api 1–3               1 (1 connected) fine",
      " ▸ client     0.3.1       api 1–2               1 (0 connected) optional",
      " ▸ runner     0.4.0       api 1–3               1 (1 connected) fine",
      " ▸ entrypoint 0.3.1       api -    ep 1–2       2 (1 connected) optional",
      "Refused (1)",
      "  client cli_old 0.1.0                 ×4 client api protocol 1 is older than the server's minimum …",
    ].join("\n"),
  );
  // Keys in one chunk, as a terminal delivers fast typing: down ×3, up, enter — the runner row opens.
  stdin.write("jjjk\r");
  const open = await frameWith(lastFrame, "▾ runner");
  // And key by key without waiting for a frame between them: each acts on the state the last one left.
  for (const k of ["\r", "k", "k", "\r"]) stdin.write(k);
  await frameWith(lastFrame, "›▾ client     0.4.0");
  t.regex(frame(lastFrame()), /▸ runner/, "the runner row closed again");
  t.regex(open, /\n›▾ runner {5}0\.4\.0 .*\n {5}runner-eu-1 {16}\s+connected\n ▸ entrypoint/);
});

test("the filter narrows every list, esc clears it, and q while typing is text, not quit", async (t) => {
  const { lastFrame, stdin } = await openConsole(t);
  stdin.write("2");
  await frameWith(lastFrame, "Versions in use");
  stdin.write("/");
  await frameWith(lastFrame, "filter: ▌");
  for (const ch of "node-2q") stdin.write(ch);
  await frameWith(lastFrame, "filter: node-2q▌");
  t.regex(frame(lastFrame()), /Nothing matches "node-2q"\./);
  stdin.write("\u007f"); // backspace
  stdin.write("\r");
  const filtered = await frameWith(lastFrame, "filter: node-2 ·");
  t.regex(filtered, /1 group · /);
  t.regex(filtered, /›▸ entrypoint 0\.3\.1 .* 1 \(0 connected\)/, "only node-2's instance is left");
  t.notRegex(filtered, /runner/);
  stdin.write("\u001b"); // esc
  await frameWith(lastFrame, "4 groups");
});

test("a pasted chunk that filters then moves acts on the filtered rows", async (t) => {
  const { lastFrame, stdin } = await openConsole(t);
  stdin.write("2");
  await frameWith(lastFrame, "Versions in use");
  // One chunk, as a paste arrives: filter to the entrypoints, move down (there is nowhere to go), expand.
  stdin.write("/entry\rj\r");
  const f = await frameWith(lastFrame, "ceb_a1");
  t.regex(f, /›▾ entrypoint 0\.3\.1/);
  t.regex(f, /ceb_a1 +web web-v3 node-1 +emulated connected/, "an emulated component says so");
  t.regex(f, /ceb_a2 +web web-v3 node-2 +seen [12]h ago/);
});

test("? shows help from the keymap for the screen; esc closes it", async (t) => {
  const { lastFrame, stdin } = await openConsole(t);
  stdin.write("?");
  const help = await frameWith(lastFrame, "Keys (Overview)");
  t.regex(help, /│ \? +show or hide this help/);
  t.notRegex(help, /expand or collapse/, "versions-only keys are not listed on the overview");
  stdin.write("\u001b");
  await frameWith(lastFrame, "Warnings");
  t.notRegex(frame(lastFrame()), /Keys \(/);
});

test("a lost server shows a banner with the retry, keeps the last data as stale, and recovers", async (t) => {
  const client = fakeClient();
  const { lastFrame, unmount } = render(<App client={client} {...PLANNING} desk={fakeDesk()} pollMs={100} />);
  t.teardown(unmount);
  await frameWith(lastFrame, "Warnings");
  client.down = true;
  const down = await frameWith(lastFrame, "✖");
  t.regex(
    down,
    /\n✖ the server at 127\.0\.0\.1:9701 is not reachable · retrying in \ds · last data kept \(stale\)\n/,
  );
  t.regex(down, /client {10}2 \(1 connected\)/, "the last data stays");
  client.down = false;
  await waitFor(() => !frame(lastFrame()).includes("✖"), "the banner gone", 5000);
  t.pass();
});

test("q and ctrl-c quit, except while typing a filter (the real-terminal test sees the process exit)", (t) => {
  const view = { versionRows: ["client 0.4.0"], instances: [] };
  const key = (input: string, extra: Partial<KeyPress> = {}) => ({
    type: "key" as const,
    key: { input, ...extra },
    view,
  });
  t.true(consoleReducer(INITIAL_STATE, key("q")).quit);
  t.true(consoleReducer(INITIAL_STATE, key("c", { ctrl: true })).quit);
  const typing = [key("2"), key("/"), key("q")].reduce(consoleReducer, INITIAL_STATE);
  t.false(typing.quit);
  t.is(typing.versions.filter, "q");
});

test("runtime: runners with their job, the latest jobs, the latest deployments with their URLs, the instances, and an instance's log tail", async (t) => {
  const { lastFrame, stdin } = await openConsole(t);
  stdin.write("5");
  await frameWith(lastFrame, "Instances (1 connected");
  const f = await frameWith(lastFrame, "Deployments (latest 3)");
  t.is(
    f.split("\n").slice(2).join("\n"),
    [
      "Runners (1 connected) · 0s old",
      "  runner-eu-1              0.4.0      connected      job-2 deploy of web",
      "Jobs (latest 2) · 0s old",
      `  job-2    web         deploy  running   runner-eu-1          ${f.match(/running {3}runner-eu-1 {10}(\ds)/)?.[1]}`,
      "  job-1    web         build   success   runner-eu-1          1h",
      "Deployments (latest 3) · 0s old",
      "  web-v3         web        1 connected  http://web--v3.localhost:9703",
      "  web-v2         web        0 connected  http://web--v2.localhost:9703",
      "  api-v1         api        0 connected  no URL",
      "Instances (1 connected · enter: log tail) · 0s old",
      "› ceb_a1                 web        web-v3       0.3.1   connected",
      "  ceb_a2                 web        web-v3       0.3.1   gone",
    ].join("\n"),
  );
  stdin.write("\r");
  const tail = await frameWith(lastFrame, "slow request");
  t.regex(tail, /Log tail of ceb_a1 · \ds old · esc closes\n {2}listening on :8080\n {2}slow request \/api$/);
  // With the tail open the deployments, like the jobs, make room for it.
  t.regex(tail, /\nDeployments \(latest 2\)[^\n]*\n {2}web-v3 [^\n]*\n {2}web-v2 [^\n]*\nInstances/);
  // The other instance: its (empty) tail, never the first one's lines.
  stdin.write("j");
  stdin.write("\r");
  const other = await frameWith(lastFrame, "no output kept for it");
  t.regex(other, /Log tail of ceb_a2.*\n {2}no output kept for it$/);
  stdin.write("\u001b");
  await waitFor(() => !frame(lastFrame()).includes("Log tail"), "the tail closed");
  t.pass();
});

/** A fleet behind the catalog's 0.4.0: server 0.2.0, clients on 0.2.0, entrypoints on 0.1.0. */
function oldFleet(entrypoints: { id: string; version: string; connected: boolean }[]): InventoryJson {
  const now = new Date(T0).toISOString();
  const release = (v: string) => PLANNING.catalog.releases.find((r) => r.version === v)!;
  return {
    server: { version: "0.2.0", api: release("0.2.0").api, entrypoint: release("0.2.0").entrypoint },
    activeWindow: "168h",
    components: [
      {
        kind: "client",
        via: "cli",
        id: "cli_alice",
        version: "0.2.0",
        api: release("0.2.0").api,
        lastSeen: now,
        connected: true,
      },
      ...entrypoints.map((e) => ({
        kind: "entrypoint" as const,
        id: e.id,
        version: e.version,
        entrypoint: release(e.version).entrypoint,
        app: "web",
        deployment: "web-v1",
        hostname: "node-1",
        lastSeen: now,
        connected: e.connected,
      })),
    ],
    rejected: [],
  };
}

test("plan: the steps to the newest release with their live progress; h/l pick the target, j/k a step, e/E export", async (t) => {
  const client = fakeClient();
  client.inv = oldFleet([
    { id: "ceb_1", version: "0.1.0", connected: true },
    { id: "ceb_2", version: "0.1.0", connected: true },
  ]);
  const desk = fakeDesk();
  const { lastFrame, stdin } = await openConsole(t, client, desk);
  stdin.write("3");
  const plan = await frameWith(lastFrame, "Steps");
  t.is(
    plan.split("\n").slice(2).join("\n"),
    [
      "Plan to  0.2.0  0.3.0 ‹0.4.0› h/l pick · p re-plan",
      "incompatible: components must move, or runners go offline, for the server to reach the target · pla…",
      "  COMPONENT  COUNT  CURRENT   PLANNED   TARGET    STATUS",
      "  server     1      0.2.0     0.4.0     0.4.0     must move",
      "  client     1      0.2.0     0.4.0     0.4.0     must move",
      "  entrypoint 2      0.1.0     0.4.0     0.4.0     must move",
      "Steps (progress from the live inventory)",
      "›· 1. snapshot                        none since the plan was made: s takes one",
      " · 2. redeploy-entrypoints → 0.4.0    entrypoints on 0.1.0: 0 of 2 redeployed",
      " · 3. upgrade-server → 0.3.0          server on 0.2.0",
      " · 4. upgrade-clients → 0.4.0         clients on 0.2.0: 0 of 1 upgraded",
      " · 5. upgrade-server → 0.4.0          server on 0.2.0",
      " · 6. verify                          after the 5 steps still to do",
      "1. snapshot: Take a snapshot before changing anything: restoring it is the way back (`waypoint",
      "server restore pre-upgrade-0.4.0.snap`).",
      "  components: server",
      "  $ waypoint server snapshot pre-upgrade-0.4.0.snap",
    ].join("\n"),
  );

  // The operator works through the plan: a snapshot, then one entrypoint redeployed (its replacement
  // on 0.4.0), and the other still on 0.1.0. The steps stay; their progress moves.
  client.lastSnapshotAt = T0;
  client.inv = oldFleet([
    { id: "ceb_1", version: "0.1.0", connected: false },
    { id: "ceb_2", version: "0.1.0", connected: true },
    { id: "ceb_3", version: "0.4.0", connected: true },
  ]);
  stdin.write("r");
  const moving = await frameWith(lastFrame, "1 of 2 redeployed");
  t.regex(moving, /›✓ 1\. snapshot +taken since the plan was made\n/);
  t.regex(moving, / · 2\. redeploy-entrypoints → 0\.4\.0 +entrypoints on 0\.1\.0: 1 of 2 redeployed\n/);
  t.regex(moving, / · 6\. verify +after the 4 steps still to do/);

  // j selects the next step: its reason, components and commands show below.
  stdin.write("j");
  const second = await frameWith(lastFrame, "components: ceb_1, ceb_2");
  t.regex(second, /›· 2\. redeploy-entrypoints/);
  t.regex(second, /\$ waypoint up -app=web/);

  // Export: Markdown and JSON files in the directory, of the plan on screen.
  stdin.write("e");
  await waitFor(() => desk.exported.length === 1, "the Markdown export");
  t.regex(desk.exported[0]!.name, /^waypoint-plan-0\.4\.0-\d{8}T\d{6}Z\.md$/);
  t.regex(desk.exported[0]!.text, /redeploy-entrypoints/);
  await frameWith(lastFrame, `✓ the plan to 0.4.0 is exported to /srv/snapshots/${desk.exported[0]!.name}`);
  stdin.write("E");
  await waitFor(() => desk.exported.length === 2, "the JSON export");
  const json = JSON.parse(desk.exported[1]!.text) as { target: string; kind: string; steps: unknown[] };
  t.like(json, { target: "0.4.0", kind: "incompatible" });
  t.is(json.steps.length, 6);

  // h picks an older target: a new plan, in which nothing has to move but the server.
  await new Promise((resolve) => setTimeout(resolve, 5)); // made after the snapshot, to the ms
  stdin.write("h");
  const older = await frameWith(lastFrame, "standard: no component has to move");
  t.regex(older, /‹0\.3\.0›/);
  t.regex(older, /›· 1\. snapshot +none since the plan was made/, "the new plan's progress starts from now");
  t.regex(older, / · 2\. upgrade-server → 0\.3\.0 +server on 0\.2\.0/);
  // Versions marks each group for the picked target.
  stdin.write("2");
  const marks = await frameWith(lastFrame, "marks for 0.3.0");
  t.regex(marks, /client +0\.2\.0 .* optional/);
  t.regex(marks, /entrypoint 0\.1\.0 .* optional/);
  stdin.write("l");
  const newest = await frameWith(lastFrame, "marks for 0.4.0");
  t.regex(newest, /entrypoint 0\.1\.0 .* must move first/);
});

test("plan: a long catalog's targets show as a window around the picked one, on one line", async (t) => {
  const releases = Array.from({ length: 30 }, (_, i) => ({
    version: `0.${i + 1}.0`,
    api: { min: 1, current: 1 },
    entrypoint: { min: 1, current: 1 },
    constraints: [],
    knownIssues: [],
  }));
  const catalog = parseCatalog({ product: "waypoint-ops", releases }, "long");
  const client = fakeClient();
  client.inv = {
    server: { version: "0.1.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } },
    activeWindow: "168h",
    components: [],
    rejected: [],
  };
  const r = render(
    <App
      client={client}
      catalog={catalog}
      catalogPath="long"
      desk={fakeDesk()}
      pollMs={10_000}
      clock={clock}
    />,
  );
  t.teardown(r.unmount);
  await frameWith(r.lastFrame, "Warnings");
  r.stdin.write("3");
  const f = await frameWith(r.lastFrame, "‹0.30.0›");
  const picker = f.split("\n").find((l) => l.startsWith("Plan to"))!;
  t.regex(picker, /^Plan to … .* 0\.29\.0 ‹0\.30\.0› h\/l pick/);
  t.true(picker.length <= 100, picker);
  r.stdin.write("hhhh");
  const moved = await frameWith(r.lastFrame, "‹0.26.0›");
  t.regex(
    moved.split("\n").find((l) => l.startsWith("Plan to"))!,
    /^Plan to … .*‹0\.26\.0› .* 0\.29\.0 {2}… h\/l pick/,
  );
});

test("plan: a catalog without the server's release says so instead of a plan", async (t) => {
  const client = fakeClient();
  client.inv = {
    ...oldFleet([]),
    server: { version: "9.0.0", api: { min: 1, current: 9 }, entrypoint: { min: 1, current: 9 } },
  };
  const { lastFrame, stdin } = await openConsole(t, client);
  stdin.write("3");
  const f = await frameWith(lastFrame, "Plan to");
  t.regex(f, /no release in the catalog at or after the server's/);
});

test("snapshots: files with their meta, take with progress, inspect, verify, and typed confirmations for restores", async (t) => {
  const client = fakeClient();
  const desk = fakeDesk();
  const { lastFrame, stdin } = await openConsole(t, client, desk);
  stdin.write("4");
  const list = await frameWith(lastFrame, "offsite.snap");
  t.is(
    list.split("\n").slice(2).join("\n"),
    [
      "Snapshots in /srv/snapshots · 2 files · listed 0s ago",
      "  last taken: never on this server · s takes one",
      "   FILE                                            SIZE      CREATED             INDEX  VERIFIED",
      "›  waypoint-snapshot-20261201T100000Z.snap         52.0 KiB  2026-12-01 10:00:00 900    not yet (v)",
      "   offsite.snap                                    58.6 KiB  encrypted           (enc)  not yet (v)",
      "  staged restore: none",
    ].join("\n"),
  );
  // Take one: it is listed first, and the status line says where it went.
  stdin.write("s");
  await frameWith(
    lastFrame,
    "✓ wrote waypoint-snapshot-20261205T040000Z.snap (52.7 KiB, snap_new, state index 1234)",
  );
  const taken = await frameWith(lastFrame, "3 files");
  t.regex(taken, /› {2}waypoint-snapshot-20261205T040000Z\.snap +52\.7 KiB +2026-12-05 04:00:00 1234/);
  // Inspect and verify the older one.
  stdin.write("j");
  stdin.write("\r");
  const inspected = await frameWith(lastFrame, "snap_old · created 2026-12-01 10:00:00");
  t.regex(inspected, /server 0\.4\.0 · rows: tokens 3, components 4/);
  t.regex(inspected, /not verified in this console yet/);
  stdin.write("v");
  const verified = await frameWith(lastFrame, "✓ waypoint-snapshot-20261201T100000Z.snap: ok: snap_old");
  t.regex(verified, /✓ 0s ago/);
  t.regex(verified, /your token is in it/);
  t.true(desk.done.includes("verify waypoint-snapshot-20261201T100000Z.snap"));
  // A failed verification is marked and says why.
  desk.failVerify = "waypoint-snapshot-20261201T100000Z.snap";
  stdin.write("v");
  const failed = await frameWith(lastFrame, "✖ verifying failed");
  t.regex(failed, /SHA-256 of data\.db does not match/);
  t.regex(failed, /✖ failed/);

  // Stage: asks y; anything else does nothing; esc leaves.
  stdin.write("g");
  // The box's text, its wrapped lines joined.
  const ask = (await frameWith(lastFrame, "Type y and enter")).replace(/\s*│\s*/g, " ").replace(/ +/g, " ");
  t.regex(
    ask,
    /Stage waypoint-snapshot-20261201T100000Z\.snap: the server replaces its data with the snapshot's at its next start\./,
  );
  t.regex(
    ask,
    /replaced: everything the server holds now \(state index 1234, 2\.1 MiB, server 0\.4\.0\), every token included/,
  );
  t.regex(
    ask,
    /with: +waypoint-snapshot-20261201T100000Z\.snap: snap_old, created 2026-12-01 10:00:00, state index 900/,
  );
  stdin.write("n");
  stdin.write("\r");
  await frameWith(lastFrame, "That is not y: nothing was done.");
  stdin.write("\u001b");
  await waitFor(() => !frame(lastFrame()).includes("Type y"), "the confirmation to close");
  t.false(desk.done.some((d) => d.startsWith("stage")));
  stdin.write("g");
  await frameWith(lastFrame, "Type y and enter");
  stdin.write("y");
  stdin.write("\r");
  await frameWith(lastFrame, "✓ staged snap_old (state index 900)");
  t.true(desk.done.includes("stage waypoint-snapshot-20261201T100000Z.snap"));

  // Live: asks for the server's address, typed out in full.
  stdin.write("L");
  const live = (await frameWith(lastFrame, "Type 127.0.0.1:9701 and enter"))
    .replace(/\s*│\s*/g, " ")
    .replace(/ +/g, " ");
  t.regex(live, /Live restore of waypoint-snapshot-20261201T100000Z\.snap/);
  stdin.write("y");
  stdin.write("\r");
  await frameWith(lastFrame, "That is not 127.0.0.1:9701");
  for (const _ of "y") stdin.write("\u007f");
  stdin.write("127.0.0.1:9701");
  stdin.write("\r");
  await frameWith(lastFrame, "✓ restored snap_old live: state index 1234 → 1235");
  t.true(desk.done.includes("live waypoint-snapshot-20261201T100000Z.snap"));

  // A file added above the selected one (by another process): the selection stays on the same file.
  desk.files = [{ ...desk.files[0]!, name: "waypoint-snapshot-20261206T000000Z.snap" }, ...desk.files];
  stdin.write("r");
  const after = await frameWith(lastFrame, "4 files");
  t.regex(after, /› {2}waypoint-snapshot-20261201T100000Z\.snap/);
});

test("snapshots: a staged restore is shown and x cancels it after a y", async (t) => {
  const client = fakeClient({
    staged: true,
    path: "/var/lib/waypoint/waypoint-restore.db",
    stagedAt: new Date(T0 - 120_000).toISOString(),
    bytes: 1000,
    meta: META("snap_old", 900, "2026-12-01T10:00:00.000Z"),
  });
  const { lastFrame, stdin } = await openConsole(t, client);
  stdin.write("4");
  const f = await frameWith(lastFrame, "staged restore: snap_old");
  t.regex(
    f,
    /staged restore: snap_old \(index 900\) · x cancels\n +staged 2m ago; the server applies it at its next start/,
  );
  stdin.write("x");
  await frameWith(lastFrame, "Cancel the staged restore of snap_old (state index 900)?");
  stdin.write("y\r");
  await frameWith(lastFrame, "✓ the staged restore is cancelled");
  await frameWith(lastFrame, "staged restore: none");
  t.false(client.staged.staged);
});
