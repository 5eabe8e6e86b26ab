/**
 * `waypoint upgrade plan` offline, as an operator runs it: the real CLI as a
 * child process, inventory and catalog files in a temp dir, no server.
 */
import { spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { checkReport } from "../../src/cli/upgrade-plan.js";
import { planUpgrade } from "../../src/planner/plan.js";
import { simulate } from "../../src/planner/simulate.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import type { InventoryComponent, InventoryJson } from "../../src/protocol/inventory.js";
import { childEnv, REPO_ROOT, runCli } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const LEGACY_CATALOG = join(REPO_ROOT, "fixtures/catalogs/legacy.json");
const SEEN = "2026-11-22T10:00:00.000Z";
const ONE = { min: 1, current: 1 };

const runner = (id: string, version: string): InventoryComponent => ({
  kind: "runner",
  id,
  version,
  api: ONE,
  connected: true,
  lastSeen: SEEN,
});
const cli = (id: string, version: string): InventoryComponent => ({
  kind: "client",
  via: "cli",
  id,
  version,
  api: ONE,
  connected: false,
  lastSeen: SEEN,
});

/** The legacy product's fleet: server and two runners at 0.8.2, three CLIs at 0.3.0. */
const LEGACY: InventoryJson = {
  server: { version: "0.8.2", api: ONE, entrypoint: ONE },
  activeWindow: "168h",
  components: [
    runner("runner-a", "0.8.2"),
    runner("runner-b", "0.8.2"),
    cli("cli-1", "0.3.0"),
    cli("cli-2", "0.3.0"),
    cli("cli-3", "0.3.0"),
  ],
  rejected: [],
};

/** Two releases whose entrypoint protocols do not overlap: entrypoints cannot follow the server. */
const SPLIT_CATALOG = {
  product: "waypoint-ops",
  releases: [
    { version: "1.0.0", api: ONE, entrypoint: ONE },
    { version: "2.0.0", api: ONE, entrypoint: { min: 2, current: 2 } },
  ],
};
const ENTRYPOINTS: InventoryJson = {
  server: { version: "1.0.0", api: ONE, entrypoint: ONE },
  activeWindow: "168h",
  components: ["web-1", "web-2"].map((id) => ({
    kind: "entrypoint",
    id,
    version: "1.0.0",
    entrypoint: ONE,
    app: "web",
    connected: true,
    lastSeen: SEEN,
  })),
  rejected: [],
};

/** Writes `files` (name → JSON value, or raw text) into a fresh temp dir; returns their paths. */
function writeFiles(t: ExecutionContext, files: Record<string, unknown>): Record<string, string> {
  const dir = tempDir(t, "waypoint-plan-");
  const paths: Record<string, string> = {};
  for (const [name, value] of Object.entries(files)) {
    paths[name] = join(dir, name);
    writeFileSync(paths[name]!, typeof value === "string" ? value : JSON.stringify(value, null, 2));
  }
  return paths;
}

const legacyArgs = (inventory: string, ...more: string[]) => [
  "upgrade",
  "plan",
  `-catalog=${LEGACY_CATALOG}`,
  `-inventory=${inventory}`,
  "-to=0.11.4",
  ...more,
];

interface PlanJson {
  target: string;
  kind: string;
  steps: { action: string; to: string; components: string[]; optional: boolean }[];
  blockers: { components: string[]; reason: string }[];
}

test("plans the legacy fleet as JSON with exactly the documented keys", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, legacyArgs(inv!, "-format=json"));
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, "");
  const plan = JSON.parse(r.stdout) as PlanJson;
  t.deepEqual(Object.keys(plan), ["target", "kind", "steps", "blockers", "warnings", "cost"]);
  for (const step of plan.steps) {
    t.deepEqual(Object.keys(step), [
      "action",
      "to",
      "components",
      "optional",
      "reason",
      "commands",
      "warnings",
    ]);
  }
  t.is(plan.target, "0.11.4");
  t.is(plan.kind, "incompatible");
  t.deepEqual(plan.blockers, []);
  t.deepEqual(
    plan.steps.map((s) => [s.action, s.components.join(","), s.optional]),
    [
      ["snapshot", "server", false],
      ["stop-runners", "runner-a,runner-b", false],
      ["upgrade-server", "server", false],
      ["upgrade-runners", "runner-a,runner-b", false],
      ["upgrade-clients", "cli-1,cli-2,cli-3", true],
      ["verify", "server", false],
    ],
  );
});

