/**
 * The entrypoint's start-up cost and the server's log ingestion: (c) time
 * from start to the app running, through the entrypoint with the server
 * reachable, beside the app alone; (d) lines per second the server takes in
 * from 200 connected entrypoints. `node --import=tsx bench/entrypoint-fleet.ts`
 * runs it alone and rewrites its section of BENCHMARKS.md.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { EntrypointConnection } from "../src/client/entrypoint-connection.js";
import { clientIdentity } from "../src/protocol/headers.js";
import { benchServer, compiledTree, fmt, median, writeBenchSection } from "./compiled.js";

const HEADING = "## Entrypoint: start-up and server log ingestion";

export interface EntrypointFleetBench {
  readonly startRounds: number;
  /** Spawn to the app's first byte on stdout. */
  readonly aloneMs: readonly number[];
  readonly throughMs: readonly number[];
  /** Through the entrypoint without NODE_EXTRA_CA_CERTS (the same as throughMs when it is not set). */
  readonly throughNoCaMs: readonly number[];
  /** A bare `node -e` to its first byte, with the environment as it is and without NODE_EXTRA_CA_CERTS. */
  readonly nodeMs: readonly number[];
  readonly nodeNoCaMs: readonly number[];
  /** What NODE_EXTRA_CA_CERTS names in the bench's environment, if anything, and its size. */
  readonly extraCaCerts: { file: string; bytes: number } | undefined;
  /** Median added by the entrypoint without NODE_EXTRA_CA_CERTS: the verdict's figure. */
  readonly addedMs: number;
  /** The same with the environment as it is. */
  readonly addedAsIsMs: number;
  readonly entrypoints: number;
  readonly lines: number;
  readonly bytes: number;
  readonly ingestMs: number;
  readonly linesPerSec: number;
  /** The server process's CPU time (user + system) during the ingestion. */
  readonly serverCpuMs: number;
  readonly batchLines: number;
  readonly batches: number;
}

/** From just before the spawn to the first byte on stdout; settles at the exit. */
function firstByte(start: () => ChildProcess): Promise<number> {
  const started = performance.now();
  const child = start();
  return new Promise((resolve, reject) => {
    let at = 0;
    child.stdout!.once("data", () => {
      at = performance.now() - started;
    });
    child.stdout!.resume();
    child.once("close", (code) => (code === 0 && at > 0 ? resolve(at) : reject(new Error(`exited ${code}`))));
  });
}

