/**
 * Jobs through real runners: no-op jobs per second through one `waypoint runner agent` and through
 * four, and the queue-to-start latency of a job queued while a runner waits.
 * `node --import=tsx bench/jobs.ts` runs it alone and rewrites its section of BENCHMARKS.md.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Connection } from "../src/client/connection.js";
import type { JobInfo } from "../src/client/runtime.js";
import {
  benchServer,
  cleanEnv,
  compiledTree,
  fmt,
  median,
  waitUntil,
  writeBenchSection,
} from "./compiled.js";

const HEADING = "## Jobs: throughput through runners, queue-to-start latency";

export interface JobsBench {
  readonly throughput: readonly {
    runners: number;
    jobs: number;
    ms: number;
    perSec: number;
    rounds: readonly number[];
  }[];
  /** startedAt − queuedAt (server clock) of jobs queued one at a time to an idle runner. */
  readonly latencyMs: readonly number[];
  /** The same split: queued → assigned, assigned → started (the runner spawning the command). */
  readonly assignMs: readonly number[];
  readonly startMs: readonly number[];
}

const ms = (a: string | null, b: string | null) => Date.parse(b ?? "") - Date.parse(a ?? "");

function startAgents(
  bin: (name: string) => string,
  address: string,
  token: string,
  ids: { from: number; to: number },
  children: ChildProcess[],
) {
  const ready: Promise<void>[] = [];
  for (let i = ids.from; i < ids.to; i++) {
    const child = spawn(process.execPath, [bin("waypoint.js"), "runner", "agent", `-id=bench-runner-${i}`], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...cleanEnv(), WAYPOINT_SERVER_ADDR: address, WAYPOINT_SERVER_TOKEN: token },
      cwd: "/tmp",
    });
    children.push(child);
    ready.push(
      new Promise((resolve, reject) => {
        let log = "";
        child.stderr!.setEncoding("utf8").on("data", (s: string) => {
          log += s;
          if (log.includes("waiting for jobs")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`runner exited ${code}:\n${log}`)));
      }),
    );
  }
  return Promise.all(ready);
}

async function allDone(conn: Connection, ids: ReadonlySet<string>): Promise<JobInfo[]> {
  let jobs: JobInfo[] = [];
  await waitUntil(async () => {
    jobs = (await conn.listJobs({ app: "noop" })).filter((j) => ids.has(j.id));
    return jobs.every((j) => j.state === "success" || j.state === "error" || j.state === "cancelled");
  }, 300_000);
  const bad = jobs.filter((j) => j.state !== "success");
  if (bad.length > 0) throw new Error(`${bad.length} jobs did not succeed: ${JSON.stringify(bad[0])}`);
  return jobs;
}

export async function benchJobs(
  opts: { jobs?: number; rounds?: number; latencyJobs?: number } = {},
): Promise<JobsBench> {
  const jobsPerRound = opts.jobs ?? 400;
  const rounds = opts.rounds ?? 3;
  const latencyJobs = opts.latencyJobs ?? 60;
  const tree = compiledTree("jobs");
  const children: ChildProcess[] = [];
  try {
    const s = await benchServer(tree.bin, tree.dir, "noop", children);
    const conn = s.conn;
    await conn.updateApp("noop", { operations: { build: "true" } });
    const runnerToken = (await conn.createToken({ kind: "runner", description: "bench" })).token;
    const throughput: JobsBench["throughput"][number][] = [];
    let started = 0;
    for (const runners of [1, 4]) {
      await startAgents(tree.bin, s.address, runnerToken, { from: started, to: runners }, children);
      started = runners;
      const samples: number[] = [];
      for (let round = 0; round < rounds; round++) {
        // Queue them all (8 calls in flight), then wait for the last to end: first queue to last finish.
        const ids = new Set<string>();
        const queue = async () => {
          while (ids.size < jobsPerRound) {
            const placeholder = `pending-${ids.size}`;
            ids.add(placeholder);
            const j = await conn.queueJob({ app: "noop", operation: "build" });
            ids.delete(placeholder);
            ids.add(j.id);
          }
        };
        await Promise.all(Array.from({ length: 8 }, queue));
        const jobs = await allDone(conn, ids);
        const first = Math.min(...jobs.map((j) => Date.parse(j.queuedAt)));
        const last = Math.max(...jobs.map((j) => Date.parse(j.finishedAt ?? "")));
        samples.push((jobs.length / (last - first)) * 1000);
      }
      const perSec = median(samples);
      throughput.push({
        runners,
        jobs: jobsPerRound,
        ms: (jobsPerRound / perSec) * 1000,
        perSec,
        rounds: samples,
      });
    }
    // Latency: one job at a time, every runner idle.
    const latencyMs: number[] = [];
    const assignMs: number[] = [];
    const startMs: number[] = [];
    for (let i = 0; i < latencyJobs; i++) {
      const j = await conn.queueJob({ app: "noop", operation: "build" });
      const [done] = await allDone(conn, new Set([j.id]));
      latencyMs.push(ms(done!.queuedAt, done!.startedAt));
      assignMs.push(ms(done!.queuedAt, done!.assignedAt));
      startMs.push(ms(done!.assignedAt, done!.startedAt));
    }
    conn.close();
    return { throughput, latencyMs, assignMs, startMs };
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
    tree.remove();
  }
}

export function jobsSection(b: JobsBench): string {
  const rows = b.throughput
    .map(
      (t) =>
        `| no-op jobs through ${t.runners} runner${t.runners === 1 ? "" : "s"} | **${fmt(t.perSec)} jobs/s** (rounds: ${t.rounds.map((x) => x.toFixed(0)).join(", ")}) |`,
    )
    .join("\n");
  return `${HEADING}

| measure | figure |
| --- | ---: |
${rows}
| queue-to-start latency, median (p90) | **${median(b.latencyMs).toFixed(0)} ms** (${[...b.latencyMs].sort((x, y) => x - y)[Math.floor(b.latencyMs.length * 0.9)]?.toFixed(0)} ms) |
| of which queued → assigned, median | ${median(b.assignMs).toFixed(0)} ms |
| of which assigned → started (the runner starting the command), median | ${median(b.startMs).toFixed(0)} ms |

**What is measured.** A real server and real \`waypoint runner agent\` processes, all on the compiled tree, on the
same machine; the app's build command is \`true\`. *Throughput*: ${fmt(b.throughput[0]?.jobs ?? 0)} jobs queued
through the API as fast as 8 concurrent \`QueueJob\` calls go, then waited for; the figure is jobs divided by the
time from the first job's \`queuedAt\` to the last one's \`finishedAt\` (server timestamps), the median of
${b.throughput[0]?.rounds.length} rounds, first with one runner, then with four. Each job is the whole path: the
assignment (a store write), \`started\` (a write), the command under its process-group wrapper, the runner waiting
for the group to be gone, \`done\` (a write), and the next assignment. *Latency*: ${b.latencyMs.length} jobs queued
one at a time while the runners wait, each waited for before the next; \`startedAt − queuedAt\`, which includes
the runner spawning \`sh\` and reporting that the command started.

**Where the time goes.** Each write to SQLite is a committed transaction (WAL, synchronous FULL), and the
runner spawns two shells per job (the wrapper and the command) and checks \`/proc\` until the job's group is
gone before it reports; on a 2-core machine the four runners, the server and the shells share the cores, so
four runners are not four times one.`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes("--quick");
  const b = await benchJobs(quick ? { jobs: 100, rounds: 1, latencyJobs: 20 } : {});
  const section = jobsSection(b);
  process.stdout.write(`${section}\n`);
  writeBenchSection(HEADING, section);
}
