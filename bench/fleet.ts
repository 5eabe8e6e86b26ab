/**
 * Issue 9, load: 10,000 simulated entrypoints (config and log streams held open) against one
 * server — its RSS and CPU, the time until all are registered, config fan-out latency, log
 * ingestion and `waypoint versions` meanwhile — with the fleet on the server's entrypoint listener
 * (-listen-entrypoint), then on -listen-grpc beside the API calls, and the same simulation, in the
 * same run, against a bare grpc-js server holding the same streams (bench/fleet-bare-server.ts): the
 * ratio is what we add. The simulated entrypoints run in child processes (bench/fleet-sim.ts), 5,000
 * at most each. `node --import=tsx bench/fleet.ts` runs it alone and rewrites its section of
 * BENCHMARKS.md; `--quick` (500 entrypoints) only prints; `--entrypoints=N`; `--profile=DIR` starts
 * the first server with `--cpu-prof` and writes its profiles (one per thread) to DIR; `--shared-cores`
 * lets every process use every core (by default the server has a core of its own: placeProcesses).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { Connection } from "../src/client/connection.js";
import { READ_WINDOW_BYTES } from "../src/client/grpc-call.js";
import { clientIdentity } from "../src/client/identity.js";
import { benchServer, compiledTree, writeBenchSection } from "./compiled.js";
import {
  hwmMiB,
  type Latencies,
  now,
  percentiles,
  placeProcesses,
  procStat,
  Simulator,
  sleep,
  type Usage,
  usage,
  versionsLoop,
  versionsSplit,
} from "./fleet-measure.js";
import { FLEET_HEADING, fleetSection } from "./fleet-section.js";
import { ROUND_VAR } from "./fleet-sim.js";

export type { Latencies, Usage } from "./fleet-measure.js";

export interface FleetOptions {
  readonly entrypoints?: number;
  /** Connections being established at once per simulator process. */
  readonly window?: number;
  readonly rounds?: number;
  readonly idleSeconds?: number;
  readonly logSeconds?: number;
  readonly batchLines?: number;
  /** Profile the real server (`--cpu-prof`) into this directory. */
  readonly profileDir?: string;
  /** Every process on every core, instead of the server on a core of its own (placeProcesses). */
  readonly sharedCores?: boolean;
}

export interface TargetResult {
  /** Where the processes ran (placeProcesses); undefined: all shared every core. */
  readonly placement: string | undefined;
  readonly entrypoints: number;
  readonly sims: number;
  /** First connection to the last first config message, as the simulators saw it. */
  readonly registerSimMs: number;
  /** First connection to ListDeployments counting every instance (polled every 100 ms). */
  readonly registerServerMs: number;
  readonly retries: number;
  /** Instances the simulators gave up on (10 failed attempts each). */
  readonly unregistered: number;
  /** Streams open after the fan-out rounds, before the log phase: simulators' and server's view. */
  readonly held: { readonly config: number; readonly logs: number; readonly server: number };
  /** Config streams still open after the log phase. */
  readonly heldAfter: { readonly config: number; readonly server: number };
  readonly usage: {
    readonly ramp: Usage;
    readonly idle: Usage;
    readonly fanout: Usage;
    readonly logs: Usage;
  };
  readonly rssStartMiB: number;
  readonly hwmMiB: number;
  readonly fanout: Latencies & { readonly rounds: number; readonly setConfigMs: readonly number[] };
  readonly fanoutRoundsMs: readonly { p50: number; p99: number; max: number }[];
  readonly logs: {
    readonly lines: number;
    readonly bytes: number;
    readonly ms: number;
    readonly linesPerSec: number;
    readonly failed: number;
  };
  readonly versions: { readonly idle: Latencies; readonly fanout: Latencies; readonly logs: Latencies };
  /** GetVersionInfo (the smallest answer) on a connection of its own, during the log phase. */
  readonly pingsDuringLogs: Latencies;
  /**
   * At idle, `versions` split (medians of 5): the RPC until grpc-js has decoded the answer, and the
   * client's conversion of it (`inventoryFromProto`), which `Connection.inventory` adds.
   */
  readonly versionsSplit: { readonly rpcMs: number; readonly convertMs: number; readonly components: number };
  readonly errors: readonly string[];
}

