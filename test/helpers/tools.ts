/**
 * The standard tools a snapshot promises to work with (tar, sha256sum,
 * sqlite3, age, age-keygen) and script(1), which runs a command on a pseudo
 * terminal for what only happens on a terminal. A missing tool fails the
 * test, naming the Debian package to install; nothing is skipped.
 */
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { ExecutionContext } from "ava";
import { childEnv } from "./process.js";

const PACKAGE: Record<string, string> = {
  tar: "tar",
  sha256sum: "coreutils",
  sqlite3: "sqlite3",
  age: "age",
  "age-keygen": "age",
  script: "util-linux",
};

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `cmd args…` to completion; throws only when the tool is missing. */
export function tool(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string } = {},
): ToolResult {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, encoding: "utf8" });
  if (r.error) {
    throw new Error(
      `${cmd} is needed for this test (Debian package ${PACKAGE[cmd] ?? cmd}): ${r.error.message}`,
    );
  }
  return { code: r.status ?? 128, stdout: r.stdout, stderr: r.stderr };
}

/** `tool` that must succeed; returns stdout. */
export function ok(
  cmd: string,
  args: readonly string[],
  opts: { cwd?: string; input?: string } = {},
): string {
  const r = tool(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The member names of a gzip'd tar, in order, as GNU tar lists them. */
export function tarMembers(file: string): string[] {
  return ok("tar", ["-tzf", file]).split("\n").filter(Boolean);
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

const shellQuote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * Runs `argv` under script(1): stdin, stdout and stderr are a pseudo
 * terminal fed from `input`. Resolves with the exit code and everything the
 * terminal showed (the echo of typed-ahead input included).
 */
export function inTerminal(
  t: ExecutionContext,
  argv: readonly string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; output: string }> {
  tool("script", ["--version"]);
  const child = spawn("script", ["-qec", argv.map(shellQuote).join(" "), "/dev/null"], {
    cwd: opts.cwd,
    env: childEnv(t, opts.env),
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    output += s;
  });
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    output += s;
  });
  child.stdin.end(opts.input ?? "");
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${argv.join(" ")} under script did not exit\n${output}`));
    }, opts.timeoutMs ?? 30_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, output });
    });
  });
}

/** The argv that runs `waypoint ARGS…` from source, as test/helpers/process.ts does. */
export function waypointArgv(args: readonly string[]): string[] {
  return [
    process.execPath,
    `--import=${import.meta.resolve("tsx")}`,
    fileURLToPath(new URL("../../src/bin/waypoint.ts", import.meta.url)),
    ...args,
  ];
}
