/**
 * Runs `waypoint` as a real child process, from source through tsx, the way
 * an operator or a supervisor would: its own pid, env, cwd, stdio and
 * signals. Used by test/e2e/.
 *
 * Isolation: every child gets XDG_CONFIG_HOME and XDG_DATA_HOME under a temp
 * dir of the test (one pair per test, so the CLI keeps one installation id
 * within a test), and no WAYPOINT_* variable inherited from the shell or CI;
 * a test sets the ones it means. Every child still running when the test ends
 * is killed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExecutionContext } from "ava";
import { tempDir } from "./temp.js";
import { waitFor } from "./wait.js";

/** The repository root (this file is test/helpers/process.ts), whichever clone runs it. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const WAYPOINT_BIN = fileURLToPath(new URL("../../src/bin/waypoint.ts", import.meta.url));
/** Resolved here, not by the child, so a child whose cwd is outside the repo still finds tsx. */
const TSX_LOADER = import.meta.resolve("tsx");

export interface CliHome {
  /** XDG_CONFIG_HOME of the children; the CLI keeps contexts and client-id under `<it>/waypoint`. */
  readonly configHome: string;
  readonly dataHome: string;
}

const homes = new WeakMap<ExecutionContext, CliHome>();

/** The test's XDG dirs, created on first use and removed when the test ends. */
export function cliHome(t: ExecutionContext): CliHome {
  let home = homes.get(t);
  if (!home) {
    const dir = tempDir(t, "waypoint-home-");
    home = { configHome: join(dir, "config"), dataHome: join(dir, "data") };
    mkdirSync(home.configHome);
    mkdirSync(home.dataHome);
    homes.set(t, home);
  }
  return home;
}

/** The CLI's installation id (`client-id`) under a config home, as the server records it. */
export function clientIdPath(configHome: string): string {
  return join(configHome, "waypoint", "client-id");
}

/**
 * The env of a child: the inherited env without any WAYPOINT_* variable, the
 * test's XDG dirs, then `env` on top (an `undefined` value removes a variable).
 */
export function childEnv(t: ExecutionContext, env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith("WAYPOINT_") && value !== undefined) out[key] = value;
  }
  const home = cliHome(t);
  out.XDG_CONFIG_HOME = home.configHome;
  out.XDG_DATA_HOME = home.dataHome;
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete out[key];
    else out[key] = value;
  }
  return out;
}

export interface SpawnOptions {
  /** Added to (or, with undefined, removed from) the child env; see childEnv. */
  readonly env?: NodeJS.ProcessEnv;
  /** Default: the repository root. */
  readonly cwd?: string;
  /** A command that runs the rest (e.g. `unshare -rm sh -c …`): `[...wrap, node, …, waypoint, ARGS…]`. */
  readonly wrap?: readonly string[];
}

