/**
 * `waypoint demo` (npm run demo): a server on a temporary database emulating an older release of the demo
 * catalog, a simulated fleet on it, and the console, all labelled as simulated; and the demo catalog gives
 * that fleet a plan of several steps, so the demo always has a real plan to show.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { DEMO_CONSOLE_ID, DEMO_FLEET, DEMO_SERVER_VERSION, startDemo } from "../../src/cli/demo.js";
import { Connection } from "../../src/client/connection.js";
import { planUpgrade } from "../../src/planner/plan.js";
import { simulate } from "../../src/planner/simulate.js";
import { clientIdentity } from "../../src/protocol/headers.js";
import { runCli } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { openTerminal, type Terminal, tmuxTest } from "../helpers/tmux.js";
import { waitFor } from "../helpers/wait.js";

const count = (pred: (g: (typeof DEMO_FLEET)[number]) => boolean) =>
  DEMO_FLEET.filter(pred).reduce((n, g) => n + g.count, 0);
const FLEET_SIZE = count(() => true);
/** The 2.1.0 runners, which the 1.2.0 server refuses. */
const REFUSED = count((g) => g.kind === "runner" && g.version === "2.1.0");

/** The demo's temporary data dirs under `tmp`. */
const demoDirs = (tmp: string) => readdirSync(tmp).filter((f) => f.startsWith("waypoint-demo-"));

/** `waypoint demo` in an 80×24 terminal with TMPDIR of its own (returned), once its overview is drawn. */
async function openDemo(t: ExecutionContext): Promise<{ c: Terminal; tmp: string }> {
  const tmp = tempDir(t, "waypoint-demo-tmp-");
  const c = await openTerminal(t, {
    args: ["demo"],
    extraEnv: `TMPDIR=${tmp}`,
    ready: "Warnings",
    readyWhat: "the demo's overview",
  });
  return { c, tmp };
}

tmuxTest("the demo shows a simulated fleet, labelled as such, and leaves nothing behind", async (t) => {
  const { c, tmp } = await openDemo(t);
  t.is(demoDirs(tmp).length, 1, "its data is in a temporary dir while it runs");
  const overview = c.screen();
  t.regex(
    overview,
    new RegExp(`^waypoint 127\\.0\\.0\\.1:\\d+ server ${DEMO_SERVER_VERSION} \\(emulated\\)`),
  );
  t.regex(
    overview,
    new RegExp(
      `\\nDEMO: server emulates ${DEMO_SERVER_VERSION}, temp db, ${FLEET_SIZE} simulated components; nothing persists\\n`,
    ),
  );
  // Every simulated entrypoint and runner the server accepted, on the versions they emulate.
  const runners = count((g) => g.kind === "runner") - REFUSED;
  const entrypoints = count((g) => g.kind === "entrypoint");
  await waitFor(
    () =>
      new RegExp(`runner +${runners} \\(${runners} connected\\) on 2 versions`).test(c.screen()) &&
      new RegExp(`entrypoint +${entrypoints} \\(${entrypoints} connected\\) on 3 versions`).test(c.screen()),
    "the simulated fleet in the overview",
  );
  // The simulated clients, the fleet's admin (sim-admin) and the console itself.
  const clients = count((g) => g.kind === "cli" || g.kind === "ui") + 2;
  await waitFor(() => new RegExp(`client +${clients} `).test(c.screen()), "the clients in the overview");
  t.regex(
    c.screen(),
    new RegExp(`! ${REFUSED} components were refused; latest runner sim-runner-\\d+ 2\\.1\\.0`),
  );

  c.keys("2");
  await waitFor(() => c.screen().includes("Versions in use"), "the versions screen");
  t.regex(c.screen(), /entrypoint 1\.0\.0 +api - +ep 1 +6 /);
  t.regex(c.screen(), new RegExp(`Refused \\(${REFUSED}\\)\\n +runner sim-runner-\\d+ 2\\.1\\.0`));
  // The web app's entrypoints, expanded: simulated ids on a simulated host.
  c.keys("/");
  c.keys("web");
  c.keys("Enter");
  await waitFor(() => c.screen().includes("filter: web · 1 group"), "the filter");
  c.keys("Enter");
  await waitFor(
    () => /sim-entrypoint-\d+ +web web-v12 fleet-simulator/.test(c.screen()),
    "the expanded group",
  );
  t.is(c.screen().match(/sim-entrypoint-\d+ +web web-v12/g)?.length, 6);

  // Snapshots the console takes go to the temporary dir too.
  c.keys("Escape");
  c.keys("4");
  await waitFor(
    () => c.screen().includes(`Snapshots in ${join(tmp, demoDirs(tmp)[0] ?? "?", "snapshots")}`),
    "the snapshots screen on the temporary dir",
  );

  c.keys("q");
  await waitFor(() => existsSync(c.exitFile), "the demo to exit", 20_000);
  t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
  t.deepEqual(demoDirs(tmp), [], "its temporary data is gone");
  // Nothing of the user's: no context, no client id, no data dir.
  t.false(existsSync(join(c.home, "config")));
  t.false(existsSync(join(c.home, "data")));
});

