/**
 * Token secrets and secret configuration values never reach a log or an
 * error message. One journey with real processes at their most verbose: a
 * server at trace level with grpc-js's own call traces on (which quote every
 * call's headers), a CLI doing bootstrap, tokens, secret config, a
 * deployment, exec, logs and snapshots, a failing call with a wrong token and
 * with a malformed one, entrypoints at trace level (one accepted, one
 * refused), and deploy jobs run by a runner agent and by the CLI itself. Then every log and error stream is searched for every secret.
 *
 * Searched: the server's stderr, every CLI run's stderr, the entrypoints'
 * stderr. Not searched: the CLI's stdout, where `server bootstrap`,
 * `token new`, `deployment create` and `config get -reveal` print a secret
 * once on purpose, and the app's own stdout.
 */
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { type EntrypointProcess, spawnEntrypoint } from "../helpers/entrypoint.js";
import {
  type CliResult,
  lastLine,
  runCli,
  type SpawnOptions,
  spawnWaypoint,
  startServerProcess,
} from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

/** grpc-js's call traces: with these, every call's metadata (authorization included) is logged. */
const GRPC_TRACING = { GRPC_TRACE: "all", GRPC_VERBOSITY: "DEBUG" };

const fakeToken = (prefix: string) => `${prefix}${randomBytes(32).toString("base64url")}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

test("no token secret, secret config value or passphrase appears in any log or error output", async (t) => {
  const server = await startServerProcess(t, { args: ["-vvv"], env: GRPC_TRACING });
  const address = server.grpcAddress;

  /** Every stderr worth searching, with where it came from. */
  const outputs: { from: string; text: string }[] = [];
  const wp = async (args: string[], opts: SpawnOptions & { token?: string } = {}): Promise<CliResult> => {
    const r = await runCli(t, args, {
      ...opts,
      env: {
        WAYPOINT_SERVER_ADDR: address,
        ...(opts.token === undefined ? {} : { WAYPOINT_SERVER_TOKEN: opts.token }),
        ...GRPC_TRACING,
        ...opts.env,
      },
    });
    outputs.push({ from: `waypoint ${args.join(" ")} (stderr)`, text: r.stderr });
    return r;
  };
  const ok = (r: CliResult) => t.is(r.code, 0, r.stderr);

  const boot = await wp(["server", "bootstrap"]);
  ok(boot);
  const management = lastLine(boot.stdout);
  const as = { token: management };
  const readonlyRun = await wp(["token", "new", "-kind=readonly"], as);
  ok(readonlyRun);
  const readonly = lastLine(readonlyRun.stdout);
  const runnerRun = await wp(["token", "new", "-kind=runner"], as);
  ok(runnerRun);
  const runner = lastLine(runnerRun.stdout);

  // A context holding the token: none of its commands prints it, on stderr or stdout.
  ok(await wp(["context", "create", `-server-addr=${address}`, `-server-token=${management}`, "leak"]));
  for (const args of [
    ["context", "list"],
    ["context", "list", "-json"],
    ["context", "verify", "leak"],
  ]) {
    const r = await wp(args, { env: { WAYPOINT_SERVER_ADDR: undefined } });
    ok(r);
    outputs.push({ from: `waypoint ${args.join(" ")} (stdout)`, text: r.stdout });
  }

  // Secret configuration, global and per app, and a plain variable beside them.
  const dbPassword = `pw-${randomBytes(12).toString("hex")}`;
  const apiKey = `key-${randomBytes(12).toString("hex")}`;
  ok(await wp(["app", "create", "web"], as));
  ok(await wp(["config", "set", "-secret", `DB_PASSWORD=${dbPassword}`], as));
  ok(await wp(["config", "set", "-secret", "-app=web", `API_KEY=${apiKey}`], as));
  ok(await wp(["config", "set", "-app=web", "REGION=eu"], as));

  // config get masks them unless -reveal; the JSON says which are secret.
  const table = await wp(["config", "get", "-app=web"], as);
  ok(table);
  t.false(table.stdout.includes(dbPassword) || table.stdout.includes(apiKey), table.stdout);
  t.regex(table.stdout, /DB_PASSWORD\s+global\s+\*{8}/);
  const json = await wp(["config", "get", "-app=web", "-json"], as);
  ok(json);
  t.deepEqual(JSON.parse(json.stdout), [
    { name: "API_KEY", value: null, scope: "web", secret: true },
    { name: "DB_PASSWORD", value: null, scope: "", secret: true },
    { name: "REGION", value: "eu", scope: "web" },
  ]);
  const hidden = await wp(["config", "get", "DB_PASSWORD"], as);
  t.is(hidden.code, 2, hidden.stderr);
  t.regex(hidden.stderr, /DB_PASSWORD is secret; its value is shown only with -reveal/);
  const revealed = await wp(["config", "get", "-reveal", "DB_PASSWORD"], as);
  ok(revealed);
  t.is(revealed.stdout, `${dbPassword}\n`);

  // A deployment, and a second entrypoint token for it.
  const created = await wp(["deployment", "create", "-app=web", "-json"], as);
  ok(created);
  const deployment = JSON.parse(created.stdout) as { id: string; token: string };
  const another = await wp(
    ["token", "new", "-kind=entrypoint", "-app=web", `-deployment=${deployment.id}`],
    as,
  );
  ok(another);
  const entrypointToken2 = lastLine(another.stdout);

  // The app: prints nothing secret, and has its configuration in its environment.
  const entrypointEnv = (token: string) => ({
    WAYPOINT_SERVER_ADDR: address,
    WAYPOINT_CEB_INVITE_TOKEN: token,
    WAYPOINT_DEPLOYMENT_ID: deployment.id,
    WAYPOINT_LOG_LEVEL: "trace",
    ...GRPC_TRACING,
  });
  const entrypoints: { from: string; ep: EntrypointProcess }[] = [];
  const app = spawnEntrypoint(t, ["sh", "-c", "echo app-started; echo app-stderr >&2; exec sleep 600"], {
    env: entrypointEnv(deployment.token),
  });
  entrypoints.push({ from: "entrypoint (accepted)", ep: app });
  await app.waitForStdout("app-started");
  await app.waitForLog("configuration received");
  ok(await wp(["instances"], { token: readonly }));
  await waitFor(
    async () => (await wp(["logs", "-app=web"], { token: readonly })).stdout.includes("app-started"),
    "the app's output in waypoint logs",
  );

  // An entrypoint with a token the server never made is refused, and says so without quoting it.
  const wrongEntrypoint = fakeToken("wpe_");
  const refused = spawnEntrypoint(t, ["sh", "-c", "exec sleep 600"], { env: entrypointEnv(wrongEntrypoint) });
  entrypoints.push({ from: "entrypoint (refused)", ep: refused });
  await refused.waitForLog(
    "the server refused this entrypoint: the app runs without configuration, logs and exec until it is accepted",
  );

  // exec sees the secret values (checked by hash, so they are not printed) and never the entrypoint's token.
  const exec = await wp(
    [
      "exec",
      "-app=web",
      "--",
      "sh",
      "-c",
      'printf %s "$DB_PASSWORD:$API_KEY" | sha256sum; test -z "$WAYPOINT_CEB_INVITE_TOKEN" && echo token=none',
    ],
    as,
  );
  ok(exec);
  t.true(exec.stdout.includes(sha256(`${dbPassword}:${apiKey}`)), exec.stdout);
  t.true(exec.stdout.includes("token=none"), exec.stdout);

  // Failing calls: a wrong token, malformed tokens (one a real token with a stray newline), a token
  // of a kind that may not make the call, and a wrong token over HTTP.
  const wrongManagement = fakeToken("wpm_");
  t.is((await wp(["versions"], { token: wrongManagement })).code, 4);
  const pastedBadly = await wp(["versions"], { token: `${management}\nx` });
  t.is(pastedBadly.code, 4, pastedBadly.stderr);
  t.regex(pastedBadly.stderr, /holds a control character/);
  t.is((await wp(["versions"], { token: `${management}é` })).code, 4);
  t.is((await wp(["versions"], { token: `${wrongManagement} trailing` })).code, 4);
  t.is((await wp(["job", "list"], { token: runner })).code, 4);
  t.is((await wp(["config", "get"], { token: readonly })).code, 4);
  const http = await fetch(`http://${server.httpAddress}/v1/snapshot`, {
    headers: { authorization: `Bearer ${wrongManagement}` },
  });
  t.is(http.status, 401);
  outputs.push({ from: "HTTP 401 body", text: await http.text() });

  // Snapshots, plain and encrypted.
  const cwd = tempDir(t, "waypoint-cwd-");
  const passphrase = `pass-${randomBytes(12).toString("hex")}`;
  ok(await wp(["server", "snapshot", "plain.snap"], { ...as, cwd }));
  ok(
    await wp(["server", "snapshot", "-encrypt", "sealed.snap"], {
      ...as,
      cwd,
      env: { WAYPOINT_SNAPSHOT_PASSPHRASE: passphrase },
    }),
  );
  ok(
    await wp(["snapshot", "verify", "sealed.snap"], {
      ...as,
      cwd,
      env: { WAYPOINT_SNAPSHOT_PASSPHRASE: passphrase },
    }),
  );

  // Deploy jobs, run by a runner agent (runner token) and by the CLI as a local runner: each gets a
  // new entrypoint token in its environment, which its command keeps in a file for this search.
  const jobDir = tempDir(t, "waypoint-jobs-");
  ok(
    await wp(
      [
        "app",
        "update",
        "web",
        `-deploy=printf %s "$WAYPOINT_CEB_INVITE_TOKEN" > "${jobDir}/$WAYPOINT_JOB_ID"`,
      ],
      as,
    ),
  );
  const agent = spawnWaypoint(t, ["runner", "agent", "-id=leak-check"], {
    env: { WAYPOINT_SERVER_ADDR: address, WAYPOINT_SERVER_TOKEN: runner, ...GRPC_TRACING },
  });
  let agentLog = "";
  agent.stderr!.setEncoding("utf8").on("data", (s: string) => {
    agentLog += s;
  });
  agent.stdout!.resume();
  ok(await wp(["deploy", "-app=web", "-remote"], as));
  ok(await wp(["deploy", "-app=web"], as));
  agent.kill("SIGTERM");
  await new Promise((resolve) => agent.once("close", resolve));
  outputs.push({ from: "runner agent (stderr)", text: agentLog });
  const jobTokens = readdirSync(jobDir).map((f) => readFileSync(join(jobDir, f), "utf8"));
  t.is(jobTokens.length, 2, "both deploys got an entrypoint token");

  for (const { ep } of entrypoints) {
    ep.child.kill("SIGTERM");
    await ep.exited;
  }
  t.is(await server.stop(), 0);

  const serverLog = server.logs().join("\n");
  outputs.push({ from: "server (stderr)", text: serverLog });
  for (const { from, ep } of entrypoints) outputs.push({ from: `${from} (stderr)`, text: ep.stderr() });

  // The search means something only if the logs are as verbose as they get and saw the calls.
  t.true(
    server.records().some((r) => r.level === 10),
    "the server logged at trace level",
  );
  t.true(
    server.logs().some((l) => l.includes("received headers") && l.includes("Bearer [redacted]")),
    "grpc-js's header traces were logged, with the token taken out",
  );
  t.true(
    app.records().some((r) => r.level === 10 || r.level === 20),
    "the entrypoint logged at debug or trace",
  );

  const secrets: Record<string, string> = {
    "the management token": management,
    "the readonly token": readonly,
    "the runner token": runner,
    "the deployment's entrypoint token": deployment.token,
    "the second entrypoint token": entrypointToken2,
    "a wrong management token": wrongManagement,
    "a wrong entrypoint token": wrongEntrypoint,
    "the secret DB_PASSWORD": dbPassword,
    "the secret API_KEY": apiKey,
    "the snapshot passphrase": passphrase,
  };
  for (const [i, token] of jobTokens.entries())
    secrets[`the entrypoint token of deploy job ${i + 1}`] = token;
  const leaks: string[] = [];
  for (const [what, secret] of Object.entries(secrets)) {
    // The random part alone too: a token must not leak with its prefix cut off either.
    const needles = /^wp[mrue]_/.test(secret) ? [secret, secret.slice(4)] : [secret];
    for (const { from, text } of outputs) {
      if (needles.some((n) => text.includes(n))) leaks.push(`${what} appears in ${from}`);
    }
  }
  t.deepEqual(leaks, []);
});
