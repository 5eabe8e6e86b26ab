/**
 * instances, logs and exec against a real server (in-process, port 0) with
 * instances registered by test/helpers/fake-instance.ts, which speaks the
 * Entrypoint service with the deployment's real token and runs exec commands
 * as real child processes.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import test, { type ExecutionContext } from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { startFakeInstance } from "../helpers/fake-instance.js";
import { childEnv, REPO_ROOT, spawnWaypoint } from "../helpers/process.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const as =
  (t: ExecutionContext, s: TestServer, env: NodeJS.ProcessEnv = {}) =>
  (...args: string[]) =>
    cli(t, args, { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token, ...env });

/** A server with app web, deployment web-v1 and one connected instance web-i1. */
async function withInstance(t: ExecutionContext, opts: { execDisabled?: boolean } = {}) {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web")).code, 0);
  const created = await wp("deployment", "create", "-app=web", "-json");
  t.is(created.code, 0, created.stderr);
  const { token } = JSON.parse(created.stdout) as { token: string };
  const instance = await startFakeInstance(t, {
    address: s.address,
    token,
    deployment: "web-v1",
    id: "web-i1",
    ...opts,
  });
  return { s, wp, instance, token };
}

test("instances lists a connected instance as a table and as JSON; filters apply", async (t) => {
  const { wp } = await withInstance(t);
  const json = await wp("instances", "-json");
  t.is(json.code, 0, json.stderr);
  const list = JSON.parse(json.stdout) as Record<string, unknown>[];
  t.is(list.length, 1);
  t.deepEqual(Object.keys(list[0]!), [
    "id",
    "app",
    "deployment",
    "version",
    "entrypoint",
    "emulated",
    "hostname",
    "pid",
    "startedAt",
    "firstSeen",
    "lastSeen",
    "connected",
    "execDisabled",
  ]);
  t.like(list[0], { id: "web-i1", app: "web", deployment: "web-v1", hostname: "fake-host", connected: true });

  const text = await wp("instances");
  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.trimEnd().split("\n");
  t.is(lines[0], "ID      APP  DEPLOYMENT  VERSION  HOST       CONNECTED");
  t.regex(lines[1]!, /^web-i1 {2}web {2}web-v1 {6}\S+ +fake-host {2}yes$/);

  t.is((await wp("app", "create", "api")).code, 0);
  t.deepEqual(JSON.parse((await wp("instances", "-app=api", "-json")).stdout), []);
  const none = await wp("instances", "-app=api");
  t.deepEqual(none, {
    code: 0,
    stdout: "",
    stderr: "No instance is connected or was seen within the active window; -all lists older ones.\n",
  });
  t.is(JSON.parse((await wp("instances", "-deployment=web-v1", "-json")).stdout).length, 1);
  t.deepEqual(await wp("instance", "list"), text, "instance list is the same command");
  const deployments = JSON.parse((await wp("deployment", "list", "-json")).stdout) as {
    connectedInstances: number;
  }[];
  t.is(deployments[0]?.connectedInstances, 1);
});

test("a config change is pushed to the connected instance and the CLI says to how many", async (t) => {
  const { wp, instance } = await withInstance(t);
  const r = await wp("config", "set", "-app=web", "FEATURE=on");
  t.is(r.code, 0, r.stderr);
  t.is(
    r.stderr,
    "Set FEATURE for app web.\nPushed to 1 connected entrypoint; they restart their app with it.\n",
  );
  await waitFor(() => instance.configs.at(-1)?.FEATURE === "on", "the pushed configuration");
});

test("logs prints the lines of an instance, prefixed when several may appear, as JSON lines, and the tail", async (t) => {
  const { wp, instance } = await withInstance(t);
  instance.writeLines("stdout", ["hello", "GET / 200"]);
  instance.writeLines("stderr", ["warning: disk"]);
  let out = "";
  await waitFor(async () => {
    out = (await wp("logs", "-instance=web-i1")).stdout;
    return out.split("\n").length >= 4;
  }, "three log lines");
  t.is(out, "hello\nGET / 200\nwarning: disk\n");

  const all = await wp("logs", "-app=web");
  t.is(all.code, 0, all.stderr);
  t.is(all.stdout, "web-i1 | hello\nweb-i1 | GET / 200\nweb-i1 | warning: disk\n");

  const json = await wp("logs", "-deployment=web-v1", "-json");
  t.is(json.code, 0, json.stderr);
  const lines = json.stdout
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, string>);
  t.deepEqual(
    lines.map((l) => [l.instance, l.source, l.line]),
    [
      ["web-i1", "stdout", "hello"],
      ["web-i1", "stdout", "GET / 200"],
      ["web-i1", "stderr", "warning: disk"],
    ],
  );
  t.deepEqual(Object.keys(lines[0]!), ["instance", "source", "line", "at"]);

  t.is((await wp("logs", "-instance=web-i1", "-tail=1")).stdout, "warning: disk\n");
});

test("lines waypoint adds (lines dropped during an outage) are marked", async (t) => {
  const { wp, instance } = await withInstance(t);
  instance.writeLines("stdout", ["after the outage"], 12);
  let out = "";
  await waitFor(async () => {
    out = (await wp("logs", "-instance=web-i1")).stdout;
    return out.includes("after the outage");
  }, "the line after the outage");
  t.regex(out, /^\[waypoint\] .*12/m);
});

