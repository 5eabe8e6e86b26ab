/**
 * Runs `waypoint-entrypoint` as a real child process from source through tsx,
 * the way a container runtime would: its own pid, env, stdio and signals.
 * Like spawnWaypoint, the env is the test's (no inherited WAYPOINT_*), and a
 * process still running when the test ends is killed — with the app's own
 * process group, which the entrypoint gives the app.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import { fileURLToPath } from "node:url";
import type { ExecutionContext } from "ava";
import { childEnv, REPO_ROOT } from "./process.js";
import { waitFor } from "./wait.js";

const ENTRYPOINT_BIN = fileURLToPath(new URL("../../src/bin/waypoint-entrypoint.ts", import.meta.url));
const TSX_LOADER = import.meta.resolve("tsx");

export interface EntrypointProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything on stdout so far, as bytes. */
  stdout(): Buffer;
  /** Everything on stderr so far, as text. */
  stderr(): string;
  /** The entrypoint's own log records (JSON lines on stderr, name "waypoint-entrypoint"). */
  records(): Record<string, unknown>[];
  /** Resolves once it exited and its stdio closed. */
  readonly exited: Promise<{ code: number; signal: NodeJS.Signals | null }>;
  /** Waits for a log record with this msg (and matching fields); returns it. */
  waitForLog(
    msg: string,
    timeoutMs?: number,
    match?: (r: Record<string, unknown>) => boolean,
  ): Promise<Record<string, unknown>>;
  /** Waits until stdout contains `text`. */
  waitForStdout(text: string, timeoutMs?: number): Promise<void>;
}

export interface EntrypointOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Default "ignore". */
  readonly stdin?: "ignore" | "pipe";
  /** More options for node, before the script (e.g. another --import). */
  readonly nodeArgs?: readonly string[];
  /** A built entrypoint (JavaScript) to run instead of the source through tsx. */
  readonly bin?: string;
}

export function spawnEntrypoint(
  t: ExecutionContext,
  argv: readonly string[],
  opts: EntrypointOptions = {},
): EntrypointProcess {
  const child = spawn(
    process.execPath,
    opts.bin
      ? [...(opts.nodeArgs ?? []), opts.bin, ...argv]
      : [`--import=${TSX_LOADER}`, ...(opts.nodeArgs ?? []), ENTRYPOINT_BIN, ...argv],
    {
      cwd: opts.cwd ?? REPO_ROOT,
      env: childEnv(t, { WAYPOINT_LOG_LEVEL: "debug", ...opts.env }),
      stdio: [opts.stdin ?? "ignore", "pipe", "pipe"],
    },
  );
  const out: Buffer[] = [];
  let err = "";
  child.stdout!.on("data", (b: Buffer) => out.push(b));
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    err += s;
  });
  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("close", (code, signal) =>
      resolve({ code: code ?? 128 + (signal ? constants.signals[signal] : 0), signal }),
    );
  });
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      // SIGTERM first: the entrypoint passes it to the app (or, before the app started, does not start
      // it) and exits. SIGKILL only if it does not, which leaves the app to the group kill below.
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    // The app has a process group of its own: do not leave it behind.
    for (const r of parse(err)) {
      if (r.msg === "app started" && typeof r.childPid === "number") {
        try {
          process.kill(-r.childPid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
  });
  const records = () => parse(err);
  const stdout = () => Buffer.concat(out);
  const describe = () => `--- stdout:\n${stdout().toString().slice(-4000)}\n--- stderr:\n${err.slice(-8000)}`;
  return {
    child,
    pid: child.pid!,
    stdout,
    stderr: () => err,
    records,
    exited,
    async waitForLog(msg, timeoutMs = 15_000, match = () => true) {
      let found: Record<string, unknown> | undefined;
      await waitFor(
        () => {
          found = records().find((r) => r.msg === msg && match(r));
          return found !== undefined;
        },
        `entrypoint log "${msg}"`,
        timeoutMs,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${describe()}`);
      });
      return found!;
    },
    async waitForStdout(text, timeoutMs = 15_000) {
      await waitFor(
        () => stdout().includes(text),
        `stdout to contain ${JSON.stringify(text)}`,
        timeoutMs,
      ).catch((e: Error) => {
        throw new Error(`${e.message}\n${describe()}`);
      });
    },
  };
}

function parse(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.startsWith("{")) continue;
    try {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (r.name === "waypoint-entrypoint") out.push(r);
    } catch {
      // A line of the app's stderr.
    }
  }
  return out;
}

/** Sockets of a process in LISTEN state (parsed from /proc/<pid>/net/tcp{,6} and /proc/<pid>/fd). */
export async function listeningSockets(pid: number): Promise<string[]> {
  const { readFileSync, readdirSync, readlinkSync } = await import("node:fs");
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // Closed meanwhile.
    }
  }
  const listening: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    const lines = readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      if (f[3] === "0A" && inodes.has(f[9]!)) listening.push(`${table} ${f[1]}`);
    }
  }
  return listening;
}

/** Internet sockets (TCP or UDP, v4 or v6, any state) a process holds open. */
export async function inetSockets(pid: number): Promise<number> {
  const { readFileSync, readdirSync, readlinkSync } = await import("node:fs");
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // Closed meanwhile.
    }
  }
  let n = 0;
  for (const table of ["tcp", "tcp6", "udp", "udp6"]) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 10 && inodes.has(f[9]!)) n += 1;
    }
  }
  return n;
}
