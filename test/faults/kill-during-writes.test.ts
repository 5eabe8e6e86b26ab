/**
 * Fault: `kill -9` of the server while a client streams writes at it. Writers keep WRITERS calls in
 * flight (global `config set`, `app create` and job queueing, through the API the CLI uses); the test
 * SIGKILLs the server after a seeded random delay and records which writes the server acknowledged
 * before it died. A fresh `waypoint server run` on the same database must start, and hold every
 * acknowledged write (and none that was never sent); its state index never goes back. ROUNDS rounds
 * on the same database, each with its own kill time; at the end the server is stopped and the real
 * sqlite3 CLI runs PRAGMA integrity_check. WAYPOINT_FAULT_SEED changes the seed (it is logged).
 */
import { spawnSync } from "node:child_process";
import test from "ava";
import type { Connection } from "../../src/client/connection.js";
import { seeded, startFaultServer } from "./helpers.js";

const SEED = Number(process.env.WAYPOINT_FAULT_SEED ?? 20261205);
const ROUNDS = 4;
const WRITERS = 6;
/** The kill comes after a random delay in [MIN_KILL_MS, MAX_KILL_MS] of writing. */
const MIN_KILL_MS = 100;
const MAX_KILL_MS = 1500;

type Write =
  | { readonly kind: "config"; readonly name: string; readonly value: string }
  | { readonly kind: "app"; readonly name: string }
  | { readonly kind: "job"; readonly tag: string };

/** Write number n of round r: mostly config, every 5th an app, every 7th a job. */
function writeOf(r: number, n: number): Write {
  if (n % 7 === 3) return { kind: "job", tag: `r${r}-${n}` };
  if (n % 5 === 1) return { kind: "app", name: `app-r${r}-${n}` };
  return { kind: "config", name: `K_R${r}_${n}`, value: `value-${r}-${n}-${"x".repeat(n % 50)}` };
}

async function send(conn: Connection, w: Write): Promise<string | undefined> {
  if (w.kind === "config") await conn.setConfig({ set: [{ name: w.name, value: w.value }] });
  else if (w.kind === "app") await conn.createApp(w.name);
  else return (await conn.queueJob({ app: "worker", operation: "build" })).id;
  return undefined;
}

function sqlite(db: string, sql: string): string {
  const r = spawnSync("sqlite3", ["-batch", "-bail", db, sql], { encoding: "utf8" });
  if (r.error)
    throw new Error(`the sqlite3 CLI is needed for this test (Debian package sqlite3): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`sqlite3 ${db} ${JSON.stringify(sql)} failed: ${r.stderr}`);
  return r.stdout.trim();
}

test("kill -9 during a stream of writes: every acknowledged write survives, the index never goes back, and the database passes integrity_check", async (t) => {
  const rnd = seeded(SEED);
  t.log(`seed ${SEED} (WAYPOINT_FAULT_SEED repeats a run)`);
  const s = await startFaultServer(t);
  await s.admin.createApp("worker", { operations: { build: "true" } });

  /** Everything acknowledged so far, over all rounds. */
  const config = new Map<string, string>();
  const apps = new Set<string>(["worker"]);
  const jobs = new Set<string>();
  const sentConfig = new Set<string>();
  const sentApps = new Set<string>(["worker"]);
  let lastIndex = (await s.admin.serverStatus()).stateIndex;

  for (let round = 1; round <= ROUNDS; round++) {
    const killAfter = Math.round(MIN_KILL_MS + rnd() * (MAX_KILL_MS - MIN_KILL_MS));
    let next = 0;
    let acked = 0;
    let failed = 0;
    let dead = false;
    const writer = async () => {
      while (!dead) {
        const n = next++;
        const w = writeOf(round, n);
        if (w.kind === "config") sentConfig.add(w.name);
        if (w.kind === "app") sentApps.add(w.name);
        try {
          const job = await send(s.admin, w);
          acked += 1;
          if (w.kind === "config") config.set(w.name, w.value);
          else if (w.kind === "app") apps.add(w.name);
          else jobs.add(job!);
        } catch {
          failed += 1;
          return; // the server is gone
        }
      }
    };
    const writing = Array.from({ length: WRITERS }, writer);
    await new Promise((r) => setTimeout(r, killAfter));
    const indexBefore = (await s.admin.serverStatus().catch(() => undefined))?.stateIndex;
    s.process.child.kill("SIGKILL");
    await s.process.exited;
    dead = true;
    await Promise.all(writing);

    await s.restart();
    const status = await s.admin.serverStatus();
    const liveConfig = new Map((await s.admin.getConfig()).map((e) => [e.name, e.value]));
    const liveApps = new Set((await s.admin.listApps()).map((a) => a.name));
    const liveJobs = new Set((await s.admin.listJobs({ app: "worker" })).map((j) => j.id));

    const lostConfig = [...config].filter(([k, v]) => liveConfig.get(k) !== v).map(([k]) => k);
    const lostApps = [...apps].filter((a) => !liveApps.has(a));
    const lostJobs = [...jobs].filter((j) => !liveJobs.has(j));
    t.deepEqual(lostConfig, [], `round ${round}: every acknowledged config set survives`);
    t.deepEqual(lostApps, [], `round ${round}: every acknowledged app create survives`);
    t.deepEqual(lostJobs, [], `round ${round}: every acknowledged queued job survives`);
    t.deepEqual(
      [...liveConfig.keys()].filter((k) => !sentConfig.has(k)),
      [],
      `round ${round}: no config variable appears that was never sent`,
    );
    t.deepEqual(
      [...liveApps].filter((a) => !sentApps.has(a)),
      [],
      `round ${round}: no app appears that was never sent`,
    );
    if (indexBefore !== undefined) {
      t.true(
        status.stateIndex >= indexBefore,
        `round ${round}: the state index does not go back (${indexBefore} → ${status.stateIndex})`,
      );
    }
    t.true(status.stateIndex >= lastIndex);
    lastIndex = status.stateIndex;
    const inFlight = next - acked;
    t.log(
      `round ${round}: killed after ${killAfter} ms; ${acked} writes acknowledged, ${inFlight} in flight ` +
        `(${failed} failed with the server gone); state index ${status.stateIndex}`,
    );
    t.true(acked > 0, `round ${round}: some writes were acknowledged before the kill`);
    t.true(failed > 0, `round ${round}: the kill came while writes were in flight`);
  }

  // The file itself, as the real sqlite3 reads it once the server stopped cleanly.
  t.is(await s.process.stop("SIGTERM"), 0, s.process.logs().join("\n"));
  t.is(sqlite(s.db, "PRAGMA integrity_check;"), "ok");
  const rows = Number(sqlite(s.db, "SELECT count(*) FROM apps;"));
  t.true(rows >= apps.size, `sqlite3 counts ${rows} apps, at least the ${apps.size} acknowledged`);
});
