/**
 * What the benches of real processes share: the compiled tree (tsc into a temp dir, the entrypoint and
 * the CLI bundled, as `npm run build` makes it), a real server process on it, and reading child processes.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  createWriteStream,
  mkdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { Connection } from "../src/client/connection.js";
import { clientIdentity } from "../src/client/identity.js";

export const ROOT = fileURLToPath(new URL("../", import.meta.url));

/**
 * Compiles src/ into a fresh temp dir inside the repository (so node_modules
 * is found above it) with package.json, proto/ and fixtures/catalogs/ beside it, as installed.
 */
export function compiledTree(name: string): { dir: string; bin: (name: string) => string; remove(): void } {
  const dir = join(ROOT, ".bench-tmp", `${name}-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
  const args = [
    "-p",
    join(ROOT, "tsconfig.build.json"),
    "--outDir",
    join(dir, "dist"),
    "--sourceMap",
    "false",
  ];
  try {
    execFileSync(process.execPath, [tsc, ...args], { stdio: "pipe" });
  } catch {
    // Type errors elsewhere in the tree still emit JavaScript (noEmitOnError is off); a missing file fails below.
  }
  // The entrypoint and the CLI as `npm run build` ships them: bundled.
  for (const script of ["bundle-entrypoint.mjs", "bundle-cli.mjs"])
    execFileSync(process.execPath, [join(ROOT, "scripts", script), join(dir, "dist")], { stdio: "pipe" });
  copyFileSync(join(ROOT, "package.json"), join(dir, "package.json"));
  symlinkSync(join(ROOT, "proto"), join(dir, "proto"));
  // The shipped catalog (package.json "files"), which `waypoint ui` and `upgrade plan` read.
  mkdirSync(join(dir, "fixtures"));
  symlinkSync(join(ROOT, "fixtures", "catalogs"), join(dir, "fixtures", "catalogs"));
  return {
    dir,
    bin: (b) => join(dir, "dist", "bin", b),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The environment without WAYPOINT_* variables. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("WAYPOINT_")) env[k] = v;
  return env;
}

/** RSS split as /proc reports it: anonymous (heaps, buffers) and file-backed (mostly the node binary's own code). */
export function rssPartsMiB(pid: number): { anon: number; file: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { anon: kb("RssAnon") / 1024, file: kb("RssFile") / 1024 };
}

export function rssMiB(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  return kb / 1024;
}

/** Resolves with the first JSON log line on the child's stderr whose msg is `msg`. */
export function logLine(child: ChildProcess, msg: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (s: string) => {
      buf += s;
      for (const line of buf.split("\n")) {
        if (!line.includes(msg)) continue;
        try {
          const r = JSON.parse(line) as Record<string, unknown>;
          if (r.msg === msg) {
            child.stderr!.off("data", onData);
            resolve(r);
            return;
          }
        } catch {
          // Not a log line.
        }
      }
    };
    child.stderr!.setEncoding("utf8").on("data", onData);
    child.once("exit", (code) => reject(new Error(`exited (${code}) before logging "${msg}":\n${buf}`)));
  });
}

export async function waitUntil(cond: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A server process on the compiled tree, bootstrapped, with app `app`, one
 * deployment (its entrypoint env returned) and a management connection.
 */
export async function benchServer(
  bin: (name: string) => string,
  dir: string,
  app: string,
  children: ChildProcess[],
  flags: readonly string[] = [],
  /** Before the script, e.g. `--cpu-prof` (with `--cpu-prof-dir`) to profile the server. */
  nodeArgs: readonly string[] = [],
): Promise<{
  address: string;
  /** The -listen-entrypoint address, when the flags name one. */
  entrypointAddress: string | undefined;
  conn: Connection;
  entrypointEnv: NodeJS.ProcessEnv;
  token: string;
  deployment: string;
}> {
  const server = spawn(
    process.execPath,
    [
      ...nodeArgs,
      bin("waypoint.js"),
      "server",
      "run",
      `-db=${join(dir, "data.db")}`,
      "-listen-grpc=127.0.0.1:0",
      "-listen-http=127.0.0.1:0",
      // A free port unless the bench names one: the default (9703) may be taken by another server here.
      ...(flags.some((f) => f.startsWith("-listen-url=")) ? [] : ["-listen-url=127.0.0.1:0"]),
      ...flags,
    ],
    { stdio: ["ignore", "ignore", "pipe"], env: cleanEnv() },
  );
  children.push(server);
  // WAYPOINT_BENCH_SERVER_LOG=FILE keeps the server's log, to see what it did under the load.
  const keep = process.env.WAYPOINT_BENCH_SERVER_LOG;
  if (keep) server.stderr!.pipe(createWriteStream(keep, { flags: "a" }));
  const ready = await logLine(server, "server ready");
  const address = String(ready.grpc);
  const entrypointAddress =
    typeof ready.entrypoints === "string" && ready.entrypoints !== "off" ? ready.entrypoints : undefined;
  const settings = { address, tls: false, tlsSkipVerify: false, source: "bench" };
  const boot = new Connection(settings, clientIdentity("cli", "bench", BUILD_VERSION_INFO));
  const token = (await boot.bootstrap()).token;
  boot.close();
  const conn = new Connection({ ...settings, token }, clientIdentity("cli", "bench", BUILD_VERSION_INFO));
  await conn.createApp(app);
  const created = await conn.createDeployment(app);
  return {
    address,
    entrypointAddress,
    conn,
    token: created.token,
    deployment: created.deployment.id,
    entrypointEnv: {
      ...cleanEnv(),
      WAYPOINT_SERVER_ADDR: address,
      WAYPOINT_CEB_INVITE_TOKEN: created.token,
      WAYPOINT_DEPLOYMENT_ID: created.deployment.id,
    },
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Replaces the section of BENCHMARKS.md that starts with `heading` (or appends it). */
export function writeBenchSection(heading: string, section: string): void {
  const file = join(ROOT, "BENCHMARKS.md");
  const doc = readFileSync(file, "utf8");
  const start = doc.indexOf(heading);
  let out: string;
  if (start === -1) out = `${doc.trimEnd()}\n\n${section}`;
  else {
    const next = doc.indexOf("\n## ", start + 3);
    out = `${doc.slice(0, start)}${section}${next === -1 ? "" : `\n${doc.slice(next + 1)}`}`;
  }
  writeFileSync(file, out);
}