/** Starts `waypoint ARGS…` with stdin closed; the caller reads its stdio. */
export function spawnWaypoint(
  t: ExecutionContext,
  args: readonly string[],
  opts: SpawnOptions = {},
): ChildProcess {
  const argv = [process.execPath, `--import=${TSX_LOADER}`, WAYPOINT_BIN, ...args];
  const [cmd, ...rest] = [...(opts.wrap ?? []), ...argv];
  const child = spawn(cmd!, rest, {
    cwd: opts.cwd ?? REPO_ROOT,
    env: childEnv(t, opts.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  void exitOf(child);
  t.teardown(() => killAndWait(child));
  return child;
}

export interface CliResult {
  /** Exit code; 128+N when killed by signal N (as a shell reports it). */
  readonly code: number;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/**
 * Runs `waypoint ARGS…` to completion. Rejects (with the output so far) if it
 * has not exited after `timeoutMs`; the child is then killed.
 */
export async function runCli(
  t: ExecutionContext,
  args: readonly string[],
  opts: SpawnOptions & { readonly timeoutMs?: number } = {},
): Promise<CliResult> {
  const started = Date.now();
  const child = spawnWaypoint(t, args, opts);
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  // 60 s: under the whole suite on a 2-core machine, starting the CLI from source through tsx has
  // taken ~20 s, and a command that derives a key with scrypt (256 MiB, ~1.3 s alone) then waits
  // its turn for a core; 30 s was once not enough on CI.
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const status = await Promise.race([
    exitOf(child),
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), timeoutMs).unref()),
  ]);
  if (status === undefined) {
    await killAndWait(child);
    throw new Error(
      `waypoint ${args.join(" ")} did not exit within ${timeoutMs} ms\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`,
    );
  }
  return { ...status, stdout, stderr, ms: Date.now() - started };
}

/** One parsed stderr line; a line that is not JSON becomes `{ msg: line, notJson: true }`. */
export type LogRecord = Record<string, unknown>;

export interface ServerProcess {
  /** From the "server ready" line (or the chosen ports with readiness "healthz"). */
  readonly grpcAddress: string;
  readonly httpAddress: string;
  /** The URL service's address, from the ready line (undefined when it is off or not known). */
  readonly urlAddress: string | undefined;
  /** The -db path the helper passed; undefined when the caller chose (args or db: null). */
  readonly dbPath: string | undefined;
  /** The "server ready" record; undefined with readiness "healthz". */
  readonly ready: LogRecord | undefined;
  readonly child: ChildProcess;
  /** Complete stderr lines so far. */
  logs(): string[];
  /** The same lines, parsed. */
  records(): LogRecord[];
  /** Everything written to stdout so far (a headless server writes nothing there). */
  stdout(): string;
  /** Resolves once the process exits (code as in CliResult). */
  readonly exited: Promise<{ code: number; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM) and resolves to the exit code; SIGKILLs after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number>;
}

export interface ServerProcessOptions extends SpawnOptions {
  /** Flags after `server run`. Listen flags default to 127.0.0.1:0 unless given here. */
  readonly args?: readonly string[];
  /** The -db path. Default: data.db in a fresh temp dir; null: no -db flag. Ignored if args has -db. */
  readonly db?: string | null;
  /**
   * How to know the server is up: its "server ready" log line (default), or
   * `/healthz` answering on ports picked here, for log levels that hide that line.
   */
  readonly readiness?: "log" | "healthz";
  readonly timeoutMs?: number;
}

/**
 * Starts `waypoint server run` and waits until it serves. Rejects, with its
 * output, if it exits first or is not ready within `timeoutMs`. The process
 * is killed (SIGKILL) when the test ends if it is still running.
 */
export async function startServerProcess(
  t: ExecutionContext,
  opts: ServerProcessOptions = {},
): Promise<ServerProcess> {
  // Ports this helper picks for "healthz" readiness are free when picked, not always when the server
  // binds them (another test may take one in between): then it tries again with new ones.
  const picked =
    (opts.readiness ?? "log") === "healthz" &&
    (flagValue([...(opts.args ?? [])], "listen-grpc") === undefined ||
      flagValue([...(opts.args ?? [])], "listen-http") === undefined);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerProcessOnce(t, opts);
    } catch (err) {
      if (!picked || attempt >= 3 || !/address is already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startServerProcessOnce(
  t: ExecutionContext,
  opts: ServerProcessOptions,
): Promise<ServerProcess> {
  const args = [...(opts.args ?? [])];
  const readiness = opts.readiness ?? "log";
  let dbPath: string | undefined;
  if (flagValue(args, "db") === undefined && opts.db !== null) {
    dbPath = opts.db ?? join(tempDir(t, "waypoint-db-"), "data.db");
    args.push(`-db=${dbPath}`);
  }
  for (const flag of ["listen-grpc", "listen-http"]) {
    if (flagValue(args, flag) !== undefined) continue;
    args.push(`-${flag}=127.0.0.1:${readiness === "healthz" ? await freePort() : 0}`);
  }
  if (flagValue(args, "listen-url") === undefined) args.push("-listen-url=127.0.0.1:0");

  const child = spawnWaypoint(t, ["server", "run", ...args], opts);
  const lines: string[] = [];
  const records: LogRecord[] = [];
  let partial = "";
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    const parts = (partial + s).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      if (line === "") continue;
      lines.push(line);
      records.push(parseLine(line));
    }
  });
  let exitStatus: { code: number; signal: NodeJS.Signals | null } | undefined;
  const exited = exitOf(child).then((s) => {
    if (partial !== "") {
      lines.push(partial);
      records.push(parseLine(partial));
      partial = "";
    }
    exitStatus = s;
    return s;
  });

  const describe = () =>
    `waypoint server run ${args.join(" ")}\n--- stderr:\n${lines.join("\n")}\n${partial}`;
  const timeoutMs = opts.timeoutMs ?? 45_000;
  let ready: LogRecord | undefined;
  let grpcAddress: string;
  let httpAddress: string;
  let urlAddress: string | undefined;
  try {
    if (readiness === "log") {
      await waitFor(
        () => {
          if (exitStatus)
            throw new Error(`the server exited with code ${exitStatus.code} before it was ready`);
          ready = records.find((r) => r.msg === "server ready");
          return ready !== undefined;
        },
        'the "server ready" log line',
        timeoutMs,
      );
      grpcAddress = String(ready!.grpc);
      httpAddress = String(ready!.http);
      if (typeof ready!.url === "string" && ready!.url !== "off") urlAddress = ready!.url;
    } else {
      grpcAddress = flagValue(args, "listen-grpc")!;
      httpAddress = flagValue(args, "listen-http")!;
      await waitFor(
        async () => {
          if (exitStatus)
            throw new Error(`the server exited with code ${exitStatus.code} before it was ready`);
          return (await fetch(`http://${httpAddress}/healthz`).catch(() => undefined))?.status === 200;
        },
        `/healthz on ${httpAddress}`,
        timeoutMs,
      );
    }
  } catch (err) {
    await killAndWait(child);
    throw new Error(`${(err as Error).message}\n${describe()}`);
  }

  return {
    grpcAddress,
    httpAddress,
    urlAddress,
    dbPath,
    ready,
    child,
    logs: () => [...lines],
    records: () => [...records],
    stdout: () => out,
    exited,
    async stop(signal = "SIGTERM", stopTimeoutMs = 15_000) {
      if (!exitStatus) child.kill(signal);
      const status = await Promise.race([
        exited,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), stopTimeoutMs).unref()),
      ]);
      if (status === undefined) {
        await killAndWait(child);
        throw new Error(`the server did not exit within ${stopTimeoutMs} ms of ${signal}\n${describe()}`);
      }
      return status.code;
    },
  };
}

