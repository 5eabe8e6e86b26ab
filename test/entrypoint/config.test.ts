import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { startFakeServer } from "../helpers/fake-entrypoint-server.js";
import { waitFor } from "../helpers/wait.js";

const node = process.execPath;
/** Prints "run PID COLOR" at start, then sleeps; exits 0 on SIGTERM. */
const APP = `process.on('SIGTERM', () => process.exit(0)); console.log('run ' + process.pid + ' ' + (process.env.APP_COLOR ?? '-') + ' ' + (process.env.SHARED ?? '-')); setInterval(() => {}, 1000);`;

function runs(stdout: string): { pid: number; color: string; shared: string }[] {
  return [...stdout.matchAll(/^run (\d+) (\S+) (\S+)$/gm)].map((m) => ({
    pid: Number(m[1]),
    color: m[2]!,
    shared: m[3]!,
  }));
}

test("the app starts only once the first configuration arrived, and sees it as environment (config wins)", async (t) => {
  const fake = await startFakeServer(t);
  fake.initialConfig = { APP_COLOR: "blue", SHARED: "from-config" };
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: {
      WAYPOINT_SERVER_ADDR: fake.address,
      WAYPOINT_CEB_INVITE_TOKEN: "tok-123",
      WAYPOINT_DEPLOYMENT_ID: "dep-1",
      SHARED: "inherited",
    },
  });
  const reg = await fake.waitForRegistrations(1);
  await ep.waitForStdout("run ");
  t.deepEqual(
    runs(ep.stdout().toString()).map((r) => [r.color, r.shared]),
    [["blue", "from-config"]],
  );
  t.is(reg.request.deploymentId, "dep-1");
  t.is(reg.metadata.authorization, "Bearer tok-123");
  t.is(reg.metadata["client-kind"], "entrypoint");
  t.is(reg.metadata["client-id"], reg.request.instanceId);
  t.regex(reg.request.instanceId, /^ceb_[0-9a-f]{16}$/);
  t.false(reg.request.execDisabled);
  // The registration came before the app: the app's start is logged after it.
  const records = ep.records();
  const registered = records.findIndex((r) => r.msg === "registered with the server");
  const started = records.findIndex((r) => r.msg === "app started");
  t.true(registered >= 0 && registered < started, JSON.stringify(records));
});

test("a configuration change restarts the app with it; an identical one does not", async (t) => {
  const fake = await startFakeServer(t);
  fake.initialConfig = { APP_COLOR: "blue" };
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_CONFIG_QUIET_MS: "50" },
  });
  await ep.waitForStdout("run ");
  fake.pushConfig({ APP_COLOR: "blue" });
  fake.pushConfig({ APP_COLOR: "green" });
  await ep.waitForStdout(" green ");
  const r = runs(ep.stdout().toString());
  t.deepEqual(
    r.map((x) => x.color),
    ["blue", "green"],
  );
  t.not(r[0]!.pid, r[1]!.pid);
  t.is(ep.child.exitCode, null, "the entrypoint itself keeps running");
  ep.child.kill("SIGTERM");
  t.is((await ep.exited).code, 0);
});

test("a burst of changes is coalesced into one restart with the last configuration", async (t) => {
  const fake = await startFakeServer(t);
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_CONFIG_QUIET_MS: "300" },
  });
  await ep.waitForStdout("run ");
  for (const color of ["c1", "c2", "c3", "c4", "c5"]) fake.pushConfig({ APP_COLOR: color });
  await ep.waitForStdout(" c5 ");
  // Give a wrongly scheduled second restart the time to show up.
  await ep
    .waitForLog("app started", 2000, (r) => r.configVars === 2)
    .then(
      () => t.fail("a second restart happened"),
      () => {},
    );
  t.deepEqual(
    runs(ep.stdout().toString()).map((x) => x.color),
    ["-", "c5"],
  );
});

test("an app that ignores SIGTERM is killed with its whole process group after the grace period", async (t) => {
  const fake = await startFakeServer(t);
  // The app ignores SIGTERM and has a grandchild in its group that does too.
  const app = `sh -c 'trap "" TERM; sleep 300 & echo "grandchild $!"; echo "run $$ \${APP_COLOR:--} -"; while :; do sleep 1; done'`;
  const ep = spawnEntrypoint(t, ["sh", "-c", app], {
    env: {
      WAYPOINT_SERVER_ADDR: fake.address,
      WAYPOINT_CEB_CONFIG_QUIET_MS: "20",
      WAYPOINT_CEB_RESTART_GRACE_MS: "700",
    },
  });
  await ep.waitForStdout("run ");
  const grandchild = Number(/grandchild (\d+)/.exec(ep.stdout().toString())![1]);
  const changedAt = Date.now();
  fake.pushConfig({ APP_COLOR: "red" });
  await ep.waitForStdout(" red ");
  t.true(Date.now() - changedAt >= 700, "waited the grace period");
  await ep.waitForLog("the app ignored SIGTERM: killing its process group");
  await waitFor(() => {
    try {
      process.kill(grandchild, 0);
      return false;
    } catch {
      return true;
    }
  }, "the grandchild to be killed with the group");
  t.pass();
});

test("a change during a restart leads to exactly one more restart, with the latest configuration", async (t) => {
  const fake = await startFakeServer(t);
  // Takes 800 ms to stop on SIGTERM, so the restart is slow; a shell starts well within the quiet period.
  const app = `echo "run $$ \${APP_COLOR:--} -"; trap "sleep 0.8; exit 0" TERM; while :; do sleep 0.05; done`;
  const ep = spawnEntrypoint(t, ["sh", "-c", app], {
    env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_CONFIG_QUIET_MS: "100" },
  });
  await ep.waitForStdout("run ");
  fake.pushConfig({ APP_COLOR: "a" });
  await ep.waitForLog("configuration changed: restarting the app");
  fake.pushConfig({ APP_COLOR: "b" });
  fake.pushConfig({ APP_COLOR: "c" });
  await ep.waitForStdout(" c ");
  await ep
    .waitForLog("app started", 2000, () => ep.records().filter((x) => x.msg === "app started").length > 3)
    .then(
      () => t.fail("more restarts than expected"),
      () => {},
    );
  t.deepEqual(
    runs(ep.stdout().toString()).map((x) => x.color),
    ["-", "a", "c"],
  );
});

test("a signal during a restart stops everything and exits with the app's code", async (t) => {
  const fake = await startFakeServer(t);
  const app = `process.on('SIGTERM', () => setTimeout(() => process.exit(42), 600)); console.log('run ' + process.pid + ' ' + (process.env.APP_COLOR ?? '-') + ' -'); setInterval(() => {}, 1000);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], {
    env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_CONFIG_QUIET_MS: "20" },
  });
  await ep.waitForStdout("run ");
  fake.pushConfig({ APP_COLOR: "new" });
  await ep.waitForLog("configuration changed: restarting the app");
  ep.child.kill("SIGTERM");
  t.is((await ep.exited).code, 42);
  t.deepEqual(
    runs(ep.stdout().toString()).map((x) => x.color),
    ["-"],
    "no new app was started",
  );
});

test("forwarded signals reach the app with a server too, and the exit code is 128 + signal", async (t) => {
  const fake = await startFakeServer(t);
  const ep = spawnEntrypoint(t, ["sh", "-c", "echo up; exec sleep 30"], {
    env: { WAYPOINT_SERVER_ADDR: fake.address },
  });
  await ep.waitForStdout("up");
  ep.child.kill("SIGHUP");
  t.is((await ep.exited).code, 129);
});