test("plans the legacy fleet as text: the version table, then numbered steps", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, legacyArgs(inv!));
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.split("\n");
  t.regex(lines[0] ?? "", /^Upgrade to 0\.11\.4: incompatible/);
  t.deepEqual(lines.slice(2, 6), [
    "COMPONENT  COUNT  CURRENT  PLANNED  TARGET  STATUS",
    "server     1      0.8.2    0.11.4   0.11.4  must move",
    "client     3      0.3.0    0.3.0    0.11.4  optional",
    "runner     2      0.8.2    0.11.4   0.11.4  must move",
  ]);
  const titles = lines.filter((l) => /^\d+\. /.test(l));
  t.deepEqual(titles, [
    "1. snapshot",
    "2. stop-runners",
    "3. upgrade-server → 0.11.4",
    "4. upgrade-runners → 0.11.4",
    "5. upgrade-clients → 0.11.4 (optional)",
    "6. verify",
  ]);
  t.true(lines.includes("   Components: runner-a, runner-b"));
  // The legacy catalog's product is not this package: the install command says what to install, not npm.
  t.true(
    lines.includes(
      "     # install waypoint (legacy HashiCorp releases) 0.11.4, the way it was installed before",
    ),
    "commands are indented under their step",
  );
  t.false(
    r.stdout.includes("npm install -g waypoint-ops@0.11.4"),
    "no npm install of a release this package never had",
  );
  t.true(
    lines.some((l) => l.includes("-catalog=")),
    "the verify commands name the catalog the plan was made with",
  );
});

test("plans the legacy fleet as a Markdown checklist", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, legacyArgs(inv!, "-format=markdown"));
  t.is(r.code, 0, r.stderr);
  t.true(r.stdout.startsWith("# Upgrade to 0.11.4\n"));
  t.true(r.stdout.includes("| server | 1 | 0.8.2 | 0.11.4 | 0.11.4 | must move |"));
  t.is(r.stdout.match(/^- \[ \] \*\*\d+\. /gm)?.length, 6);
  t.true(
    r.stdout.includes(
      "  ```sh\n  # install waypoint (legacy HashiCorp releases) 0.11.4, the way it was installed before\n",
    ),
  );
});

test("-check replays the plan and exits 0 when every state is safe", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, legacyArgs(inv!, "-check", "-format=json"));
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr.trim(), "checked: 7 states, every online component compatible after every step");
  t.notThrows(() => JSON.parse(r.stdout), "stdout keeps the plan alone");
});

test("-check reports the first unsafe state of a broken plan", (t) => {
  const catalog = parseCatalog(readFileSync(LEGACY_CATALOG, "utf8"), LEGACY_CATALOG);
  const plan = planUpgrade(LEGACY, catalog, { target: "0.11.4" });
  const broken = { ...plan, steps: plan.steps.filter((s) => s.action !== "stop-runners") };
  const report = checkReport(broken, simulate(broken, LEGACY, catalog));
  t.false(report.ok);
  t.regex(
    report.lines[0] ?? "",
    /^unsafe after step 2 \(upgrade-server → 0\.11\.4\): runner-a: runner 0\.8\.2 /,
  );
  t.deepEqual(checkReport(plan, simulate(plan, LEGACY, catalog)), {
    ok: true,
    lines: ["checked: 7 states, every online component compatible after every step"],
  });
});

test("exits 1 and prints the blockers when no safe plan exists", async (t) => {
  const { inv, cat } = writeFiles(t, { inv: ENTRYPOINTS, cat: SPLIT_CATALOG });
  const [text, json] = await Promise.all([
    runCli(t, ["upgrade", "plan", `-catalog=${cat}`, `-inventory=${inv}`, "-check"]),
    runCli(t, ["upgrade", "plan", `-catalog=${cat}`, `-inventory=${inv}`, "-format=json"]),
  ]);
  t.is(text.code, 1, text.stderr);
  t.regex(text.stdout, /^Upgrade to 2\.0\.0: impossible/);
  t.regex(text.stdout, /\nBlockers:\n {2}- web-1, web-2: entrypoints at 1\.0\.0 cannot stay compatible/);
  t.regex(text.stderr, /No safe upgrade plan to 2\.0\.0/);
  t.false(text.stderr.includes("checked:"), "nothing to check without a plan");

  t.is(json.code, 1, json.stderr);
  const plan = JSON.parse(json.stdout) as PlanJson;
  t.is(plan.kind, "impossible");
  t.deepEqual(plan.steps, []);
  t.deepEqual(plan.blockers[0]?.components, ["web-1", "web-2"]);
});

test("refuses a target older than the server, pointing at restoring a snapshot", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, [
    "upgrade",
    "plan",
    `-catalog=${LEGACY_CATALOG}`,
    `-inventory=${inv}`,
    "-to=0.8.0",
  ]);
  t.is(r.code, 1);
  t.is(r.stdout, "");
  t.regex(r.stderr, /^Error: the server runs 0\.8\.2, newer than the target 0\.8\.0/);
  t.regex(r.stderr, /restore a snapshot/);
});

test("refuses a target the catalog does not list, naming the catalog", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, [
    "upgrade",
    "plan",
    `-catalog=${LEGACY_CATALOG}`,
    `-inventory=${inv}`,
    "-to=0.99.0",
  ]);
  t.is(r.code, 2);
  t.is(r.stdout, "");
  t.true(r.stderr.includes(`-to=0.99.0: not a release in the catalog ${LEGACY_CATALOG}`), r.stderr);
});