export interface FleetBench {
  /** Our server with the fleet on its entrypoint listener (-listen-entrypoint). */
  readonly waypoint: TargetResult;
  /** Our server with the fleet on -listen-grpc, beside the operators' calls (no -listen-entrypoint). */
  readonly oneListener: TargetResult;
  readonly bare: TargetResult;
  readonly machine: { readonly nproc: number; readonly model: string };
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly options: Required<Omit<FleetOptions, "profileDir">>;
  readonly totalMs: number;
}

/** One target (our server or the bare one) under the whole simulation. */
async function runTarget(
  target: {
    readonly pid: number;
    readonly address: string;
    /** Where the simulated entrypoints connect (ours: -listen-entrypoint; bare: address). */
    readonly entrypointAddress: string;
    /** A management token, for the API calls. */
    readonly token: string;
    /** The deployment's entrypoint token, for the simulated entrypoints. */
    readonly entrypointToken: string;
    readonly deployment: string;
  },
  o: Required<Omit<FleetOptions, "profileDir">>,
  /** Ends the server while the fleet is still connected (10,000 disconnections are not part of the bench). */
  endServer: () => Promise<void>,
): Promise<TargetResult> {
  const settings = {
    address: target.address,
    token: target.token,
    tls: false,
    tlsSkipVerify: false,
    source: "bench",
  };
  const mgmt = new Connection(
    { ...settings, token: target.token },
    clientIdentity("cli", "fleet-bench", BUILD_VERSION_INFO),
  );
  // Its own channel, so its calls never queue behind the bench's other calls; the receive window the
  // CLI's `versions` has (src/cli/common-flags.ts).
  const versionsConn = new Connection(
    { ...settings, token: target.token },
    clientIdentity("cli", "fleet-versions", BUILD_VERSION_INFO),
    {
      channel: {
        "grpc.use_local_subchannel_pool": 1,
        "grpc-node.flow_control_window": READ_WINDOW_BYTES,
      },
    },
  );
  const pingConn = new Connection(
    { ...settings, token: target.token },
    clientIdentity("cli", "fleet-ping", BUILD_VERSION_INFO),
    { channel: { "grpc.use_local_subchannel_pool": 1 } },
  );
  const n = o.entrypoints;
  const simCount = Math.ceil(n / 5000);
  const sims = Array.from({ length: simCount }, () => new Simulator());
  const placement = o.sharedCores
    ? undefined
    : placeProcesses(
        target.pid,
        sims.map((s) => s.child.pid!),
      );
  const connected = async () => {
    try {
      return (await mgmt.listDeployments()).reduce((a, d) => a + d.connectedInstances, 0);
    } catch {
      return Number.NaN;
    }
  };
  try {
    await connected();
    const s0 = procStat(target.pid);
    const started = now();
    const per = Math.ceil(n / simCount);
    for (const [i, sim] of sims.entries())
      sim.send({
        t: "start",
        address: target.entrypointAddress,
        token: target.entrypointToken,
        deployment: target.deployment,
        first: i * per,
        count: Math.min(per, n - i * per),
        window: o.window,
      });
    let serverAllAt = Number.NaN;
    // Until the server counts every instance; given up 10 s after the simulators are done.
    let deadline = started + 600_000;
    const poll = (async () => {
      while (now() < deadline) {
        if ((await connected()) >= n) {
          serverAllAt = now();
          return;
        }
        await sleep(100);
      }
    })();
    const registered = await Promise.all(sims.map((s) => s.next("registered", 600_000)));
    deadline = Math.min(deadline, now() + 10_000);
    await poll;
    const s1 = procStat(target.pid);
    const firstConnectAt = Math.min(...registered.map((r) => r.firstConnectAt));
    const retries = registered.reduce((a, r) => a + r.retries, 0);
    const unregistered = registered.reduce((a, r) => a + r.failed, 0);

    await sleep(o.idleSeconds * 1000);
    const s2 = procStat(target.pid);
    const idleVersions: number[] = [];
    let idleFailed = 0;
    for (let i = 0; i < 5; i++) {
      const t = now();
      try {
        await versionsConn.inventory();
        idleVersions.push(now() - t);
      } catch {
        idleFailed += 1;
      }
    }
    const split = await versionsSplit(target.address, target.token).catch(() => ({
      rpcMs: Number.NaN,
      convertMs: Number.NaN,
      components: 0,
    }));

    // Fan-out: each round sets FLEET_ROUND and waits until every instance has it.
    const s3 = procStat(target.pid);
    const during = versionsLoop(versionsConn);
    const latencies: number[] = [];
    const setConfigMs: number[] = [];
    const roundsMs: { p50: number; p99: number; max: number }[] = [];
    let missing = 0;
    for (let r = 1; r <= o.rounds; r++) {
      for (const s of sims) s.send({ t: "expect", round: `r${r}`, timeoutMs: 60_000 });
      await Promise.all(sims.map((s) => s.next("expecting")));
      const t0 = now();
      try {
        await mgmt.setConfig({ set: [{ name: ROUND_VAR, value: `r${r}` }] });
        setConfigMs.push(now() - t0);
      } catch {
        // The push may still have gone out; the arrivals tell.
        setConfigMs.push(Number.NaN);
      }
      const reports = await Promise.all(sims.map((s) => s.next("fanout", 90_000)));
      const round = reports.flatMap((rep) => rep.arrivals.map((a) => a - t0));
      missing += reports.reduce((a, rep) => a + rep.missing, 0);
      latencies.push(...round);
      const p = percentiles(round);
      roundsMs.push({ p50: p.p50, p99: p.p99, max: p.max });
      await sleep(1000);
    }
    const fanoutVersions = await during.stop();
    const s4 = procStat(target.pid);

    const status = await Promise.all(sims.map((s) => s.ask({ t: "status" }, "status")));
    const held = {
      config: status.reduce((a, s) => a + s.config, 0),
      logs: status.reduce((a, s) => a + s.logs, 0),
      server: await connected(),
    };

    // Log ingestion: every instance sends on its open log stream for logSeconds, then ends it.
    const logLoop = versionsLoop(versionsConn);
    const pingLoop = versionsLoop(pingConn, () => pingConn.versionInfo());
    for (const s of sims)
      s.send({
        t: "logs",
        seconds: o.logSeconds,
        batchLines: o.batchLines,
        timeoutMs: o.logSeconds * 1000 + 120_000,
      });
    const logReports = await Promise.all(sims.map((s) => s.next("logs", o.logSeconds * 1000 + 150_000)));
    const logVersions = await logLoop.stop();
    const logPings = await pingLoop.stop();
    const s5 = procStat(target.pid);
    const lines = logReports.reduce((a, r) => a + r.lines, 0);
    const logMs =
      Math.max(...logReports.map((r) => r.lastAnswerAt)) - Math.min(...logReports.map((r) => r.startedAt));

    const after = await Promise.all(sims.map((s) => s.ask({ t: "status" }, "status")));
    return {
      placement,
      entrypoints: n,
      sims: simCount,
      registerSimMs: Math.max(...registered.map((r) => r.allAt)) - firstConnectAt,
      registerServerMs: serverAllAt - firstConnectAt,
      retries,
      unregistered,
      held,
      heldAfter: { config: after.reduce((a, s) => a + s.config, 0), server: await connected() },
      usage: { ramp: usage(s0, s1), idle: usage(s1, s2), fanout: usage(s3, s4), logs: usage(s4, s5) },
      rssStartMiB: s0.rssMiB,
      hwmMiB: hwmMiB(target.pid),
      fanout: { ...percentiles(latencies, missing), rounds: o.rounds, setConfigMs },
      fanoutRoundsMs: roundsMs,
      logs: {
        lines,
        bytes: logReports.reduce((a, r) => a + r.bytes, 0),
        ms: logMs,
        linesPerSec: (lines / logMs) * 1000,
        failed: logReports.reduce((a, r) => a + r.failed, 0),
      },
      versions: { idle: percentiles(idleVersions, idleFailed), fanout: fanoutVersions, logs: logVersions },
      pingsDuringLogs: logPings,
      versionsSplit: split,
      errors: after.flatMap((s) => s.errors).slice(0, 10),
    };
  } finally {
    await endServer();
    for (const s of sims) s.stop();
    mgmt.close();
    versionsConn.close();
    pingConn.close();
  }
}

