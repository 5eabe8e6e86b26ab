/**
 * The app, deployment and config commands against a real server (in-process,
 * port 0), run through the whole CLI: flags, output and exit codes.
 */
import test from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * Table rows with a CREATED of a few seconds ago read as "now", in the same width: a loaded
 * machine can take seconds between the create and the list, and the column is relative.
 */
const createdNow = (rows: string[]) =>
  rows.map((r) => r.replace(/\b\d+s ago/, (m) => "now".padEnd(m.length)));

/** Runs the CLI against `s` with its management token. */
const as =
  (t: import("ava").ExecutionContext, s: TestServer) =>
  (...args: string[]) =>
    cli(t, args, { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token });

test("apps: create, list as a table and as JSON; a second create of a name fails", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);

  const created = await wp("app", "create", "web");
  t.is(created.code, 0, created.stderr);
  t.is(created.stdout, "");
  t.is(created.stderr, "Created app web. Next: waypoint deployment create -app=web > web.env\n");
  t.is((await wp("app", "create", "api")).code, 0);

  const again = await wp("app", "create", "web");
  t.is(again.code, 1, again.stderr);
  t.regex(again.stderr, /^Error: .*web/);

  const json = await wp("app", "list", "-json");
  t.is(json.code, 0, json.stderr);
  const apps = JSON.parse(json.stdout) as { name: string; createdAt: string; deployments: number }[];
  t.deepEqual(
    apps.map((a) => Object.keys(a)),
    [
      ["name", "createdAt", "deployments", "operations", "entrypointDisabled", "urlDisabled", "url"],
      ["name", "createdAt", "deployments", "operations", "entrypointDisabled", "urlDisabled", "url"],
    ],
  );
  t.deepEqual(apps.map((a) => [a.name, a.deployments]).sort(), [
    ["api", 0],
    ["web", 0],
  ]);
  for (const a of apps) t.regex(a.createdAt, ISO);

  const text = await wp("app", "list");
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split("\n");
  const port = s.server.urlAddress!.split(":").pop();
  t.is(lines[0], "NAME  DEPLOYMENTS  OPERATIONS  CREATED  URL");
  t.deepEqual(createdNow(lines.slice(1)).sort(), [
    `api   0            -           now      http://api.localhost:${port}`,
    `web   0            -           now      http://web.localhost:${port}`,
  ]);
  // An app without deployments: the hint is a command that works as printed.
  const noDeployment = await wp("logs", "-app=web");
  t.is(noDeployment.code, 1, noDeployment.stderr);
  t.regex(
    noDeployment.stderr,
    /app web has no deployments yet\nHint: Create one with `waypoint deployment create -app=web`\./,
  );
  const noExec = await wp("exec", "-app=web", "--", "true");
  t.regex(
    noExec.stderr,
    /Hint: Create one with `waypoint deployment create -app=web` and start an instance of it\./,
  );
});

test("app operations: set at create, shown in list, changed and removed by update, checked for bad input", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  const created = await wp(
    "app",
    "create",
    "web",
    "-build=npm run build",
    `-deploy=./deploy.sh "two words"`,
    "-json",
  );
  t.is(created.code, 0, created.stderr);
  t.deepEqual(JSON.parse(created.stdout).operations, {
    build: "npm run build",
    deploy: './deploy.sh "two words"',
  });
  t.is((await wp("app", "create", "api", "-no-entrypoint")).code, 0);

  const list = await wp("app", "list");
  const port = s.server.urlAddress!.split(":").pop();
  t.deepEqual(createdNow(list.stdout.trimEnd().split("\n").slice(1)).sort(), [
    `api   0            -             now      http://api.localhost:${port}`,
    `web   0            build,deploy  now      http://web.localhost:${port}`,
  ]);

  const updated = await wp("app", "update", "web", "-build=", "-release=./release.sh", "-entrypoint=false");
  t.is(updated.code, 0, updated.stderr);
  t.is(
    updated.stdout,
    'build:      (not defined)\ndeploy:     ./deploy.sh "two words"\nrelease:    ./release.sh\nentrypoint: off (deploys run without it)\n' +
      `url:        on (http://web.localhost:${port})\n`,
  );
  const json = JSON.parse((await wp("app", "list", "-json")).stdout) as {
    name: string;
    operations: object;
    entrypointDisabled: boolean;
  }[];
  t.deepEqual(
    json.map((a) => [a.name, a.operations, a.entrypointDisabled]),
    [
      ["api", {}, true],
      ["web", { deploy: './deploy.sh "two words"', release: "./release.sh" }, true],
    ],
  );
  t.false(
    JSON.parse((await wp("app", "update", "web", "-entrypoint=true", "-json")).stdout).entrypointDisabled,
  );

  // Bad input: each refused with its own message, and nothing changes.
  const nothing = await wp("app", "update", "web");
  t.is(nothing.code, 2);
  t.regex(nothing.stderr, /^Error: nothing to change\nHint: Give -build=CMD/);
  const empty = await wp("app", "create", "db", "-deploy=");
  t.is(empty.code, 2);
  t.regex(empty.stderr, /-deploy is empty/);
  const blank = await wp("app", "update", "web", "-build=   ");
  t.is(blank.code, 2, blank.stderr);
  t.regex(blank.stderr, /the build command is empty/);
  const long = await wp("app", "update", "web", `-build=${"x".repeat(8193)}`);
  t.is(long.code, 2, long.stderr);
  t.regex(long.stderr, /longer than 8192 characters \(put it in a script and run that\)/);
  const missing = await wp("app", "update", "nope", "-build=make");
  t.is(missing.code, 1);
  t.regex(missing.stderr, /no app named "nope"/);
  t.deepEqual(
    (JSON.parse((await wp("app", "list", "-json")).stdout) as { operations: object }[]).map(
      (a) => a.operations,
    ),
    [{}, { deploy: './deploy.sh "two words"', release: "./release.sh" }],
    "the refused changes changed nothing",
  );
});

