/**
 * The console in a real terminal (tmux), as an operator starts it: with nothing configured it starts
 * an embedded server, saves a context other commands use meanwhile, shows its screens, and quits
 * cleanly, stopping the server. Ink draws nothing when CI is set, so the console runs without it.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { contextsDir, saveContext } from "../../src/client/contexts.js";
import { Fleet } from "../../src/client/fleet.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import { emulatedVersionInfo } from "../../src/protocol/emulation.js";
import { REPO_ROOT, runCli } from "../helpers/process.js";
import { startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { openTerminal, type Terminal, tmuxTest } from "../helpers/tmux.js";
import { waitFor } from "../helpers/wait.js";

const CATALOG = join(REPO_ROOT, "fixtures", "catalogs", "protocol-steps.json");

/**
 * `waypoint ui` in a new 80×24 tmux session with a HOME of its own, nothing configured and no CI
 * variable, once its overview is drawn. The session is killed when the test ends.
 */
function openConsole(t: ExecutionContext, extraEnv = ""): Promise<Terminal> {
  return openTerminal(t, { args: ["ui"], extraEnv, ready: "Warnings", readyWhat: "the overview" });
}

tmuxTest(
  "with nothing configured `waypoint ui` starts an embedded server, shows its screens and quits cleanly",
  async (t) => {
    const c = await openConsole(t);
    const overview = c.screen();
    t.regex(overview, /^waypoint 127\.0\.0\.1:\d+ server \d+\.\d+\.\d+ · api \d/);
    // The note wraps rather than cut where the data is.
    const dbPath = join(c.home, "data", "waypoint", "data.db").replace(/\./g, "\\.");
    t.regex(overview.replace(/\n/g, ""), new RegExp(`data: ?${dbPath}`));
    t.regex(overview, /embedded server, stops when you quit/);
    t.regex(overview, / 1 Overview {2}2 Versions {2}3 Plan {2}4 Snapshots {2}5 Runtime {2}\? help · q quit/);
    if (/context "embedded" reaches it/.test(overview)) {
      // Another command, in another process, reaches the embedded server through the saved context.
      const versions = await runCli(t, ["versions", "-json"], { env: c.env });
      t.is(versions.code, 0, versions.stderr);
      t.true(readFileSync(join(c.home, "config", "waypoint", "current"), "utf8").startsWith("embedded"));
    }
    c.keys("2");
    await waitFor(() => c.screen().includes("Versions in use"), "the versions screen");
    t.regex(c.screen(), /›▸ client +\d+\.\d+\.\d+ +api \d/);
    c.keys("?");
    await waitFor(() => c.screen().includes("Keys (Versions)"), "the help");
    // The embedded server's snapshots go beside its data, not into the working directory.
    c.keys("4");
    await waitFor(() => c.screen().includes("Snapshots in"), "the snapshots screen");
    t.regex(c.screen(), new RegExp(`Snapshots in ${join(c.home, "data", "waypoint", "snapshots")}`));
    c.keys("q");
    await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
    t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
    // The server stopped with it: the database is closed and complete.
    t.regex(
      readFileSync(join(c.home, "data", "waypoint", "server.log"), "utf8"),
      /database checkpointed and closed/,
    );
    // The context saved for it went with it: other commands do not name a server that is gone.
    t.false(existsSync(join(c.home, "config", "waypoint", "contexts", "embedded.json")));
    t.false(existsSync(join(c.home, "config", "waypoint", "current")));
  },
);

tmuxTest(
  "a context of the user's named `embedded` is neither replaced nor removed by the console",
  async (t) => {
    const theirs = {
      name: "embedded",
      address: "10.1.2.3:7400",
      token: "their-token",
      tls: false,
      tlsSkipVerify: false,
      createdAt: "2026-01-01T00:00:00.000Z",
    };
    const c = await openTerminal(t, {
      args: ["ui"],
      ready: "Warnings",
      readyWhat: "the overview",
      // Saved, not current: with nothing else configured the console starts its embedded server.
      prepare: (env) => saveContext(contextsDir(env), theirs),
    });
    // On the default ports (free unless another test's console holds them) the console would save its
    // context: it must see that this one is not its own.
    t.regex(c.screen(), /your context "embedded" is left as it is|default ports taken/);
    const file = join(c.home, "config", "waypoint", "contexts", "embedded.json");
    t.like(JSON.parse(readFileSync(file, "utf8")), { address: "10.1.2.3:7400", token: "their-token" });
    c.keys("q");
    await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
    t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
    t.like(JSON.parse(readFileSync(file, "utf8")), { address: "10.1.2.3:7400", token: "their-token" });
    t.false(existsSync(join(c.home, "config", "waypoint", "current")), "nothing was made current");
  },
);

tmuxTest("with NO_COLOR the console draws without colour codes", async (t) => {
  const c = await openConsole(t, "NO_COLOR=1");
  // -e keeps the escape sequences: none for colour (SGR 30-37, 90-97) or inverse (7).
  const sgr = new RegExp(`${String.fromCharCode(27)}\\[(?:\\d+;)*(?:3\\d|9\\d|7)m`);
  t.notRegex(c.screen(true), sgr);
  c.keys("2");
  await waitFor(() => c.screen().includes("Versions in use"), "the versions screen");
  t.regex(c.screen(), /›▸ client/, "the selection still shows");
  c.keys("q");
});

tmuxTest("SIGTERM to the console closes its embedded server cleanly", async (t) => {
  const c = await openConsole(t);
  process.kill(c.pid(), "SIGTERM");
  await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
  t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
  t.regex(
    readFileSync(join(c.home, "data", "waypoint", "server.log"), "utf8"),
    /database checkpointed and closed/,
  );
  // The token is kept beside the data (0600) and used again next time.
  t.regex(readFileSync(join(c.home, "data", "waypoint", "console-token"), "utf8"), /^wpm_/);
});