/** Ends a child: SIGTERM first when it must write something on the way out (a CPU profile). */
async function endChild(child: ChildProcess, graceful: boolean): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  if (graceful) {
    child.kill("SIGTERM");
    await Promise.race([exited, sleep(120_000)]);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await exited;
}

export async function benchFleet(opts: FleetOptions = {}): Promise<FleetBench> {
  const o = {
    entrypoints: opts.entrypoints ?? 10_000,
    window: opts.window ?? 200,
    rounds: opts.rounds ?? 5,
    idleSeconds: opts.idleSeconds ?? 5,
    logSeconds: opts.logSeconds ?? 10,
    batchLines: opts.batchLines ?? 100,
    sharedCores: opts.sharedCores ?? false,
  };
  const began = now();
  const loadBefore = loadavg();
  const tree = compiledTree("fleet");
  const children: ChildProcess[] = [];
  try {
    // Ours first: a real server process on the compiled tree, a real deployment token; the fleet on its
    // entrypoint listener (-listen-entrypoint), then, as a second server, on -listen-grpc with the rest.
    const ours = async (flags: string[], profile: boolean, dir: string): Promise<TargetResult> => {
      const nodeArgs = profile && opts.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${opts.profileDir}`] : [];
      const first = children.length;
      mkdirSync(dir, { recursive: true });
      const s = await benchServer(tree.bin, dir, "fleet", children, flags, nodeArgs);
      s.conn.close();
      const server = children[first]!;
      // Nothing reads its log after "server ready"; a full pipe must never hold it up.
      server.stderr!.resume();
      return runTarget(
        {
          pid: server.pid!,
          address: s.address,
          entrypointAddress: s.entrypointAddress ?? s.address,
          token: s.conn.settings.token ?? "",
          entrypointToken: s.token,
          deployment: s.deployment,
        },
        o,
        () => endChild(server, profile && Boolean(opts.profileDir)),
      );
    };
    const waypoint = await ours(["-listen-entrypoint=127.0.0.1:0"], true, join(tree.dir, "listener"));
    // Ports in TIME_WAIT from one run must not starve the next.
    await sleep(2000);
    const oneListener = await ours([], false, join(tree.dir, "one-listener"));
    // Ports in TIME_WAIT from our runs must not starve the bare one.
    await sleep(2000);

    const bareChild = spawn(
      process.execPath,
      ["--import=tsx", fileURLToPath(new URL("./fleet-bare-server.ts", import.meta.url))],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    children.push(bareChild);
    const first = await createInterface({ input: bareChild.stdout! })[Symbol.asyncIterator]().next();
    const { port } = JSON.parse(String(first.value)) as { port: number };
    const bare = await runTarget(
      {
        pid: bareChild.pid!,
        address: `127.0.0.1:${port}`,
        entrypointAddress: `127.0.0.1:${port}`,
        token: "",
        entrypointToken: "",
        deployment: "bare",
      },
      o,
      () => endChild(bareChild, false),
    );
    return {
      waypoint,
      oneListener,
      bare,
      machine: machine(),
      loadBefore,
      loadAfter: loadavg(),
      options: o,
      totalMs: now() - began,
    };
  } finally {
    for (const c of children) await endChild(c, false);
    tree.remove();
  }
}

function machine(): { nproc: number; model: string } {
  // --all: the bench may be pinned to one CPU by then (placeProcesses).
  const nproc = Number(execFileSync("nproc", ["--all"], { encoding: "utf8" }).trim());
  const model =
    /Model name:\s*(.+)/.exec(execFileSync("lscpu", { encoding: "utf8" }))?.[1]?.trim() ?? "unknown";
  return { nproc, model };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes("--quick");
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const entrypoints = arg("entrypoints");
  const profileDir = arg("profile");
  const b = await benchFleet({
    ...(quick ? { entrypoints: 500, rounds: 3, idleSeconds: 2, logSeconds: 5 } : {}),
    ...(entrypoints ? { entrypoints: Number(entrypoints) } : {}),
    ...(profileDir ? { profileDir } : {}),
    ...(process.argv.includes("--shared-cores") ? { sharedCores: true } : {}),
  });
  const section = fleetSection(b);
  process.stdout.write(`${section}\n`);
  // A quick, resized, profiled or shared-cores run is not for the record.
  if (!quick && !entrypoints && !profileDir && !process.argv.includes("--shared-cores"))
    writeBenchSection(FLEET_HEADING, section);
}