test("an invalid app name is refused with exit 2", async (t) => {
  const s = await startTestServer(t);
  const r = await as(t, s)("app", "create", "Not_Valid");
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /^Error: /);
});

test("deployment create prints the entrypoint env, warns about a loopback address, and lists", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);

  const r = await wp("deployment", "create", "-app=web");
  t.is(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  t.is(lines.length, 3, r.stdout);
  t.is(lines[0], `WAYPOINT_SERVER_ADDR=${s.address}`);
  t.regex(lines[1]!, /^WAYPOINT_CEB_INVITE_TOKEN=\S{20,}$/);
  t.is(lines[2], "WAYPOINT_DEPLOYMENT_ID=web-v1");
  const token = lines[1]!.slice("WAYPOINT_CEB_INVITE_TOKEN=".length);
  t.false(r.stderr.includes(token), "the token is on stdout only");
  const err = r.stderr.split("\n");
  t.regex(
    err[0]!,
    /^Created deployment web-v1 of app web\. Its entrypoint token \(id \S+\) is shown only once: keep this output\.$/,
  );
  const urlPort = s.server.urlAddress!.split(":")[1];
  t.is(err[1], `Once an instance connects, it is served at http://web--v1.localhost:${urlPort}`);
  t.is(
    err[2],
    `Warning: WAYPOINT_SERVER_ADDR=${s.address} only works on this host; entrypoints on other hosts cannot reach it. Pass -entrypoint-addr=HOST:PORT with an address they can reach.`,
  );

  const j = await wp("deployment", "create", "-app=web", "-json", "-entrypoint-addr=wp.internal:9701");
  t.is(j.code, 0, j.stderr);
  const created = JSON.parse(j.stdout) as Record<string, unknown> & { env: Record<string, string> };
  t.deepEqual(Object.keys(created), ["id", "app", "sequence", "createdAt", "token", "tokenId", "env", "url"]);
  t.is(created.url, `http://web--v2.localhost:${urlPort}`);
  t.is(created.id, "web-v2");
  t.is(created.app, "web");
  t.is(created.sequence, 2);
  t.deepEqual(created.env, {
    WAYPOINT_SERVER_ADDR: "wp.internal:9701",
    WAYPOINT_CEB_INVITE_TOKEN: created.token as string,
    WAYPOINT_DEPLOYMENT_ID: "web-v2",
  });
  t.false(j.stderr.includes("Warning"), "a routable -entrypoint-addr draws no warning");

  const missing = await wp("deployment", "create", "-app=nope");
  t.is(missing.code, 1, missing.stderr);
  t.is(missing.stdout, "");

  const list = await wp("deployment", "list", "-app=web", "-json");
  t.is(list.code, 0, list.stderr);
  const deployments = JSON.parse(list.stdout) as Record<string, unknown>[];
  t.deepEqual(deployments.map((d) => [d.id, d.app, d.sequence, d.connectedInstances]).sort(), [
    ["web-v1", "web", 1, 0],
    ["web-v2", "web", 2, 0],
  ]);
  t.deepEqual(Object.keys(deployments[0]!), [
    "id",
    "app",
    "sequence",
    "createdAt",
    "connectedInstances",
    "url",
  ]);

  const text = await wp("deployment", "list");
  t.is(text.code, 0, text.stderr);
  t.is(text.stdout.split("\n")[0], "ID      APP  CREATED  CONNECTED INSTANCES  URL");

  const apps = JSON.parse((await wp("app", "list", "-json")).stdout) as { deployments: number }[];
  t.is(apps[0]?.deployments, 2);
});