/**
 * The value of flag `name` in Go-style args (`-name=v`, `--name=v`, `-name v`,
 * `--name v`), or undefined when absent.
 */
export function flagValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    for (const dash of ["-", "--"]) {
      if (arg === `${dash}${name}`) return args[i + 1] ?? "";
      if (arg.startsWith(`${dash}${name}=`)) return arg.slice(dash.length + name.length + 1);
    }
  }
  return undefined;
}

/**
 * A TCP port on 127.0.0.1 that was free a moment ago (for servers that must be told a port). Taken
 * below Linux's ephemeral range (32768-60999): a port the kernel handed out for `listen(0)` is one
 * it may give the next outgoing connection of any process, and a concurrent test's client took one
 * before the server it was meant for could listen on it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    try {
      await new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => server.close(() => resolve()));
      });
      return port;
    } catch (err) {
      if (attempt >= 50 || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    }
  }
}

/** The last non-empty line of `text` ("" if none). */
export function lastLine(text: string): string {
  return (
    text
      .split("\n")
      .filter((l) => l.trim() !== "")
      .at(-1) ?? ""
  );
}

function parseLine(line: string): LogRecord {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as LogRecord;
  } catch {
    // Not JSON: grpc-js and Node itself may write plain lines to stderr.
  }
  return { msg: line, notJson: true };
}

const exits = new WeakMap<ChildProcess, Promise<{ code: number; signal: NodeJS.Signals | null }>>();

/** Resolves after the child exited and its stdio closed (so all output has been read). */
function exitOf(child: ChildProcess): Promise<{ code: number; signal: NodeJS.Signals | null }> {
  let exit = exits.get(child);
  if (!exit) {
    // Only for children from spawnWaypoint, which registers this before any event can fire.
    exit = new Promise((resolve) => {
      child.once("close", (code: number | null, signal: NodeJS.Signals | null) =>
        resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), signal }),
      );
    });
    exits.set(child, exit);
  }
  return exit;
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = exitOf(child);
  child.kill("SIGKILL");
  await gone;
}
