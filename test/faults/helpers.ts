/**
 * Shared by the fault tests (test/faults/): a real `waypoint server run` on
 * ports chosen here, so that a restart can take the same ones, with a
 * management token and an admin connection; the entrypoint as shipped (the
 * esbuild bundle, which starts in a fraction of the source's time under tsx);
 * percentiles and a seeded generator.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { freePort, REPO_ROOT, type ServerProcess, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

export interface FaultServer {
  readonly args: readonly string[];
  readonly db: string;
  readonly grpcAddress: string;
  /** The running process (replaced by restart). */
  process: ServerProcess;
  readonly token: string;
  readonly admin: Connection;
  /** Starts `waypoint server run` again on the same ports and database. */
  restart(): Promise<ServerProcess>;
}

/** Starts a server on fixed free ports and a fresh data dir, and bootstraps it. */
export async function startFaultServer(
  t: ExecutionContext,
  opts: {
    extraArgs?: readonly string[];
    env?: NodeJS.ProcessEnv;
    db?: string;
    /** Runs the server under this command (see SpawnOptions.wrap). */
    wrap?: readonly string[];
  } = {},
): Promise<FaultServer> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const db = opts.db ?? join(tempDir(t, "waypoint-fault-"), "data.db");
  const args = [
    `-listen-grpc=127.0.0.1:${grpcPort}`,
    `-listen-http=127.0.0.1:${httpPort}`,
    ...(opts.extraArgs ?? []),
  ];
  const env = { WAYPOINT_LOG_LEVEL: "info", ...opts.env };
  const wrap = opts.wrap ? { wrap: opts.wrap } : {};
  const first = await startServerProcess(t, { args, db, env, ...wrap });
  const boot = new Connection(
    { address: first.grpcAddress, tls: false, tlsSkipVerify: false, source: "test" },
    clientIdentity("cli", "fault-bootstrap", BUILD_VERSION_INFO),
  );
  const token = (await boot.bootstrap()).token;
  boot.close();
  const admin = new Connection(
    { address: first.grpcAddress, token, tls: false, tlsSkipVerify: false, source: "test" },
    clientIdentity("cli", "fault-admin", BUILD_VERSION_INFO),
  );
  t.teardown(() => admin.close());
  const server: FaultServer = {
    args,
    db,
    grpcAddress: first.grpcAddress,
    process: first,
    token,
    admin,
    async restart() {
      server.process = await startServerProcess(t, { args, db, env, ...wrap });
      return server.process;
    },
  };
  return server;
}

let bundle: { dist: string; bin: string } | undefined;

/**
 * The entrypoint bundled as `npm run build` ships it, built once per test
 * file into .test-tmp (node_modules above it, as in an install). Removed by
 * removeEntrypointBundle (call it from test.after.always).
 */
export function entrypointBundle(): string {
  if (!bundle) {
    mkdirSync(join(REPO_ROOT, ".test-tmp"), { recursive: true });
    const dist = mkdtempSync(join(REPO_ROOT, ".test-tmp", "faults-"));
    execFileSync(process.execPath, [join(REPO_ROOT, "scripts", "bundle-entrypoint.mjs"), dist], {
      stdio: "pipe",
    });
    bundle = { dist, bin: join(dist, "bin", "waypoint-entrypoint.js") };
  }
  return bundle.bin;
}

export function removeEntrypointBundle(): void {
  if (bundle) rmSync(bundle.dist, { recursive: true, force: true });
  bundle = undefined;
}

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Resident memory of a process in KiB (VmRSS in /proc/PID/status). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

export { seeded } from "../helpers/seeded.js";