test("the printed token is an entrypoint token for that deployment only", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);
  const created = JSON.parse((await wp("deployment", "create", "-app=web", "-json")).stdout) as {
    token: string;
  };
  const r = await cli(t, ["app", "list"], {
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_SERVER_TOKEN: created.token,
  });
  t.is(r.code, 4, "an entrypoint token may not call the api");
});

test("token new -kind=entrypoint still takes -app and -deployment", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);
  t.is((await wp("deployment", "create", "-app=web")).code, 0);
  const r = await wp("token", "new", "-kind=entrypoint", "-app=web", "-deployment=web-v1");
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^\S{20,}\n$/);
});

test("config: global and per app, the app's value wins, get KEY prints the bare value, unset warns", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);

  const set = await wp("config", "set", "LOG_LEVEL=info", "GREETING=hello world", "URL=postgres://db/x?a=b");
  t.is(set.code, 0, set.stderr);
  t.is(set.stdout, "");
  t.is(
    set.stderr,
    "Set LOG_LEVEL, GREETING, URL globally.\nNo connected entrypoint is affected; instances get it when they start.\n",
  );
  const appSet = await wp("config", "set", "-app=web", "LOG_LEVEL=debug", "PORT=8080");
  t.is(appSet.code, 0, appSet.stderr);
  t.is(appSet.stderr.split("\n")[0], "Set LOG_LEVEL, PORT for app web.");

  const global = await wp("config", "get", "-json");
  t.is(global.code, 0, global.stderr);
  t.deepEqual(
    (JSON.parse(global.stdout) as { name: string }[]).sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: "GREETING", value: "hello world", scope: "" },
      { name: "LOG_LEVEL", value: "info", scope: "" },
      { name: "URL", value: "postgres://db/x?a=b", scope: "" },
    ],
  );

  const resolved = await wp("config", "get", "-app=web", "-json");
  t.is(resolved.code, 0, resolved.stderr);
  t.deepEqual(
    (JSON.parse(resolved.stdout) as { name: string }[]).sort((a, b) => a.name.localeCompare(b.name)),
    [
      { name: "GREETING", value: "hello world", scope: "" },
      { name: "LOG_LEVEL", value: "debug", scope: "web" },
      { name: "PORT", value: "8080", scope: "web" },
      { name: "URL", value: "postgres://db/x?a=b", scope: "" },
    ],
  );

  const text = await wp("config", "get", "-app=web");
  t.is(text.code, 0, text.stderr);
  t.deepEqual(text.stdout.trimEnd().split("\n").slice(1).sort(), [
    "GREETING   global   hello world",
    "LOG_LEVEL  app web  debug",
    "PORT       app web  8080",
    "URL        global   postgres://db/x?a=b",
  ]);
  t.is(text.stdout.split("\n")[0], "NAME       SCOPE    VALUE");

  t.deepEqual(await wp("config", "get", "-app=web", "LOG_LEVEL"), { code: 0, stdout: "debug\n", stderr: "" });
  t.deepEqual(await wp("config", "get", "LOG_LEVEL"), { code: 0, stdout: "info\n", stderr: "" });
  t.deepEqual(await wp("config", "get", "-app=web", "GREETING"), {
    code: 0,
    stdout: "hello world\n",
    stderr: "",
  });
  const one = await wp("config", "get", "-app=web", "PORT", "-json");
  t.deepEqual(JSON.parse(one.stdout), { name: "PORT", value: "8080", scope: "web" });

  const unsetGlobal = await wp("config", "get", "PORT");
  t.is(unsetGlobal.code, 1);
  t.is(unsetGlobal.stdout, "");
  t.is(unsetGlobal.stderr.split("\n")[0], "Error: PORT is not set globally");

  const unset = await wp("config", "unset", "-app=web", "LOG_LEVEL", "NEVER_SET");
  t.is(unset.code, 0, unset.stderr);
  t.is(
    unset.stderr,
    "Warning: NEVER_SET was not set for app web.\nUnset LOG_LEVEL for app web.\nNo connected entrypoint is affected; instances get it when they start.\n",
  );
  t.deepEqual(await wp("config", "get", "-app=web", "LOG_LEVEL"), { code: 0, stdout: "info\n", stderr: "" });

  const bad = await wp("config", "set", "A=1", "oops");
  t.is(bad.code, 2);
  const after = JSON.parse((await wp("config", "get", "-json")).stdout) as { name: string }[];
  t.false(
    after.some((e) => e.name === "A"),
    "nothing of a malformed set is written",
  );
});

test("a readonly token may not read configuration (values are secrets)", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  const readonly = (await wp("token", "new", "-kind=readonly")).stdout.trim();
  const r = await cli(t, ["config", "get"], {
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_SERVER_TOKEN: readonly,
  });
  t.is(r.code, 4, r.stderr);
});
