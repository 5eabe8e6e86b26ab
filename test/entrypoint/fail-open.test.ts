import * as grpc from "@grpc/grpc-js";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { startFakeServer } from "../helpers/fake-entrypoint-server.js";
import { freePort } from "../helpers/process.js";

const node = process.execPath;
const APP = `process.on('SIGTERM', () => process.exit(0)); console.log('run ' + (process.env.APP_COLOR ?? '-')); setInterval(() => {}, 1000);`;

test("unreachable server: the app starts within 5 s without config; when the server appears, config applies", async (t) => {
  const port = await freePort();
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: {
      WAYPOINT_SERVER_ADDR: `127.0.0.1:${port}`,
      WAYPOINT_CEB_RETRY_MAX_MS: "500",
      WAYPOINT_CEB_CONFIG_QUIET_MS: "20",
    },
  });
  await ep.waitForStdout("run -");
  // Measured by the entrypoint's own clock (its first connection attempt to the app's start), so a slow
  // start-up of tsx on a loaded machine does not count.
  const records = ep.records();
  const first = Date.parse(String(records.find((r) => r.msg === "connecting to the server")?.time));
  const appStarted = Date.parse(String(records.find((r) => r.msg === "app started")?.time));
  t.true(appStarted - first <= 5_200, `the app started ${appStarted - first} ms after the first attempt`);
  t.true(appStarted - first >= 4_900, "it did wait for the server first");
  await ep.waitForLog(
    "no configuration from the server yet: starting the app without it (it applies when the server answers)",
  );
  const fake = await startFakeServer(t, port);
  fake.initialConfig = { APP_COLOR: "late" };
  await fake.waitForRegistrations(1);
  await ep.waitForStdout("run late");
  t.deepEqual(ep.stdout().toString().trim().split("\n"), ["run -", "run late"]);
});

test("an empty first configuration does not restart an app that started without one", async (t) => {
  const port = await freePort();
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: {
      WAYPOINT_SERVER_ADDR: `127.0.0.1:${port}`,
      WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "300",
      WAYPOINT_CEB_RETRY_MAX_MS: "300",
      WAYPOINT_CEB_CONFIG_QUIET_MS: "20",
    },
  });
  await ep.waitForStdout("run -");
  const fake = await startFakeServer(t, port);
  await fake.waitForRegistrations(1);
  await ep.waitForLog("configuration changed: restarting the app", 1500).then(
    () => t.fail("restarted for an empty configuration"),
    () => {},
  );
  t.is(ep.stdout().toString(), "run -\n");
});

for (const [name, code] of [
  ["UNAUTHENTICATED", grpc.status.UNAUTHENTICATED],
  ["PERMISSION_DENIED", grpc.status.PERMISSION_DENIED],
  ["FAILED_PRECONDITION", grpc.status.FAILED_PRECONDITION],
] as const) {
  test(`a refusal (${name}) fails open at once, is logged at error level, and is retried`, async (t) => {
    const fake = await startFakeServer(t);
    fake.refuse = code;
    const ep = spawnEntrypoint(t, [node, "-e", APP], {
      env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_RETRY_MAX_MS: "400" },
    });
    await ep.waitForStdout("run -");
    const refused = ep
      .records()
      .filter((r) => String(r.msg).startsWith("the server refused this entrypoint"));
    t.true(refused.length >= 1);
    t.is(refused[0]!.level, 50);
    t.false(ep.records().some((r) => String(r.msg).startsWith("no configuration from the server yet")));
    fake.refuse = undefined;
    fake.initialConfig = { APP_COLOR: "accepted" };
    await fake.waitForRegistrations(1);
    await ep.waitForStdout("run accepted");
  });
}

test("WAYPOINT_CEB_SERVER_REQUIRED waits for the server, however long it takes", async (t) => {
  const port = await freePort();
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: {
      WAYPOINT_SERVER_ADDR: `127.0.0.1:${port}`,
      WAYPOINT_CEB_SERVER_REQUIRED: "true",
      WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "200",
      WAYPOINT_CEB_RETRY_MAX_MS: "300",
    },
  });
  // Well past the startup timeout: still nothing.
  await ep.waitForLog("server still unreachable", 10_000, (r) => Number(r.retryInMs) >= 0);
  await ep.waitForStdout("run", 2000).then(
    () => t.fail("started without the server"),
    () => {},
  );
  const fake = await startFakeServer(t, port);
  fake.initialConfig = { APP_COLOR: "required" };
  await ep.waitForStdout("run required");
  t.is(ep.stdout().toString(), "run required\n");
});

test("after the server ends the config stream (shutdown), the entrypoint registers again; the app is untouched", async (t) => {
  const fake = await startFakeServer(t);
  const ep = spawnEntrypoint(t, [node, "-e", APP], {
    env: { WAYPOINT_SERVER_ADDR: fake.address, WAYPOINT_CEB_RETRY_MAX_MS: "300" },
  });
  await ep.waitForStdout("run -");
  const first = await fake.waitForRegistrations(1);
  fake.endStreams();
  const second = await fake.waitForRegistrations(2);
  t.is(second.request.instanceId, first.request.instanceId, "the same instance");
  t.is(ep.stdout().toString(), "run -\n");
});
