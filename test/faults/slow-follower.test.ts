/**
 * Fault: followers of the logs that stop reading, while the fleet logs heavily. APPS real
 * entrypoints (the shipped bundle) wrap apps that print lines stamped with the time they were
 * written; one `waypoint logs -f` (the fast follower) is read all along, and its latency (app write
 * → line on its stdout) and throughput are measured first alone, then while SLOW more `waypoint logs
 * -f` processes stop reading: two whose stdout nobody reads (a pipe to a stuck consumer) and one
 * stopped with SIGSTOP.
 *
 * Proves: the fast follower keeps its throughput and latency; the server's resident memory stays
 * bounded although the stuck followers were owed far more than it grew (each holds at most its
 * backlog, FOLLOW_BACKLOG_BYTES, and the rest is skipped); and a stuck follower that reads again
 * gets a "[waypoint] N log lines were skipped" line, then follows normally.
 */
import type { ChildProcess } from "node:child_process";
import test from "ava";
import { type EntrypointProcess, spawnEntrypoint } from "../helpers/entrypoint.js";
import { spawnWaypoint } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";
import { entrypointBundle, percentile, removeEntrypointBundle, rssKiB, startFaultServer } from "./helpers.js";

const APPS = 3;
/** Each app prints LINES_PER_TICK lines of ~LINE_BYTES every 10 ms: ~3 MB/s per app, under the entrypoint's 4 MB/s. */
const LINES_PER_TICK = 18;
const LINE_BYTES = 2040;
const PHASE_MS = 6000;

const APP = [
  process.execPath,
  "-e",
  `let seq = 0; const pad = "x".repeat(${LINE_BYTES - 40});
   setInterval(() => {
     let s = "";
     for (let i = 0; i < ${LINES_PER_TICK}; i++) s += "L " + process.pid + " " + seq++ + " " + Date.now() + " " + pad + "\\n";
     process.stdout.write(s);
   }, 10);`,
];

test.after.always(removeEntrypointBundle);

interface Sample {
  readonly at: number;
  readonly latency: number;
}