test("without -to, a server newer than the whole catalog names the catalog instead of calling it a downgrade", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, ["upgrade", "plan", `-inventory=${inv}`]);
  t.is(r.code, 2);
  t.regex(r.stderr, /the server runs 0\.8\.2, newer than every release in the catalog \S*waypoint-ops\.json/);
});

const BAD_INPUT: readonly [
  string,
  Record<string, unknown>,
  (p: Record<string, string>) => string[],
  string[],
][] = [
  [
    "inventory that is not JSON",
    { inv: '{"server": {' },
    (p) => [`-inventory=${p.inv}`],
    ["{inv}: not valid JSON"],
  ],
  ["an empty inventory file", { inv: "" }, (p) => [`-inventory=${p.inv}`], ["{inv}: the file is empty"]],
  [
    "inventory with a component missing its version",
    {
      inv: {
        ...LEGACY,
        components: LEGACY.components.map((c) => (c.id === "runner-b" ? { ...c, version: undefined } : c)),
      },
    },
    (p) => [`-inventory=${p.inv}`],
    ['{inv}: components[1] (id "runner-b"): field "version": missing'],
  ],
  [
    "inventory without a server",
    { inv: { components: [] } },
    (p) => [`-inventory=${p.inv}`],
    ['{inv}: field "server": missing'],
  ],
  [
    "a catalog with a broken release",
    {
      inv: ENTRYPOINTS,
      cat: {
        ...SPLIT_CATALOG,
        releases: [SPLIT_CATALOG.releases[0], { version: "2.0.0", api: { min: 2, current: 1 } }],
      },
    },
    (p) => [`-inventory=${p.inv}`, `-catalog=${p.cat}`],
    ['{cat}: release 2.0.0: field "api": min (2) is greater than current (1)'],
  ],
  [
    "a catalog file that does not exist",
    { inv: LEGACY },
    (p) => [`-inventory=${p.inv}`, `-catalog=${p.inv}.missing`],
    ["cannot read catalog {inv}.missing: ENOENT"],
  ],
];

for (const [title, files, args, expected] of BAD_INPUT) {
  test(`rejects ${title} with an error that says where`, async (t) => {
    const paths = writeFiles(t, files);
    const r = await runCli(t, ["upgrade", "plan", ...args(paths)]);
    t.is(r.code, 1, r.stderr);
    t.is(r.stdout, "");
    for (const text of expected) {
      const want = text.replace(/\{(\w+)\}/g, (_, name: string) => paths[name] ?? name);
      t.true(r.stderr.startsWith(`Error: ${want}`), `stderr:\n${r.stderr}\nwanted: Error: ${want}`);
    }
    t.regex(r.stderr, /\nHint: /);
  });
}

test("reads the inventory from stdin with -inventory=-", async (t) => {
  const child = spawn(
    process.execPath,
    ["--import=tsx", "src/bin/waypoint.ts", ...legacyArgs("-", "-format=json")],
    { cwd: REPO_ROOT, env: childEnv(t), stdio: ["pipe", "pipe", "pipe"] },
  );
  t.teardown(() => child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const code = new Promise<number | null>((resolve) => child.once("close", resolve));
  child.stdin.end(JSON.stringify(LEGACY));
  t.is(await code, 0, stderr);
  t.is((JSON.parse(stdout) as PlanJson).kind, "incompatible");
});

test("names stdin when the inventory read from it is empty", async (t) => {
  // runCli closes the child's stdin.
  const r = await runCli(t, ["upgrade", "plan", `-catalog=${LEGACY_CATALOG}`, "-inventory=-"]);
  t.is(r.code, 1);
  t.regex(r.stderr, /^Error: stdin: the file is empty/);
});

test("-out writes the plan with mode 0644 and replaces a file only with -force", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const out = join(tempDir(t), "plan.md");
  const first = await runCli(t, legacyArgs(inv!, "-format=markdown", `-out=${out}`));
  t.is(first.code, 0, first.stderr);
  t.is(first.stdout, "");
  t.true(readFileSync(out, "utf8").startsWith("# Upgrade to 0.11.4\n"));
  t.is(statSync(out).mode & 0o777, 0o644);

  const again = await runCli(t, legacyArgs(inv!, "-format=json", `-out=${out}`));
  t.is(again.code, 1);
  t.regex(again.stderr, /already exists/);
  t.regex(again.stderr, /-force/);
  t.true(readFileSync(out, "utf8").startsWith("# Upgrade"), "the file is untouched");

  const forced = await runCli(t, legacyArgs(inv!, "-format=json", `-out=${out}`, "-force"));
  t.is(forced.code, 0, forced.stderr);
  t.is((JSON.parse(readFileSync(out, "utf8")) as PlanJson).kind, "incompatible");
});

test("rejects an unknown -format as a usage error", async (t) => {
  const { inv } = writeFiles(t, { inv: LEGACY });
  const r = await runCli(t, legacyArgs(inv!, "-format=yaml"));
  t.is(r.code, 2);
  t.regex(r.stderr, /-format=yaml: want text, markdown or json/);
});
