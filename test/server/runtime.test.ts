import test, { type ExecutionContext } from "ava";
import { AppError } from "../../src/protocol/errors.js";
import { type Ending, entrypointRpc } from "../helpers/entrypoint-rpc.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

/** The AppError code a call failed with, or "OK". */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

async function errorOf(call: Promise<unknown>): Promise<AppError> {
  try {
    await call;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("the call succeeded");
}

/** A server with app web, its deployment web-v1, and that deployment's entrypoint token. */
async function withDeployment(t: ExecutionContext) {
  const s = await startTestServer(t);
  const admin = s.connect({ id: "admin" });
  await admin.createApp("web");
  const created = await admin.createDeployment("web");
  return { s, admin, token: created.token, created };
}

function instance(t: ExecutionContext, s: TestServer, token: string, id: string, deployment = "web-v1") {
  return entrypointRpc(t, { address: s.address, token, id, deployment });
}

test("apps are created once, validated, and listed with their deployment counts", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const web = await admin.createApp("web");
  t.is(web.name, "web");
  t.is(web.deployments, 0);
  t.true(Date.parse(web.createdAt) > 0);
  const dup = await errorOf(admin.createApp("web"));
  t.is(dup.code, "ALREADY_EXISTS");
  t.is(dup.message, 'an app named "web" already exists');
  for (const bad of ["", "Web", "1web", "web-", "we--b", "a".repeat(64), "web_1"]) {
    t.is(await codeOf(admin.createApp(bad)), "INVALID_ARGUMENT", JSON.stringify(bad));
  }
  t.is(await codeOf(admin.createApp("a".repeat(63))), "OK");
  await admin.createApp("api");
  await admin.createDeployment("web");
  await admin.createDeployment("web");
  t.deepEqual(
    (await admin.listApps()).map((a) => [a.name, a.deployments]),
    [
      ["a".repeat(63), 0],
      ["api", 0],
      ["web", 2],
    ],
  );
});

