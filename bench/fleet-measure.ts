/**
 * What bench/fleet.ts measures with: a server process's CPU and memory from /proc, latency
 * percentiles, the simulator processes (bench/fleet-sim.ts) and `waypoint versions`' RPC.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import type { Connection } from "../src/client/connection.js";
import { READ_WINDOW_BYTES } from "../src/client/grpc-call.js";
import { clientIdentity } from "../src/client/identity.js";
import { inventoryFromProto } from "../src/client/inventory-convert.js";
import { loadWaypointProto } from "../src/gen/load.js";
import type { Inventory__Output } from "../src/gen/waypoint/v1/Inventory.js";
import { encodeClientHeaders, HEADERS } from "../src/protocol/headers.js";
import type { SimCommand, SimReport } from "./fleet-sim.js";

/** A server process's CPU and memory over one phase. */
export interface Usage {
  /** CPU time (user + system) over wall time, in percent of one core. */
  readonly cpuPct: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  /** VmRSS at the phase's end. */
  readonly rssMiB: number;
}

export interface Latencies {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly failed: number;
  /** How many took longer than 200 ms (the `versions` target). */
  readonly over200: number;
}

export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function procStat(pid: number): { cpuMs: number; at: number; rssMiB: number } {
  // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuMs: (Number(fields[11]) + Number(fields[12])) * 10, at: now(), rssMiB: kb / 1024 };
}

export function hwmMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

export function usage(a: ReturnType<typeof procStat>, b: ReturnType<typeof procStat>): Usage {
  const cpuMs = b.cpuMs - a.cpuMs;
  const wallMs = b.at - a.at;
  return { cpuPct: (cpuMs / wallMs) * 100, cpuMs, wallMs, rssMiB: b.rssMiB };
}

export function percentiles(xs: readonly number[], failed = 0): Latencies {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) =>
    s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return {
    n: s.length,
    p50: at(0.5),
    p99: at(0.99),
    max: s.at(-1) ?? Number.NaN,
    failed,
    over200: s.filter((x) => x > 200).length,
  };
}

/** A simulator process and its reports, taken in order by type. */
export class Simulator {
  readonly child: ChildProcess;
  private readonly waiting = new Map<string, (r: SimReport | undefined) => void>();
  private readonly queued = new Map<string, SimReport[]>();

  private exited: Error | undefined;

  constructor() {
    this.child = spawn(
      process.execPath,
      ["--import=tsx", fileURLToPath(new URL("./fleet-sim.ts", import.meta.url))],
      {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    this.child.on("message", (r: SimReport) => {
      const w = this.waiting.get(r.t);
      if (w) {
        this.waiting.delete(r.t);
        w(r);
      } else this.queued.set(r.t, [...(this.queued.get(r.t) ?? []), r]);
    });
    this.child.once("exit", (code) => {
      this.exited = new Error(`the simulator exited (${code})`);
      for (const w of this.waiting.values()) w(undefined);
      this.waiting.clear();
    });
  }

  /** Sends `cmd` and waits for the report of type `t`. */
  ask<T extends SimReport["t"]>(cmd: SimCommand, t: T): Promise<Extract<SimReport, { t: T }>> {
    this.send(cmd);
    return this.next(t);
  }

  send(cmd: SimCommand): void {
    this.child.send(cmd);
  }

  next<T extends SimReport["t"]>(t: T, timeoutMs = 600_000): Promise<Extract<SimReport, { t: T }>> {
    const q = this.queued.get(t);
    if (q && q.length > 0) return Promise.resolve(q.shift() as Extract<SimReport, { t: T }>);
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(t);
        reject(new Error(`the simulator sent no "${t}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(t, (r) => {
        clearTimeout(timer);
        if (r) resolve(r as Extract<SimReport, { t: T }>);
        else reject(this.exited);
      });
    });
  }

  stop(): void {
    if (this.child.connected) this.child.disconnect();
    setTimeout(() => this.child.kill("SIGKILL"), 2000).unref();
  }
}

/** GetInventory on a grpc-js client of its own, timed apart from the client's conversion of the answer. */
export async function versionsSplit(
  address: string,
  token: string,
): Promise<{ rpcMs: number; convertMs: number; components: number }> {
  const Waypoint = loadWaypointProto().grpc.waypoint.v1.Waypoint;
  const client = new Waypoint(address, grpc.credentials.createInsecure(), {
    "grpc.max_receive_message_length": 64 * 2 ** 20,
    "grpc.use_local_subchannel_pool": 1,
    "grpc-node.flow_control_window": READ_WINDOW_BYTES,
  });
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(
    encodeClientHeaders(clientIdentity("cli", "fleet-split", BUILD_VERSION_INFO)),
  ))
    md.set(k, v);
  if (token) md.set(HEADERS.authorization, `Bearer ${token}`);
  const rpc: number[] = [];
  const convert: number[] = [];
  let components = 0;
  try {
    for (let i = 0; i < 5; i++) {
      const t = now();
      const res = await new Promise<Inventory__Output>((resolve, reject) =>
        client.GetInventory({}, md, (err, r) => (err || !r ? reject(err) : resolve(r))),
      );
      rpc.push(now() - t);
      const c = now();
      components = inventoryFromProto(res).components.length;
      convert.push(now() - c);
    }
  } finally {
    client.close();
  }
  return { rpcMs: percentiles(rpc).p50, convertMs: percentiles(convert).p50, components };
}

/**
 * Where the processes run, so that the simulators' load is not taken from the server's core (a fleet's
 * entrypoints run on other machines): the server alone on CPU 0; the simulators at nice 19 on CPU 1 with
 * the bench, whose `versions` client then gets that core when it needs it. Says what it did, or undefined
 * (all share every core) with fewer than 2 CPUs or without taskset and renice.
 */
export function placeProcesses(server: number, simulators: readonly number[]): string | undefined {
  // All the machine's CPUs: the bench itself is pinned to one after the first placement.
  if (cpus().length < 2) return undefined;
  const run = (cmd: string, args: readonly (string | number)[]) =>
    execFileSync(cmd, args.map(String), { stdio: "ignore" });
  try {
    run("taskset", ["-a", "-p", "-c", 0, server]);
    for (const pid of simulators) {
      run("taskset", ["-a", "-p", "-c", 1, pid]);
      run("renice", ["-n", 19, "-p", pid]);
    }
    run("taskset", ["-a", "-p", "-c", 1, process.pid]);
    return "the server alone on CPU 0; the simulators at nice 19 and the bench (its `versions` client) on CPU 1 (`taskset`, `renice`)";
  } catch {
    return undefined;
  }
}

/**
 * `waypoint versions`' RPC (GetInventory, src/cli/versions.ts) back to back, 100 ms apart, until stopped;
 * `call` another RPC in its place (GetVersionInfo, the smallest, to tell the size of the answer from the rest).
 */
export function versionsLoop(
  conn: Connection,
  call: () => Promise<unknown> = () => conn.inventory(),
): { stop(): Promise<Latencies> } {
  let running = true;
  const xs: number[] = [];
  let failed = 0;
  const loop = (async () => {
    while (running) {
      const t = now();
      try {
        await call();
        xs.push(now() - t);
      } catch {
        failed += 1;
      }
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return percentiles(xs, failed);
    },
  };
}