test("followers that stop reading do not slow another follower, and the server's memory stays bounded", async (t) => {
  const bin = entrypointBundle();
  const s = await startFaultServer(t);
  await s.admin.createApp("web");
  const created = await s.admin.createDeployment("web");
  const env = {
    WAYPOINT_SERVER_ADDR: s.grpcAddress,
    WAYPOINT_CEB_INVITE_TOKEN: created.token,
    WAYPOINT_DEPLOYMENT_ID: created.deployment.id,
    WAYPOINT_LOG_LEVEL: "warn",
  };
  const fleet: EntrypointProcess[] = [];
  for (let i = 0; i < APPS; i++) {
    const ep = spawnEntrypoint(t, APP, { bin, env });
    // The entrypoint copies the app's output to its stdout, which a supervisor would read; so do we.
    ep.child.stdout!.removeAllListeners("data").resume();
    fleet.push(ep);
  }
  const cliEnv = { WAYPOINT_SERVER_ADDR: s.grpcAddress, WAYPOINT_SERVER_TOKEN: s.token };
  await waitFor(
    async () => (await s.admin.listInstances({ app: "web" })).filter((i) => i.connected).length === APPS,
    `${APPS} instances connected`,
    30_000,
  );

  // The fast follower: every line it prints is timed on arrival.
  const fast = spawnWaypoint(t, ["logs", "-f", "-app=web", "-tail=0"], { env: cliEnv });
  const samples: Sample[] = [];
  let partial = "";
  fast.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const now = Date.now();
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      const m = / \| L \d+ \d+ (\d+) /.exec(line);
      if (m) samples.push({ at: now, latency: now - Number(m[1]) });
    }
  });
  fast.stderr!.resume();
  await waitFor(() => samples.length > 1000, "the fast follower to get lines", 30_000);

  const serverPid = s.process.child.pid!;
  const measure = async (what: string, tick: () => void = () => {}) => {
    const from = Date.now();
    const rss: number[] = [];
    while (Date.now() - from < PHASE_MS) {
      rss.push(rssKiB(serverPid));
      tick();
      await new Promise((r) => setTimeout(r, 100));
    }
    const window = samples.filter((x) => x.at >= from).map((x) => x.latency);
    const stats = {
      linesPerSec: Math.round((window.length * 1000) / PHASE_MS),
      p50: percentile(window, 50),
      p99: percentile(window, 99),
      rssMaxMiB: Math.round(Math.max(...rss) / 1024),
      rssEndMiB: Math.round(rss.at(-1)! / 1024),
      /** At half time, and the most in the second half. */
      rssHalfMiB: Math.round(rss[Math.floor(rss.length / 2)]! / 1024),
      rssSecondHalfMaxMiB: Math.round(Math.max(...rss.slice(Math.floor(rss.length / 2))) / 1024),
    };
    t.log(
      `${what}: fast follower ${stats.linesPerSec} lines/s, latency p50 ${stats.p50} ms, p99 ${stats.p99} ms; server RSS max ${stats.rssMaxMiB} MiB, end ${stats.rssEndMiB} MiB`,
    );
    return stats;
  };

  const alone = await measure("alone");

  // Followers that stop reading: two whose stdout nobody reads (the pipe fills, their writes block),
  // one stopped outright.
  const stuck: ChildProcess[] = [];
  for (let i = 0; i < 3; i++) {
    const child = spawnWaypoint(t, ["logs", "-f", "-app=web"], { env: cliEnv });
    child.stderr!.resume();
    stuck.push(child);
  }
  const stopped = stuck[2]!;
  t.teardown(() => {
    stopped.kill("SIGCONT");
  });
  // Once they are following (the server lists them as readers of the app), stop the third.
  await new Promise((r) => setTimeout(r, 3000));
  stopped.kill("SIGSTOP");
  const rssBefore = rssKiB(serverPid);
  const stuckRss = () => stuck.map((c) => Math.round(rssKiB(c.pid!) / 1024));
  const stuckSeries: number[][] = [];
  const shipped = () => samples.length;
  const linesBefore = shipped();
  const withStuck = await measure("with 3 stuck followers", () => stuckSeries.push(stuckRss()));
  // What each stuck follower was owed meanwhile (the same lines for all three, which may share them).
  const owedMiB = Math.round(((shipped() - linesBefore) * LINE_BYTES) / (1024 * 1024));
  const [stuckBefore, stuckHalf, stuckAfter] = [
    stuckSeries[0]!,
    stuckSeries[Math.floor(stuckSeries.length / 2)]!,
    stuckSeries.at(-1)!,
  ];
  t.log(
    `the stuck followers' own RSS (MiB) at the start, middle and end: ${stuckBefore.join(", ")} → ${stuckHalf.join(", ")} → ${stuckAfter.join(", ")}`,
  );
  t.log(`each stuck follower was owed ~${owedMiB} MiB during the measurement`);

  t.true(
    withStuck.linesPerSec >= alone.linesPerSec * 0.6,
    `the fast follower keeps its throughput (${withStuck.linesPerSec} vs ${alone.linesPerSec} lines/s)`,
  );
  t.true(
    withStuck.p99 <= Math.max(alone.p99 * 3, alone.p99 + 1000),
    `the fast follower keeps its latency (p99 ${withStuck.p99} vs ${alone.p99} ms)`,
  );
  const grewMiB = withStuck.rssMaxMiB - Math.round(rssBefore / 1024);
  // Bounded: a plateau once the stuck followers' backlogs are full. Unbounded (the backlog bound
  // removed) it grew ~33 MiB over the measurement, ~16 MiB of it in the second half.
  const lateMiB = withStuck.rssSecondHalfMaxMiB - withStuck.rssHalfMiB;
  t.log(
    `server RSS: ${Math.round(rssBefore / 1024)} MiB before, grew ${grewMiB} MiB in all, ${lateMiB} MiB in the second half`,
  );
  t.true(
    grewMiB < 40 && lateMiB < 10,
    `the server's RSS stays bounded: grew ${grewMiB} MiB (${lateMiB} MiB in the second half) while each stuck follower was owed ~${owedMiB} MiB`,
  );
  // Flow control fills what lies between (socket buffers, HTTP/2 windows, a few batches) and then
  // holds: a client buffering everything would grow by the ~50 MiB it is owed, half of it in the
  // second half of the measurement.
  for (const [i, after] of stuckAfter.entries()) {
    t.true(
      after - stuckHalf[i]! < 8,
      `a \`waypoint logs -f\` whose stdout is not read holds the stream back instead of buffering it (${stuckBefore[i]} → ${stuckHalf[i]} → ${after} MiB)`,
    );
  }
  t.true(owedMiB > 32, "the stuck followers were owed well over the bound (so the test can fail)");

  // A stuck follower that reads again is told what it missed, then follows.
  const back = stuck[0]!;
  let text = "";
  let linesAfterNote = 0;
  back.stdout!.setEncoding("utf8").on("data", (d: string) => {
    text = (text + d).slice(-1_000_000);
    const at = text.search(/\[waypoint\] \d+ log lines were skipped/);
    if (at >= 0) linesAfterNote += (text.slice(at).match(/ \| L \d+ \d+ \d+ /g) ?? []).length;
  });
  await waitFor(
    () => /\[waypoint\] \d+ log lines were skipped because this reader could not keep up/.test(text),
    "the skip note",
    20_000,
  );
  const note = /\[waypoint\] (\d+) log lines were skipped/.exec(text)!;
  t.log(`the follower that read again was told: ${note[0]}`);
  await waitFor(() => linesAfterNote > 0, "new lines after the note");
  for (const ep of fleet) t.is(ep.child.exitCode, null);
});