test("logs -f follows new lines until Ctrl-C and exits 0", async (t) => {
  const { s, instance } = await withInstance(t);
  instance.writeLines("stdout", ["before"]);
  const child = spawnWaypoint(t, ["logs", "-f", "-instance=web-i1"], {
    env: { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token },
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await waitFor(() => out.includes("before\n"), "the buffered line", 20_000);
  instance.writeLines("stdout", ["after"]);
  await waitFor(() => out.includes("after\n"), "the followed line");
  child.kill("SIGINT");
  t.is(await exited, 0, err);
  t.is(out, "before\nafter\n");
});

test("logs -f says so and exits 3 when the server goes away", async (t) => {
  const { s, instance } = await withInstance(t);
  instance.writeLines("stdout", ["before"]);
  const child = spawnWaypoint(t, ["logs", "-f", "-instance=web-i1"], {
    env: { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token },
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await waitFor(() => out.includes("before\n"), "the buffered line", 20_000);
  instance.close();
  await s.server.close();
  t.is(await exited, 3, err);
  t.regex(
    err,
    new RegExp(`^Error: lost the log stream from the server at ${s.address.replaceAll(".", "\\.")}`),
  );
});

test("exec runs a command in the instance and passes its output and exit code through", async (t) => {
  const { wp, instance } = await withInstance(t);
  const r = await wp("exec", "-instance=web-i1", "sh", "-c", "echo out; echo err >&2; exit 7");
  t.deepEqual(r, { code: 7, stdout: "out\n", stderr: "err\n" });
  t.like(instance.execs[0], { args: ["sh", "-c", "echo out; echo err >&2; exit 7"], tty: false });

  const byApp = await wp("exec", "-app=web", "--", "echo", "-n", "picked");
  t.deepEqual(byApp, { code: 0, stdout: "picked", stderr: "" });
});

test("exec streams stdin to the command", async (t) => {
  const { s } = await withInstance(t);
  const r = await cli(
    t,
    ["exec", "-instance=web-i1", "--", "sh", "-c", "tr a-z A-Z; echo done"],
    { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token },
    { stdin: "hello\nworld\n" },
  );
  t.deepEqual(r, { code: 0, stdout: "HELLO\nWORLD\ndone\n", stderr: "" });
});

test("exec -tty asks for a terminal of the caller's size and TERM", async (t) => {
  const { s, instance } = await withInstance(t);
  const r = await as(t, s, { TERM: "xterm-256color" })("exec", "-instance=web-i1", "-tty", "true");
  t.is(r.code, 0, r.stderr);
  t.like(instance.execs[0], { args: ["true"], tty: true, rows: 24, cols: 80, term: "xterm-256color" });
});

test("exec failures are errors with hints and documented exit codes", async (t) => {
  const { wp } = await withInstance(t);
  const missing = await wp("exec", "-instance=nope", "--", "true");
  t.is(missing.code, 1, missing.stderr);
  t.is(missing.stdout, "");
  t.regex(missing.stderr, /^Error: .+\nHint: .+\n$/);

  const noApp = await wp("exec", "-app=other", "--", "true");
  t.is(noApp.code, 1, noApp.stderr);

  const notFound = await wp("exec", "-instance=web-i1", "--", "/no/such/command");
  t.not(notFound.code, 0);
  t.regex(notFound.stderr, /^Error: /m);
});

test("exec is refused for an instance started with exec disabled", async (t) => {
  const { wp } = await withInstance(t, { execDisabled: true });
  const r = await wp("exec", "-instance=web-i1", "--", "true");
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^Error: .+\nHint: .*WAYPOINT_CEB_DISABLE_EXEC/);
});

test("exec as a real process exits with the command's code while its own stdin stays open", async (t) => {
  const { s } = await withInstance(t);
  const bin = fileURLToPath(new URL("../../src/bin/waypoint.ts", import.meta.url));
  const child = spawn(
    process.execPath,
    ["--import=tsx", bin, "exec", "-instance=web-i1", "--", "sh", "-c", "exit 4"],
    {
      cwd: REPO_ROOT,
      env: childEnv(t, { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token }),
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  t.teardown(() => child.kill("SIGKILL"));
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    err += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  t.is(code, 4, err);
});

test("exec on a terminal asks for a remote terminal of its size and restores the local terminal", async (t) => {
  const { s, instance } = await withInstance(t);
  const pty = await import("@lydell/node-pty");
  const bin = fileURLToPath(new URL("../../src/bin/waypoint.ts", import.meta.url));
  const node = `'${process.execPath}' --import=tsx '${bin}'`;
  // stty -g prints the terminal's settings: the same before and after means raw mode was undone.
  const script = `stty -g; ${node} exec -instance=web-i1 -- sh -c 'exit 5'; echo "code=$?"; stty -g`;
  const term = pty.spawn("sh", ["-c", script], {
    cols: 100,
    rows: 30,
    cwd: REPO_ROOT,
    env: childEnv(t, {
      WAYPOINT_SERVER_ADDR: s.address,
      WAYPOINT_SERVER_TOKEN: s.token,
      TERM: "xterm-test",
    }) as Record<string, string>,
  });
  t.teardown(() => term.kill());
  let out = "";
  term.onData((d) => {
    out += d;
  });
  await new Promise<void>((resolve) => term.onExit(() => resolve()));
  const lines = out.split(/\r?\n/).filter((l) => l !== "");
  t.is(lines.length, 3, out);
  t.is(lines[1], "code=5");
  t.is(lines[0], lines[2], "the terminal settings are restored");
  t.like(instance.execs[0], {
    args: ["sh", "-c", "exit 5"],
    tty: true,
    rows: 30,
    cols: 100,
    term: "xterm-test",
  });
});