tmuxTest("SIGTERM ends the demo like q: exit 0, temporary data removed", async (t) => {
  const { c, tmp } = await openDemo(t);
  process.kill(c.pid(), "SIGTERM");
  await waitFor(() => existsSync(c.exitFile), "the demo to exit", 20_000);
  t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
  t.deepEqual(demoDirs(tmp), []);
});

test("not on a terminal, the demo says how to run it", async (t) => {
  const tmp = tempDir(t, "waypoint-demo-tmp-");
  const r = await runCli(t, ["demo"], { env: { TMPDIR: tmp } });
  t.is(r.code, 2);
  t.is(
    r.stderr,
    'Error: the demo needs a terminal on stdin and stdout\nHint: Run `npm run demo` (or `waypoint demo`) in a terminal. For scripts, see README "Emulation": a server with -emulate-version and `waypoint upgrade plan`.\n',
  );
  t.deepEqual(demoDirs(tmp), [], "nothing was started");
});

test("the demo catalog gives the demo's fleet a safe plan of several steps", async (t) => {
  const d = await startDemo();
  t.teardown(() => d.close());
  t.is(d.fleet.count("connected"), FLEET_SIZE - REFUSED);
  t.is(d.fleet.count("rejected"), REFUSED);
  // The inventory as the console reads it (the console's own connection included).
  const conn = new Connection(
    { address: d.address, token: d.token, tls: false, tlsSkipVerify: false, source: "test" },
    clientIdentity("ui", DEMO_CONSOLE_ID, d.info),
  );
  t.teardown(() => conn.close());
  const { generatedAt: _ignored, ...inventory } = await conn.inventory(false);
  t.is(inventory.rejected.length, REFUSED);

  const plan = planUpgrade(inventory, d.catalog);
  t.is(plan.kind, "incompatible");
  t.deepEqual(
    plan.steps.map((s) => `${s.action} ${s.to}${s.optional ? " (optional)" : ""}`),
    [
      "snapshot 2.1.0",
      "upgrade-clients 2.0.0",
      "redeploy-entrypoints 2.1.0",
      "upgrade-server 1.3.0",
      "upgrade-clients 2.1.0",
      "upgrade-runners 2.1.0",
      "upgrade-server 2.1.0",
      "upgrade-clients 2.1.0 (optional)",
      "redeploy-entrypoints 2.1.0 (optional)",
      "verify 2.1.0",
    ],
  );
  t.true(plan.steps.every((s) => s.reason.length > 0));
  t.regex(plan.steps[0]!.warnings.join("\n"), /snapshot taken while a deploy runs/);
  t.regex(plan.steps[3]!.reason, /^Required stop: 2\.1\.0 accepts upgrades only from >=1\.3\.0/);
  t.regex(plan.steps[2]!.reason, /entrypoint protocol 1, server 1\.3\.0 speaks 2/);
  t.deepEqual(plan.warnings, [], "every component is on a release of the demo catalog");
  t.true(simulate(plan, inventory, d.catalog).ok, "every step keeps every online component compatible");

  await d.close();
  t.false(existsSync(d.dataDir), "close() removes the temporary data");
});
