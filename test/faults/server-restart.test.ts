/**
 * Fault: the server is restarted (SIGTERM, then `waypoint server run` again on the same ports and
 * database) under a connected fleet of FLEET real entrypoints (the shipped bundle, each wrapping a
 * small shell app that prints a numbered tick) and two `waypoint runner agent`s.
 *
 * Proves: every entrypoint and runner comes back on its own (the instances and inventory APIs, then
 * `waypoint instances -json`); the apps never notice (each was started once, keeps its pid, and its
 * stdout through the entrypoint is one unbroken count that went on during the outage; the new
 * server receives their output again); and the reconnects are spread by the entrypoints'
 * full-jitter backoff rather than arriving as one wave: the new server's "entrypoint registered"
 * times span a good part of the backoff cap, no short window holds most of the fleet, and the
 * entrypoints' own retry waits are uniform over their ceilings.
 */
import test from "ava";
import { type EntrypointProcess, spawnEntrypoint } from "../helpers/entrypoint.js";
import { runCli, spawnWaypoint } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";
import { entrypointBundle, percentile, removeEntrypointBundle, startFaultServer } from "./helpers.js";

const FLEET = 20;
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 2000;
/** How long the server stays down: long enough for a few failed attempts, so backoff has grown. */
const OUTAGE_MS = 1500;
/** No window this short may hold more than CLUSTER_MAX of the fleet's reconnects. */
const WINDOW_MS = 100;
const CLUSTER_MAX = Math.ceil(FLEET * 0.6);

