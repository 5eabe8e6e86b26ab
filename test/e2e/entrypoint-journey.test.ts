/**
 * The operator's path end to end, every part a real process: a server, the
 * CLI, and `waypoint-entrypoint` started the way `waypoint deployment create`
 * says to (`set -a; . ./web.env; set +a; waypoint-entrypoint …`). The app's
 * config, its instance, its logs, exec, a config change and a stop are each
 * seen through the CLI.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { childEnv, lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const ENTRYPOINT_BIN = fileURLToPath(new URL("../../src/bin/waypoint-entrypoint.ts", import.meta.url));
const TSX_LOADER = import.meta.resolve("tsx");

/**
 * The app: exits 3 on SIGTERM (the handler first, so a signal sent on seeing its output finds it), greets
 * with its config and logs to both streams.
 */
const APP = `
process.on("SIGTERM", () => process.exit(3));
console.log("greeting=" + process.env.GREETING);
console.error("warming up");
setInterval(() => {}, 1000);
`;

const journey = test.macro(async (t, listener: "grpc" | "entrypoint") => {
  const server = await startServerProcess(
    t,
    listener === "entrypoint" ? { args: ["-listen-entrypoint=127.0.0.1:0"] } : {},
  );
  // With -listen-entrypoint, the entrypoint reaches the server only through that listener's thread.
  const entrypointAddr = listener === "entrypoint" ? String(server.ready?.entrypoints) : undefined;
  if (entrypointAddr) t.regex(entrypointAddr, /^127\.0\.0\.1:\d+$/);
  else t.is(server.ready?.entrypoints, "off");
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const token = lastLine((await runCli(t, ["server", "bootstrap"], { env })).stdout);
  const withToken = { ...env, WAYPOINT_SERVER_TOKEN: token };
  const wp = async (...args: string[]) => {
    const r = await runCli(t, args, { env: withToken });
    t.is(r.code, 0, `waypoint ${args.join(" ")}: ${r.stderr}`);
    return r;
  };

  await wp("app", "create", "web");
  await wp("config", "set", "-app=web", "GREETING=hello world");
  // Without -entrypoint-addr: the server says where its entrypoint listener is.
  const created = await wp("deployment", "create", "-app=web");
  const dir = tempDir(t);
  writeFileSync(join(dir, "web.env"), created.stdout);
  t.regex(created.stdout, /^WAYPOINT_CEB_INVITE_TOKEN=/m);
  t.regex(created.stdout, /^WAYPOINT_DEPLOYMENT_ID='?web-v1'?$/m);
  t.regex(
    created.stdout,
    new RegExp(`^WAYPOINT_SERVER_ADDR='?${entrypointAddr ?? server.grpcAddress}'?$`, "m"),
  );

  const appFile = join(dir, "app.cjs");
  writeFileSync(appFile, APP);
  const ep = spawn(
    "sh",
    ["-c", 'set -a; . ./web.env; set +a; exec "$NODE" --import="$TSX" "$ENTRYPOINT" "$NODE" ./app.cjs'],
    {
      cwd: dir,
      env: childEnv(t, { NODE: process.execPath, TSX: TSX_LOADER, ENTRYPOINT: ENTRYPOINT_BIN }),
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  ep.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
  ep.stderr.setEncoding("utf8").on("data", (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve) => ep.once("exit", (code) => resolve(code)));
  t.teardown(() => {
    if (ep.exitCode === null) ep.kill("SIGKILL");
  });

  // The app started with its config, and its output is its own stdout and stderr.
  await waitFor(() => out.includes("greeting=hello world\n"), "the app's greeting");
  await waitFor(() => err.includes("warming up\n"), "the app's stderr line");

  // The instance, as the CLI shows it.
  let instances: Record<string, unknown>[] = [];
  await waitFor(async () => {
    instances = JSON.parse((await wp("instances", "-app=web", "-json")).stdout) as Record<string, unknown>[];
    return instances.length === 1 && instances[0]!.connected === true;
  }, "the instance in `waypoint instances`");
  t.like(instances[0], { app: "web", deployment: "web-v1", connected: true, execDisabled: false });
  t.regex(String(instances[0]!.id), /^ceb_/);
  t.regex(String(instances[0]!.version), /^\d+\.\d+\.\d+/);

  // Its lines, with their stream, through `waypoint logs`.
  let lines: { instance: string; source: string; line: string }[] = [];
  await waitFor(async () => {
    const r = await wp("logs", "-app=web", "-json");
    lines = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { instance: string; source: string; line: string });
    return lines.length >= 2;
  }, "the app's lines in `waypoint logs`");
  // Across the two streams the order is the order of reads, so the lines are compared as a set.
  t.deepEqual(lines.map((l) => `${l.instance} ${l.source} ${l.line}`).sort(), [
    `${instances[0]!.id} stderr warming up`,
    `${instances[0]!.id} stdout greeting=hello world`,
  ]);

  // Exec runs with the app's config in the app's directory, and its exit code comes back.
  const exec = await runCli(t, ["exec", "-app=web", "--", "sh", "-c", 'echo "$GREETING in $(pwd)"; exit 7'], {
    env: withToken,
  });
  t.is(exec.code, 7, exec.stderr);
  t.is(exec.stdout, `hello world in ${dir}\n`);

  // A config change restarts the app with the new value.
  await wp("config", "set", "-app=web", "GREETING=bye");
  await waitFor(() => out.includes("greeting=bye\n"), "the app restarted with the new config", 15_000);

  // SIGTERM reaches the app; the entrypoint exits with the app's code; the instance shows disconnected.
  ep.kill("SIGTERM");
  t.is(await exited, 3);
  await waitFor(async () => {
    const list = JSON.parse((await wp("instances", "-app=web", "-json")).stdout) as { connected: boolean }[];
    return list.length === 1 && list[0]!.connected === false;
  }, "the instance to show disconnected");
});

test(
  "deployment create → entrypoint from the env file → instances, logs, exec, config change, stop",
  journey,
  "grpc",
);
test("the same journey with the entrypoint on -listen-entrypoint (its own thread)", journey, "entrypoint");

test("a server with -listen-entrypoint stops on SIGTERM with an entrypoint connected through it: the stream ends, the thread closes, exit 0 well within the grace", async (t) => {
  const server = await startServerProcess(t, { args: ["-listen-entrypoint=127.0.0.1:0"] });
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const token = lastLine((await runCli(t, ["server", "bootstrap"], { env })).stdout);
  const withToken = { ...env, WAYPOINT_SERVER_TOKEN: token };
  t.is((await runCli(t, ["app", "create", "web"], { env: withToken })).code, 0);
  const created = await runCli(t, ["deployment", "create", "-app=web", "-json"], { env: withToken });
  const epEnv = (JSON.parse(created.stdout) as { env: Record<string, string> }).env;
  t.is(epEnv.WAYPOINT_SERVER_ADDR, String(server.ready?.entrypoints));
  const ep = spawnEntrypoint(t, [process.execPath, "-e", "setInterval(() => {}, 1000)"], { env: epEnv });
  await ep.waitForLog("registered with the server");
  const began = Date.now();
  t.is(await server.stop("SIGTERM"), 0);
  t.true(Date.now() - began < 8000, `stopped in ${Date.now() - began} ms`);
  t.true(server.records().some((r) => r.msg === "stopped; database checkpointed and closed"));
  // The entrypoint saw its stream end and keeps its app running, retrying in the background.
  await ep.waitForLog("lost the server connection; retrying in the background");
});