test("a deployment is numbered per app and comes with a working entrypoint token for it", async (t) => {
  const { s, admin, created } = await withDeployment(t);
  t.is(created.deployment.id, "web-v1");
  t.is(created.deployment.app, "web");
  t.is(created.deployment.sequence, 1);
  t.is(created.deployment.connectedInstances, 0);
  t.regex(created.token, /^wpe_[A-Za-z0-9_-]{43}$/);
  t.regex(created.tokenId, /^tok_/);
  t.is((await admin.createDeployment("web")).deployment.id, "web-v2");

  const missing = await errorOf(admin.createDeployment("ghost"));
  t.is(missing.code, "NOT_FOUND");
  t.is(missing.message, 'no app named "ghost"');
  t.true(missing.hint.includes("waypoint app create ghost"), missing.hint);

  // The token registers an instance of web-v1, and only of web-v1.
  const ok = instance(t, s, created.token, "i-1").config();
  t.deepEqual(await ok.message(0), {
    config: [],
    exec: null,
    hasConfig: true,
    tunnel: null,
    pacesLogs: true,
    logCredit: null,
  });
  const other = instance(t, s, created.token, "i-2", "web-v2").config();
  t.like(await other.ended, { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" });
  await waitFor(
    async () => (await admin.listDeployments("web"))[0]?.connectedInstances === 1,
    "web-v1 to count its connected instance",
  );
  t.deepEqual(
    (await admin.listDeployments()).map((d) => [d.id, d.connectedInstances]),
    [
      ["web-v1", 1],
      ["web-v2", 0],
    ],
  );
  t.is(await codeOf(admin.listDeployments("ghost")), "NOT_FOUND");
});

test("an entrypoint token can be created only for an existing deployment of that app", async (t) => {
  const { admin } = await withDeployment(t);
  t.is(
    (await admin.createToken({ kind: "entrypoint", app: "web", deployment: "web-v1" })).kind,
    "entrypoint",
  );
  const err = await errorOf(admin.createToken({ kind: "entrypoint", app: "web", deployment: "web-v2" }));
  t.is(err.code, "NOT_FOUND");
  t.is(err.message, 'app "web" has no deployment "web-v2"');
  await admin.createApp("api");
  t.is(
    await codeOf(admin.createToken({ kind: "entrypoint", app: "api", deployment: "web-v1" })),
    "NOT_FOUND",
    "a deployment of another app",
  );
});

test("configuration: global and per app, resolved with scopes, validated", async (t) => {
  const { admin } = await withDeployment(t);
  t.deepEqual(
    await admin.setConfig({
      set: [
        { name: "LOG_LEVEL", value: "info" },
        { name: "REGION", value: "eu" },
      ],
    }),
    { notFound: [], pushed: 0 },
  );
  t.deepEqual(
    await admin.setConfig({ app: "web", set: [{ name: "LOG_LEVEL", value: "debug" }], unset: ["MISSING"] }),
    { notFound: ["MISSING"], pushed: 0 },
  );
  t.deepEqual(await admin.getConfig(), [
    { name: "LOG_LEVEL", value: "info", scope: "" },
    { name: "REGION", value: "eu", scope: "" },
  ]);
  t.deepEqual(await admin.getConfig({ app: "web" }), [{ name: "LOG_LEVEL", value: "debug", scope: "web" }]);
  t.deepEqual(await admin.getConfig({ app: "web", resolved: true }), [
    { name: "LOG_LEVEL", value: "debug", scope: "web" },
    { name: "REGION", value: "eu", scope: "" },
  ]);
  t.deepEqual(await admin.setConfig({ app: "web", unset: ["LOG_LEVEL"] }), { notFound: [], pushed: 0 });
  t.deepEqual(await admin.getConfig({ app: "web", resolved: true }), [
    { name: "LOG_LEVEL", value: "info", scope: "" },
    { name: "REGION", value: "eu", scope: "" },
  ]);

  const unknownApp = await errorOf(admin.setConfig({ app: "ghost", set: [{ name: "A", value: "1" }] }));
  t.is(unknownApp.code, "NOT_FOUND");
  t.true(unknownApp.hint.includes("waypoint app create ghost"));
  t.is(await codeOf(admin.getConfig({ app: "ghost" })), "NOT_FOUND");

  const reserved = await errorOf(admin.setConfig({ set: [{ name: "WAYPOINT_SERVER_ADDR", value: "x" }] }));
  t.is(reserved.code, "INVALID_ARGUMENT");
  t.is(
    reserved.message,
    'the variable name "WAYPOINT_SERVER_ADDR" starts with WAYPOINT_, which is reserved for the entrypoint\'s own variables',
  );
  for (const [name, value] of [
    ["1A", "x"],
    ["A-B", "x"],
    ["", "x"],
    ["A".repeat(257), "x"],
    ["NUL", "a\u0000b"],
    ["BIG", "x".repeat(64 * 1024 + 1)],
  ] as const) {
    t.is(await codeOf(admin.setConfig({ set: [{ name, value }] })), "INVALID_ARGUMENT", name.slice(0, 10));
  }
  t.is(await codeOf(admin.setConfig({ set: [{ name: "MAX", value: "x".repeat(64 * 1024) }] })), "OK");
  t.is(await codeOf(admin.setConfig({})), "INVALID_ARGUMENT", "an empty change");
});

test("a config change is pushed to the connected entrypoints it affects", async (t) => {
  const { s, admin, token } = await withDeployment(t);
  await admin.createApp("api");
  const api = await admin.createDeployment("api");
  await admin.setConfig({ set: [{ name: "REGION", value: "eu" }] });
  await admin.setConfig({ app: "web", set: [{ name: "PORT", value: "8080" }] });

  const web = instance(t, s, token, "web-1").config();
  const apiStream = instance(t, s, api.token, "api-1", "api-v1").config();
  t.deepEqual(await web.message(0), {
    config: [
      { name: "PORT", value: "8080", secret: false },
      { name: "REGION", value: "eu", secret: false },
    ],
    exec: null,
    hasConfig: true,
    tunnel: null,
    pacesLogs: true,
    logCredit: null,
  });
  t.deepEqual((await apiStream.message(0)).config, [{ name: "REGION", value: "eu", secret: false }]);

  // An app change reaches only that app's instances.
  t.deepEqual(await admin.setConfig({ app: "web", set: [{ name: "PORT", value: "9090" }] }), {
    notFound: [],
    pushed: 1,
  });
  t.deepEqual(await web.message(1), {
    config: [
      { name: "PORT", value: "9090", secret: false },
      { name: "REGION", value: "eu", secret: false },
    ],
    exec: null,
    hasConfig: true,
    tunnel: null,
    pacesLogs: false,
    logCredit: null,
  });
  // A global change reaches everyone, each with its own resolved view.
  t.deepEqual(await admin.setConfig({ set: [{ name: "REGION", value: "us" }] }), { notFound: [], pushed: 2 });
  t.deepEqual((await web.message(2)).config, [
    { name: "PORT", value: "9090", secret: false },
    { name: "REGION", value: "us", secret: false },
  ]);
  t.deepEqual((await apiStream.message(1)).config, [{ name: "REGION", value: "us", secret: false }]);
  t.is(apiStream.messages.length, 2, "the web change was not pushed to api");
});

test("instances: registered with their version and host, listed with connected state and filters", async (t) => {
  const { s, admin, token } = await withDeployment(t);
  const a = instance(t, s, token, "inst-a").config({ hostname: "host-a", pid: 11, execDisabled: true });
  await a.message(0);
  const b = instance(t, s, token, "inst-b").config({ hostname: "host-b", pid: 12 });
  await b.message(0);
  const listed = await admin.listInstances();
  t.deepEqual(
    listed.map((i) => [i.id, i.app, i.deployment, i.hostname, i.pid, i.connected, i.execDisabled]),
    [
      ["inst-a", "web", "web-v1", "host-a", 11, true, true],
      ["inst-b", "web", "web-v1", "host-b", 12, true, false],
    ],
  );
  t.is(listed[0]?.version, "0.1.0");
  t.is(listed[0]?.startedAt, "2026-11-22T10:00:00.000Z");
  // Connected means seen now, not at registration.
  const before = Date.now();
  await new Promise((r) => setTimeout(r, 20));
  const again = await admin.listInstances();
  t.true(again.every((i) => Date.parse(i.lastSeen) >= before && Date.parse(i.firstSeen) < before));
  t.true(listed[0]!.entrypoint.current >= listed[0]!.entrypoint.min && listed[0]!.entrypoint.min >= 1);

  b.cancel();
  await waitFor(
    async () => (await admin.listInstances()).find((i) => i.id === "inst-b")?.connected === false,
    "inst-b to show as disconnected",
  );
  // Seen just now: still within the active window, so still listed by default.
  t.deepEqual(
    (await admin.listInstances()).map((i) => [i.id, i.connected]),
    [
      ["inst-a", true],
      ["inst-b", false],
    ],
  );
  t.deepEqual(await admin.listInstances({ app: "api-missing" }).catch((e: AppError) => e.code), "NOT_FOUND");
  t.deepEqual(
    (await admin.listInstances({ deployment: "web-v2" })).map((i) => i.id),
    [],
  );
  t.deepEqual(
    (await admin.listInstances({ app: "web", deployment: "web-v1", includeInactive: true })).map((i) => i.id),
    ["inst-a", "inst-b"],
  );
  // The inventory lists the entrypoint too.
  const components = (await admin.inventory()).components.filter((c) => c.kind === "entrypoint");
  t.deepEqual(components.map((c) => c.id).sort(), ["inst-a", "inst-b"]);
});

test("security: a secret variable is masked by GetConfig unless revealed, and reaches the entrypoint as is", async (t) => {
  const { s, admin, token } = await withDeployment(t);
  await admin.setConfig({ app: "web", set: [{ name: "DB_PASSWORD", value: "hunter2", secret: true }] });
  await admin.setConfig({ set: [{ name: "REGION", value: "eu" }] });
  t.deepEqual(await admin.getConfig({ app: "web", resolved: true }), [
    { name: "DB_PASSWORD", value: null, scope: "web", secret: true },
    { name: "REGION", value: "eu", scope: "" },
  ]);
  t.deepEqual(await admin.getConfig({ app: "web", resolved: true, reveal: true }), [
    { name: "DB_PASSWORD", value: "hunter2", scope: "web", secret: true },
    { name: "REGION", value: "eu", scope: "" },
  ]);
  const stream = instance(t, s, token, "web-1").config();
  t.deepEqual((await stream.message(0)).config, [
    { name: "DB_PASSWORD", value: "hunter2", secret: false },
    { name: "REGION", value: "eu", secret: false },
  ]);
});

test("a second stream for the same instance replaces the first", async (t) => {
  const { s, admin, token } = await withDeployment(t);
  const first = instance(t, s, token, "dup").config();
  await first.message(0);
  const second = instance(t, s, token, "dup").config();
  await second.message(0);
  t.deepEqual(await first.ended, { status: "OK", code: "OK", message: "" } satisfies Ending);
  t.deepEqual(await admin.setConfig({ set: [{ name: "A", value: "1" }] }), { notFound: [], pushed: 1 });
  t.deepEqual((await second.message(1)).config, [{ name: "A", value: "1", secret: false }]);
  t.is((await admin.listDeployments())[0]?.connectedInstances, 1);
});

test("security: an entrypoint token reaches only its own deployment", async (t) => {
  const { s, admin, token } = await withDeployment(t);
  await admin.createApp("api");
  const api = await admin.createDeployment("api");
  await admin.setConfig({ app: "api", set: [{ name: "API_SECRET", value: "s3cret" }] });
  const ep = s.connect({ token, id: "ep-as-cli" });

  // No management RPCs: no deployment listing, no snapshot, no config.
  t.is(await codeOf(ep.listDeployments()), "PERMISSION_DENIED");
  t.is(await codeOf(ep.getConfig({ app: "api" })), "PERMISSION_DENIED");
  const snapshot = ep.takeSnapshot();
  t.is(
    await codeOf(
      (async () => {
        for await (const _ of snapshot) {
          /* drain */
        }
      })(),
    ),
    "PERMISSION_DENIED",
  );

  // Its config stream for another deployment is refused: it never sees api's configuration.
  const foreign = instance(t, s, token, "spy", "api-v1").config();
  const ending = await foreign.ended;
  t.like(ending, { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" });
  t.deepEqual(foreign.messages, []);
  // The refused registration left no instance behind.
  t.deepEqual(
    (await admin.listInstances({ includeInactive: true })).map((i) => i.id),
    [],
  );

  // An instance id taken by another deployment cannot be claimed.
  const apiInstance = instance(t, s, api.token, "api-1", "api-v1").config();
  await apiInstance.message(0);
  const claim = instance(t, s, token, "api-1", "web-v1").config();
  t.like(await claim.ended, { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" });

  // Logs for another deployment's instance are refused, and nothing is buffered.
  const shipped = await instance(t, s, token, "api-1").logs([
    { instanceId: "api-1", chunks: [{ source: "stdout", data: Buffer.from("forged\n"), at: "" }] },
  ]);
  t.like(shipped, { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) =>
    admin.logs(
      { instance: "api-1" },
      (l) => lines.push(...l.map((x) => x.line)),
      (err) => (err ? reject(err) : resolve()),
    ),
  );
  t.deepEqual(lines, []);
});