const APP = ["sh", "-c", 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.1; done'];

test.after.always(removeEntrypointBundle);

/** The tick numbers an entrypoint passed through from its app's stdout, in order. */
function ticks(ep: EntrypointProcess): number[] {
  return [
    ...ep
      .stdout()
      .toString()
      .matchAll(/^tick (\d+)$/gm),
  ].map((m) => Number(m[1]));
}

/** The most values of `times` within any window of `width`. */
function densest(times: readonly number[], width: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[i]! - sorted[j]! > width) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

test("a server restart under 20 entrypoints and 2 runners: all reconnect, spread out, and the apps never notice", async (t) => {
  const bin = entrypointBundle();
  const s = await startFaultServer(t);
  await s.admin.createApp("web");
  const created = await s.admin.createDeployment("web");
  const runnerToken = (await s.admin.createToken({ kind: "runner", description: "faults" })).token;

  const env = {
    WAYPOINT_SERVER_ADDR: s.grpcAddress,
    WAYPOINT_CEB_INVITE_TOKEN: created.token,
    WAYPOINT_DEPLOYMENT_ID: created.deployment.id,
    WAYPOINT_CEB_RETRY_BASE_MS: String(RETRY_BASE_MS),
    WAYPOINT_CEB_RETRY_MAX_MS: String(RETRY_MAX_MS),
  };
  const fleet = Array.from({ length: FLEET }, () => spawnEntrypoint(t, APP, { bin, env }));
  const runners = ["runner-a", "runner-b"].map((id) => {
    const child = spawnWaypoint(t, ["runner", "agent", `-id=${id}`], {
      env: { WAYPOINT_SERVER_ADDR: s.grpcAddress, WAYPOINT_SERVER_TOKEN: runnerToken },
    });
    let log = "";
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      log += d;
    });
    child.stdout!.resume();
    return { id, child, log: () => log };
  });

  const connectedInstances = async () =>
    (await s.admin.listInstances({ app: "web" }).catch(() => [])).filter((i) => i.connected).length;
  const connectedRunners = async () =>
    (await s.admin.inventory().catch(() => ({ components: [] }))).components.filter(
      (c) => c.kind === "runner" && c.connected,
    ).length;
  await waitFor(async () => (await connectedInstances()) === FLEET, `${FLEET} instances connected`, 40_000);
  await waitFor(async () => (await connectedRunners()) === 2, "2 runners connected", 30_000);
  const appPids = await Promise.all(
    fleet.map(async (ep) => Number((await ep.waitForLog("app started")).childPid)),
  );
  t.is(new Set(appPids).size, FLEET);

  // Down: SIGTERM, a clean stop.
  t.is(await s.process.stop("SIGTERM"), 0, s.process.logs().join("\n"));
  const downAt = Date.now();
  const ticksAtStop = fleet.map((ep) => ticks(ep).length);
  await waitFor(
    () =>
      fleet.every((ep) =>
        ep.records().some((r) => r.msg === "lost the server connection; retrying in the background"),
      ),
    "every entrypoint to notice",
  );
  await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - downAt))));
  const ticksDuringOutage = fleet.map((ep) => ticks(ep).length);

  // Up again on the same ports and database.
  const second = await s.restart();
  const upAt = Date.parse(String(second.ready?.time));
  await waitFor(async () => (await connectedInstances()) === FLEET, `${FLEET} instances back`, 30_000);
  await waitFor(async () => (await connectedRunners()) === 2, "2 runners back", 30_000);

  // The server's view: when each instance registered again.
  const registered = new Map<string, number>();
  for (const r of second.records()) {
    if (r.msg === "entrypoint registered" && typeof r.instance === "string" && !registered.has(r.instance)) {
      registered.set(r.instance, Date.parse(String(r.time)));
    }
  }
  t.is(registered.size, FLEET, "every instance registered with the new server");
  const after = [...registered.values()].map((ms) => ms - upAt);
  const spread = Math.max(...after) - Math.min(...after);
  const cluster = densest(after, WINDOW_MS);
  t.log(
    `reconnects after the server was ready (ms): min ${Math.min(...after)}, p50 ${percentile(after, 50)}, ` +
      `p90 ${percentile(after, 90)}, max ${Math.max(...after)}; spread ${spread} ms; ` +
      `at most ${cluster}/${FLEET} within ${WINDOW_MS} ms (outage ${upAt - downAt} ms, backoff ${RETRY_BASE_MS}–${RETRY_MAX_MS} ms)`,
  );
  t.true(
    spread >= RETRY_MAX_MS / 4,
    `the reconnects span at least ${RETRY_MAX_MS / 4} ms (spread ${spread})`,
  );
  t.true(
    cluster <= CLUSTER_MAX,
    `no ${WINDOW_MS} ms window holds more than ${CLUSTER_MAX} reconnects (${cluster})`,
  );

  // The entrypoints' view: each retry waited a random part of its ceiling (full jitter), not the
  // ceiling itself. Scheduling noise on a busy machine spreads even a fleet in lockstep a little, so
  // the server's view alone could pass without jitter; this cannot.
  const fractions: number[] = [];
  for (const ep of fleet) {
    const waits = ep
      .records()
      .filter((r) => /^lost the server connection|^server still unreachable/.test(String(r.msg)))
      .map((r) => Number(r.retryInMs));
    for (const [attempt, wait] of waits.entries()) {
      fractions.push(wait / Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** attempt));
    }
  }
  const mean = fractions.reduce((a, b) => a + b, 0) / fractions.length;
  const sd = Math.sqrt(fractions.reduce((a, b) => a + (b - mean) ** 2, 0) / fractions.length);
  t.log(
    `${fractions.length} retry waits during the outage, as a fraction of their ceiling: mean ${mean.toFixed(2)}, sd ${sd.toFixed(2)} (uniform: 0.50, 0.29)`,
  );
  t.true(fractions.length >= FLEET * 2, "every entrypoint retried during the outage");
  t.true(sd > 0.15 && mean > 0.3 && mean < 0.7, "retry waits are spread over [0, ceiling]");

  // The apps never noticed: one start each, the same pid alive, an unbroken count that went on meanwhile.
  const finalTicks = fleet.map((ep) => ticks(ep).length);
  for (const [i, ep] of fleet.entries()) {
    const starts = ep.records().filter((r) => r.msg === "app started");
    t.is(starts.length, 1, `entrypoint ${i} started its app once`);
    t.is(starts[0]?.childPid, appPids[i]);
    t.notThrows(() => process.kill(appPids[i]!, 0), `app ${i} (pid ${appPids[i]}) is still running`);
    const seq = ticks(ep);
    t.deepEqual(
      seq,
      seq.map((_, n) => n),
      `entrypoint ${i}: its app's stdout is one unbroken count`,
    );
    t.true(ticksDuringOutage[i]! > ticksAtStop[i]!, `app ${i} kept printing while the server was down`);
    t.true(finalTicks[i]! >= ticksDuringOutage[i]!);
    t.is(ep.child.exitCode, null, `entrypoint ${i} is still running`);
  }
  // The log streams came back too: the new server (which starts with empty log buffers) holds
  // output of every instance, printed after the restart.
  const lineCounts = async () => {
    const counts = new Map<string, number>();
    await new Promise<void>((resolve) => {
      s.admin.logs(
        { app: "web" },
        (lines) => {
          for (const l of lines)
            if (/^tick \d+$/.test(l.line)) counts.set(l.instance, (counts.get(l.instance) ?? 0) + 1);
        },
        () => resolve(),
      );
    });
    return counts;
  };
  await waitFor(
    async () => (await lineCounts()).size === FLEET,
    "output of every instance on the new server",
  );
  for (const r of runners) {
    t.is(r.log().match(new RegExp(`connected as ${r.id}`, "g"))?.length, 2, r.log());
  }

  // And as an operator sees it.
  const listed = await runCli(t, ["instances", "-json", "-app=web"], {
    env: { WAYPOINT_SERVER_ADDR: s.grpcAddress, WAYPOINT_SERVER_TOKEN: s.token },
  });
  t.is(listed.code, 0, listed.stderr);
  const instances = JSON.parse(listed.stdout) as { id: string; connected: boolean; pid: number }[];
  t.is(instances.filter((i) => i.connected).length, FLEET);
  t.deepEqual(
    instances.map((i) => i.pid).sort(),
    fleet.map((ep) => ep.pid).sort(),
    "the same entrypoint processes, not new ones",
  );
});
