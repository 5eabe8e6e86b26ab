/**
 * The entrypoint against the real server (in-process, port 0): registration,
 * configuration, logs, exec, and no listening socket.
 */
import test from "ava";
import type { LogLineInfo } from "../../src/client/runtime.js";
import { listeningSockets, spawnEntrypoint } from "../helpers/entrypoint.js";
import { entrypointEnvFor, startTestServer, type TestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const node = process.execPath;
const APP = `process.on('SIGTERM', () => process.exit(0)); console.log('run ' + (process.env.APP_COLOR ?? '-')); setInterval(() => {}, 1000);`;

async function deployment(s: TestServer, config: Record<string, string> = {}) {
  const conn = s.connect();
  await conn.createApp("web");
  const created = await conn.createDeployment("web");
  const set = Object.entries(config).map(([name, value]) => ({ name, value }));
  if (set.length > 0) await conn.setConfig({ app: "web", set });
  const env = {
    ...entrypointEnvFor(s.address, created),
    WAYPOINT_CEB_CONFIG_QUIET_MS: "50",
  };
  return { conn, env, deploymentId: created.deployment.id };
}

test("registers, gets its app's config, restarts on a change, and ships its lines", async (t) => {
  const s = await startTestServer(t);
  const { conn, env, deploymentId } = await deployment(s, { APP_COLOR: "blue" });
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env });
  await ep.waitForStdout("run blue\n");

  const instances = await conn.listInstances({ app: "web" });
  t.is(instances.length, 1);
  t.is(instances[0]!.deployment, deploymentId);
  t.true(instances[0]!.connected);
  t.false(instances[0]!.execDisabled);
  t.regex(instances[0]!.id, /^ceb_/);

  await conn.setConfig({ app: "web", set: [{ name: "APP_COLOR", value: "green" }] });
  await ep.waitForStdout("run green\n");
  t.is(ep.stdout().toString(), "run blue\nrun green\n");

  const lines: LogLineInfo[] = [];
  await waitFor(async () => {
    lines.length = 0;
    await new Promise<void>((resolve) =>
      conn.logs(
        { app: "web" },
        (l) => lines.push(...l),
        () => resolve(),
      ),
    );
    return lines.some((l) => l.line === "run green");
  }, "the app's lines in the server's log buffer");
  t.deepEqual(
    lines.filter((l) => l.source === "stdout").map((l) => l.line),
    ["run blue", "run green"],
  );
});

test("opens no listening socket while connected", async (t) => {
  const s = await startTestServer(t);
  const { conn, env } = await deployment(s);
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env });
  await ep.waitForStdout("run -\n");
  await waitFor(async () => (await conn.listInstances({ app: "web" })).length === 1, "the instance");
  t.deepEqual(await listeningSockets(ep.pid), []);
  // The check can fail: the test process itself listens (the server).
  t.true((await listeningSockets(process.pid)).length > 0);
});

test("exec on pipes: the app's environment and directory, stdin, stdout, stderr and the exit code", async (t) => {
  const s = await startTestServer(t);
  const { conn, env } = await deployment(s, { APP_COLOR: "exec-env" });
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env, cwd: "/tmp" });
  await ep.waitForStdout("run exec-env\n");
  await waitFor(async () => (await conn.listInstances({ app: "web" })).length === 1, "the instance");
  let out = "";
  let err = "";
  const session = conn.exec(
    {
      app: "web",
      args: ["sh", "-c", 'echo "$APP_COLOR $(pwd) [$WAYPOINT_CEB_INVITE_TOKEN]"; cat; echo oops >&2; exit 3'],
    },
    { stdout: (d) => (out += d.toString()), stderr: (d) => (err += d.toString()) },
  );
  await session.started;
  await session.writeStdin(Buffer.from("from stdin\n"));
  session.endStdin();
  t.is(await session.exit, 3);
  t.is(out, "exec-env /tmp []\nfrom stdin\n");
  t.is(err, "oops\n");
});

test("exec on a terminal honours the size, window changes and TERM", async (t) => {
  const s = await startTestServer(t);
  const { conn, env } = await deployment(s);
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env });
  await ep.waitForStdout("run -\n");
  await waitFor(async () => (await conn.listInstances({ app: "web" })).length === 1, "the instance");
  let out = "";
  const session = conn.exec(
    {
      app: "web",
      args: ["sh", "-c", 'stty size; echo "term=$TERM"; read -r line; stty size; echo "got $line"'],
      tty: { rows: 33, cols: 101, term: "xterm-test" },
    },
    { stdout: (d) => (out += d.toString()), stderr: () => {} },
  );
  await session.started;
  await waitFor(() => out.includes("term=xterm-test"), "the first output");
  session.resize(40, 120);
  await session.writeStdin(Buffer.from("hello\r"));
  t.is(await session.exit, 0);
  t.regex(out, /33 101\r\nterm=xterm-test\r\n/);
  t.regex(out, /40 120\r\ngot hello\r\n/);
});

test("WAYPOINT_CEB_DISABLE_EXEC registers with exec disabled and refuses exec", async (t) => {
  const s = await startTestServer(t);
  const { conn, env } = await deployment(s);
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env: { ...env, WAYPOINT_CEB_DISABLE_EXEC: "1" } });
  await ep.waitForStdout("run -\n");
  await waitFor(async () => (await conn.listInstances({ app: "web" })).length === 1, "the instance");
  t.true((await conn.listInstances({ app: "web" }))[0]!.execDisabled);
  const session = conn.exec({ app: "web", args: ["true"] }, { stdout: () => {}, stderr: () => {} });
  await t.throwsAsync(session.exit);
});

test("an exec session the caller abandons kills the command's process group", async (t) => {
  const s = await startTestServer(t);
  const { conn, env } = await deployment(s);
  const ep = spawnEntrypoint(t, [node, "-e", APP], { env });
  await ep.waitForStdout("run -\n");
  await waitFor(async () => (await conn.listInstances({ app: "web" })).length === 1, "the instance");
  let out = "";
  const session = conn.exec(
    { app: "web", args: ["sh", "-c", "sleep 300 & echo $!; wait"] },
    { stdout: (d) => (out += d.toString()), stderr: () => {} },
  );
  session.exit.catch(() => {});
  await waitFor(() => /^\d+\n/.test(out), "the grandchild's pid");
  const pid = Number(out.trim());
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  t.true(alive());
  session.cancel();
  await waitFor(() => !alive(), "the command's process group to be killed");
  t.false(alive());
});