test("not on a terminal, the console says what to use instead", async (t) => {
  const r = await runCli(t, ["ui"]);
  t.is(r.code, 2);
  t.is(
    r.stderr,
    "Error: the console needs a terminal on stdin and stdout\nHint: For scripts and pipes use `waypoint versions [-json]` and `waypoint upgrade plan`.\n",
  );
});

tmuxTest(
  "against a real server and fleet: every screen, a plan to follow, a snapshot taken and found, a restore staged and cancelled",
  async (t) => {
    const catalog = parseCatalog(readFileSync(CATALOG, "utf8"), CATALOG);
    const s = await startTestServer(t, { versionInfo: emulatedVersionInfo(catalog, "0.2.0") });
    const fleet = await Fleet.start({
      server: { address: s.address, tls: false, tlsSkipVerify: false },
      managementToken: s.token,
      catalog,
      groups: [
        { kind: "cli", count: 2, version: "0.2.0" },
        { kind: "entrypoint", count: 3, version: "0.1.0", app: "web", deployment: "web-v1" },
      ],
    });
    t.teardown(() => fleet.stop());
    const dir = tempDir(t);
    const c = await openTerminal(t, {
      args: ["ui", "-emulate-version=0.2.0", `-catalog=${CATALOG}`, `-snapshot-dir=${dir}`],
      extraEnv: `WAYPOINT_SERVER_ADDR=${s.address} WAYPOINT_SERVER_TOKEN=${s.token}`,
      ready: "Warnings",
      readyWhat: "the overview",
    });
    const screen = (text: string, what: string) =>
      waitFor(() => c.screen().includes(text), what).then(
        () => c.screen(),
        (err: Error) => {
          throw new Error(`${err.message}; the screen:\n${c.screen()}`);
        },
      );

    const overview = await screen("must move before the server can reach 0.4.0", "the plan's warning");
    t.regex(overview, /server 0\.2\.0 \(emulated\)/);
    t.regex(overview, /Server up \d+s · database [\d.]+ [KM]iB · state index \d+ · last snapshot never/);
    t.regex(overview, /entrypoint +3 \(3 connected\) on 1 version/);
    for (const line of overview.trimEnd().split("\n")) t.true(line.length <= 80, line);

    c.keys("2");
    const versions = await screen("marks for 0.4.0", "the versions screen");
    t.regex(versions, /entrypoint 0\.1\.0 .* must move first/);

    c.keys("3");
    const plan = await screen("Steps", "the plan screen");
    t.regex(plan, /Plan to +0\.2\.0 +0\.3\.0 ‹0\.4\.0›/);
    t.regex(plan, /redeploy-entrypoints → 0\.\d\.0 +entrypoints on 0\.1\.0: 0 of 3 redeployed/);
    t.regex(plan, /›· 1\. snapshot +none since the plan was made: s takes one/);
    // The plan's snapshot step, run from here: the file is written, verified, and the step is done.
    c.keys("s");
    await screen("✓ wrote waypoint-snapshot-", "the snapshot to be written");
    const files = readdirSync(dir);
    t.is(files.length, 1, files.join(" "));
    t.regex(files[0]!, /^waypoint-snapshot-\d{8}T\d{6}Z\.snap$/);
    const tar = spawnSync("tar", ["-tzf", join(dir, files[0]!)], { encoding: "utf8" });
    t.deepEqual(tar.stdout.trim().split("\n"), ["meta.json", "data.db", "SHA256SUMS"]);
    await screen("✓ 1. snapshot", "the snapshot step done");

    c.keys("4");
    await screen("Snapshots in", "the snapshots screen");
    const list = await screen(`›  ${files[0]}`, "the snapshot in the list");
    t.regex(list, /last taken: \d+s ago \(snap_/);
    t.notRegex(list, /CREATED/, "no room for the creation time in 80 columns");
    // A wider terminal: the table grows a column at once.
    c.resize(120, 30);
    await screen("CREATED", "the table redrawn for 120 columns");
    c.resize(80, 24);
    await waitFor(() => !c.screen().includes("CREATED"), "the table redrawn for 80 columns");
    c.keys("v");
    await screen(`✓ ${files[0]}: ok:`, "the verification");
    t.regex(c.screen(), /✓ \d+s ago/);
    // Stage it: a y, typed, goes ahead; the server has it staged.
    c.keys("g");
    await screen("Type y and enter", "the stage confirmation");
    c.keys("y");
    c.keys("Enter");
    await screen("✓ staged snap_", "the restore to be staged");
    t.true((await s.connect().stagedRestore()).staged);
    await screen("· x cancels", "the staged restore on screen");
    c.keys("x");
    await screen("Cancel the staged restore", "the cancel confirmation");
    c.keys("y");
    c.keys("Enter");
    await screen("staged restore: none", "the stage to be cancelled");
    t.false((await s.connect().stagedRestore()).staged);

    c.keys("5");
    await screen("Instances", "the runtime screen");
    // The fleet's deployment with its URL on the server's URL service, in 80 columns.
    const port = s.server.urlAddress!.split(":").pop();
    const runtime = await screen(`http://web--v1.localhost:${port}`, "the deployment's URL");
    t.regex(runtime, new RegExp(` {2}web-v1 +web +3 connected +http://web--v1\\.localhost:${port}\n`));
    for (const line of runtime.trimEnd().split("\n")) t.true(line.length <= 80, line);
    c.keys("q");
    await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
    t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
  },
);