function cpuMs(pid: number): number {
  // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** One pino-style line of ~110 bytes. */
function line(i: number): string {
  return `{"level":30,"time":${1_790_000_000_000 + i},"pid":4242,"msg":"request completed","req":${i},"status":200}\n`;
}

export async function benchEntrypointFleet(
  opts: { startRounds?: number; entrypoints?: number; batches?: number; batchLines?: number } = {},
): Promise<EntrypointFleetBench> {
  const startRounds = opts.startRounds ?? 15;
  const entrypoints = opts.entrypoints ?? 200;
  const batches = opts.batches ?? 10;
  const batchLines = opts.batchLines ?? 1000;
  const tree = compiledTree("entrypoint-fleet");
  const children: ChildProcess[] = [];
  try {
    const s = await benchServer(tree.bin, tree.dir, "fleet", children);
    const server = children[0]!;

    // (c) Start-up: `echo up` alone and through the entrypoint (registers, gets its config, then starts it).
    // NODE_EXTRA_CA_CERTS makes every Node process read and parse that file as it starts, before any
    // of its code runs: a cost of the environment, measured apart.
    const caFile = s.entrypointEnv.NODE_EXTRA_CA_CERTS;
    const extraCaCerts = caFile ? { file: caFile, bytes: fileSize(caFile) } : undefined;
    const noCaEnv = { ...s.entrypointEnv };
    delete noCaEnv.NODE_EXTRA_CA_CERTS;
    const aloneMs: number[] = [];
    const throughMs: number[] = [];
    const throughNoCaMs: number[] = [];
    const nodeMs: number[] = [];
    const nodeNoCaMs: number[] = [];
    const entrypoint = (env: NodeJS.ProcessEnv) => () =>
      spawn(process.execPath, [tree.bin("waypoint-entrypoint.js"), "echo", "up"], {
        stdio: ["ignore", "pipe", "ignore"],
        env,
      });
    const bareNode = (env: NodeJS.ProcessEnv) => () =>
      spawn(process.execPath, ["-e", "process.stdout.write('up')"], {
        stdio: ["ignore", "pipe", "ignore"],
        env,
      });
    for (let r = 0; r < startRounds; r++) {
      aloneMs.push(await firstByte(() => spawn("echo", ["up"], { stdio: ["ignore", "pipe", "ignore"] })));
      throughMs.push(await firstByte(entrypoint(s.entrypointEnv)));
      throughNoCaMs.push(caFile ? await firstByte(entrypoint(noCaEnv)) : throughMs.at(-1)!);
      nodeMs.push(await firstByte(bareNode(s.entrypointEnv)));
      nodeNoCaMs.push(caFile ? await firstByte(bareNode(noCaEnv)) : nodeMs.at(-1)!);
    }

    // (d) Ingestion: 200 entrypoints, each on its own HTTP/2 connection, registered, then shipping
    // `batches` batches of `batchLines` lines as fast as the server takes them.
    const conns: EntrypointConnection[] = [];
    const settings = {
      address: s.address,
      token: s.token,
      tls: false,
      tlsSkipVerify: false,
      source: "bench",
    };
    await Promise.all(
      Array.from({ length: entrypoints }, (_, i) => {
        const id = `bench-${String(i).padStart(3, "0")}`;
        const conn = new EntrypointConnection(settings, clientIdentity("entrypoint", id, BUILD_VERSION_INFO));
        conns.push(conn);
        return new Promise<void>((resolve, reject) => {
          conn.config(
            {
              instanceId: id,
              deploymentId: s.deployment,
              hostname: "bench",
              pid: 1,
              startedAt: new Date().toISOString(),
            },
            () => resolve(),
            (err) => reject(err ?? new Error("config stream ended")),
          );
        });
      }),
    );
    const data = Buffer.from(Array.from({ length: batchLines }, (_, i) => line(i)).join(""));
    const cpuBefore = cpuMs(server.pid!);
    const started = performance.now();
    await Promise.all(
      conns.map(
        (conn, i) =>
          new Promise<void>((resolve, reject) => {
            let sent = 0;
            let first = true;
            const pump = () => {
              while (sent < batches) {
                sent += 1;
                const ok = stream.write({
                  ...(first ? { instanceId: `bench-${String(i).padStart(3, "0")}` } : {}),
                  chunks: [{ source: "stdout", data, at: new Date().toISOString() }],
                });
                first = false;
                if (!ok) return;
              }
              stream.end();
            };
            const stream = conn.logs(pump, (err) => (err ? reject(err) : resolve()));
            pump();
          }),
      ),
    );
    const ingestMs = performance.now() - started;
    const serverCpuMs = cpuMs(server.pid!) - cpuBefore;
    // Every instance's newest line is the last one sent: nothing was lost on the way in.
    const tail = await new Promise<string>((resolve, reject) => {
      let last = "";
      s.conn.logs(
        { instance: "bench-199", tail: 1 },
        (ls) => {
          if (ls.length > 0) last = ls[ls.length - 1]!.line;
        },
        (err) => (err ? reject(err) : resolve(last)),
      );
    });
    if (entrypoints === 200 && `${tail}\n` !== line(batchLines - 1))
      throw new Error(`the server's newest line of bench-199 is ${JSON.stringify(tail)}`);
    for (const c of conns) c.close();
    s.conn.close();
    const lines = entrypoints * batches * batchLines;
    return {
      startRounds,
      aloneMs,
      throughMs,
      throughNoCaMs,
      nodeMs,
      nodeNoCaMs,
      extraCaCerts,
      addedMs: median(throughNoCaMs) - median(aloneMs),
      addedAsIsMs: median(throughMs) - median(aloneMs),
      entrypoints,
      lines,
      bytes: entrypoints * batches * data.length,
      ingestMs,
      linesPerSec: (lines / ingestMs) * 1000,
      serverCpuMs,
      batchLines,
      batches,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    tree.remove();
  }
}

export function entrypointFleetSection(e: EntrypointFleetBench): string {
  const ms = (n: number) => `${n.toFixed(1)} ms`;
  const verdict = e.addedMs <= 100 ? "meets" : "MISSES";
  return `${HEADING}

| measure | figure | target |
| --- | ---: | --- |
| app alone: spawn to its first byte (median of ${e.startRounds}) | ${ms(median(e.aloneMs))} | |
| through the entrypoint, server reachable (median of ${e.startRounds}) | ${ms(median(e.throughNoCaMs))} | |
| **added by the entrypoint** | **${ms(e.addedMs)}** | ≤ 100 ms (${verdict}) |
| for scale: a bare \`node -e\` to its first byte | ${ms(median(e.nodeNoCaMs))} | |
${
  e.extraCaCerts
    ? `| with this machine's \`NODE_EXTRA_CA_CERTS\` (${fmt(e.extraCaCerts.bytes / 1024)} KiB of certificates): through the entrypoint | ${ms(median(e.throughMs))} (added ${ms(e.addedAsIsMs)}) | |
| the same for a bare \`node -e\` | ${ms(median(e.nodeMs))} | |
`
    : ""
}| server log ingestion, ${e.entrypoints} connected entrypoints | **${fmt(e.linesPerSec)} lines/s** (${fmt(e.bytes / 2 ** 20 / (e.ingestMs / 1000))} MiB/s) | |
| the server's CPU time for it | ${fmt(e.serverCpuMs)} ms for ${fmt(e.lines)} lines (${fmt((e.lines / Math.max(1, e.serverCpuMs)) * 1000)} lines per CPU-second) | |

**Start-up.** The entrypoint as \`npm run build\` ships it (bundled) with a real server process reachable: it
starts Node, loads, connects, registers (the config stream's first message) and only then starts the app —
\`echo up\` — whose first byte on stdout ends the measure; beside \`echo up\` spawned alone. ${e.startRounds} rounds,
alternating; medians (alone: ${e.aloneMs.map((x) => x.toFixed(0)).join(", ")} ms; through the entrypoint:
${e.throughNoCaMs.map((x) => x.toFixed(0)).join(", ")} ms). Most of what the entrypoint adds is Node's own start; the
bare \`node -e\` row shows how much.${
    e.extraCaCerts
      ? ` This machine's environment sets \`NODE_EXTRA_CA_CERTS=${e.extraCaCerts.file}\`, which every Node process reads
and parses as it starts, before any of its code runs (through the entrypoint: ${e.throughMs.map((x) => x.toFixed(0)).join(", ")} ms).
That is a cost of the environment, paid by any Node program, so the verdict is on the figure without it; on a host
where it is set, point it at the one CA the server's certificate needs rather than at the whole system bundle,
which Node has already.`
      : ""
  }

**Ingestion.** ${e.entrypoints} entrypoints, each its own HTTP/2 connection with the entrypoint's own client
(\`EntrypointConnection\`), registered, each sending ${e.batches} batches of ${fmt(e.batchLines)} lines (~110-byte JSON lines in one
chunk per batch, as the entrypoint ships them) as fast as the server takes them; the time from the first write to the
last stream's answer (the server answers once it has taken every batch of the stream) — ${fmt(e.lines)} lines,
${fmt(e.bytes / 2 ** 20)} MiB in ${fmt(e.ingestMs)} ms. The bench then checks that the server's newest line of the
last instance is the last one sent. The load generator runs in the bench's process on the same cores as the server, so
the server's own CPU time is given too.`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes("--quick");
  const e = await benchEntrypointFleet(quick ? { startRounds: 5, batches: 3 } : {});
  const section = entrypointFleetSection(e);
  process.stdout.write(`${section}\n`);
  writeBenchSection(HEADING, section);
}
