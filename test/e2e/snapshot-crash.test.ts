/**
 * Crash safety of snapshots and restores. A real server process is SIGKILLed while it
 * (a) takes a snapshot (TakeSnapshot) as writes continue, (b) stages a restore (RestoreSnapshot,
 * stage), (c) applies a staged waypoint-restore.db at start, and (d) restores live. After each kill a
 * fresh `waypoint server run` must start on the same data dir; it is stopped cleanly, and the real
 * sqlite3 CLI then checks that data.db passes PRAGMA integrity_check and holds exactly the old state
 * or exactly the new one, never a mix and never less:
 *
 *   old  tokens A, B and PAD components at version 1.0.0; B was written last and lives only in the
 *        WAL (the data dir is a copy of a live server's files, as a crash leaves them);
 *   new  tokens A, C and PAD components at version 2.0.0 (the snapshot being restored).
 *
 * A restore the server acknowledged must survive the kill (new), and so must every write it
 * acknowledged during a snapshot. Temp files of the interrupted operation (.snapshot-*, .verify-*,
 * .waypoint-restore-*.tmp) are never applied and are gone after the restart; a kept
 * data.db.pre-restore-* is never the live file itself, and when data.db is new one of them holds
 * the complete old state. For (c), half the trials then move the stage away before the restart, as
 * RESTORE_FAILED's hint tells an operator to: data.db must still be complete, old or new.
 *
 * Kill points (fixtures/crash-server.ts hosts the killed server): per scenario the operation's
 * duration is measured by runs without a kill (which also check the happy path), then RANDOM_TRIALS
 * trials kill after a seeded random delay in [0, duration]; on top, one trial kills the process
 * right before each file-system step of the operation and one right after its last, by the fixture
 * itself (the instants between a link and a rename, which a timer would hardly ever hit).
 * WAYPOINT_CRASH_SEED changes the seed; trials run PARALLEL at a time, each in its own data dir.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { writeSnapshot } from "../../src/server/snapshot/write.js";
import { SqliteStore } from "../../src/server/store/sqlite-store.js";
import type { ComponentRecord, TokenRecord } from "../../src/server/store/store.js";
import { startServerProcess } from "../helpers/process.js";
import { seeded } from "../helpers/seeded.js";

const SEED = Number(process.env.WAYPOINT_CRASH_SEED ?? 20261122);
/** Timed kills per scenario (step kills come on top). */
const RANDOM_TRIALS = 8;
/** Trials run at once. */
const PARALLEL = Number(process.env.WAYPOINT_CRASH_PARALLEL ?? 2);
/** Components in both states: enough data (~6 MB) that the operations take a while to kill into. */
const PAD = 30_000;

const FIXTURE = fileURLToPath(new URL("./fixtures/crash-server.ts", import.meta.url));
const TSX_LOADER = import.meta.resolve("tsx");
const SECRET_A = "wpm_crash-test-management-token-A";
const LEFTOVER =
  /^\.(snapshot|verify)-[0-9a-f]+\.db(-journal|-wal|-shm)?$|^\.waypoint-restore-[0-9a-f]+\.tmp$/;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const tokenRecord = (id: string, kind: TokenRecord["kind"], secret: string): TokenRecord => ({
  id,
  kind,
  hash: sha256(secret),
  createdAt: "2026-11-22T10:00:00.000Z",
});
const pads = (version: string): ComponentRecord[] =>
  Array.from({ length: PAD }, (_, i) => ({
    kind: "runner",
    id: `pad-${String(i).padStart(6, "0")}`,
    version,
    api: { min: 1, current: 1 },
    entrypoint: { min: 1, current: 1 },
    emulated: false,
    hostname: `runner-${i}.pool-${i % 97}.build.example.internal`,
    firstSeen: "2026-11-22T10:00:00.000Z",
    lastSeen: "2026-11-22T10:00:00.000Z",
  }));

interface Images {
  readonly root: string;
  /** data.db and data.db-wal of the old state. */
  readonly oldDir: string;
  /** A snapshot of the new state. */
  readonly snapshot: string;
}

let images: Images | undefined;

test.before(async () => {
  const root = mkdtempSync(join(tmpdir(), "waypoint-crash-"));
  const oldDir = join(root, "old-image");
  const live = join(root, "old-live");
  const newDir = join(root, "new");
  for (const d of [oldDir, live, newDir]) mkdirSync(d);

  const old = SqliteStore.open(join(live, "data.db"));
  old.bootstrapToken(tokenRecord("tok_A", "management", SECRET_A));
  old.upsertComponents(pads("1.0.0"));
  old.checkpoint();
  old.insertToken(tokenRecord("tok_B", "readonly", "wpr_crash-test-B"));
  // The files of a server that is running (or was killed): B is committed, but only in the WAL.
  for (const f of ["data.db", "data.db-wal"]) copyFileSync(join(live, f), join(oldDir, f));
  old.close();
  if (statSync(join(oldDir, "data.db-wal")).size === 0) throw new Error("the old image has an empty WAL");

  const fresh = SqliteStore.open(join(newDir, "data.db"));
  fresh.bootstrapToken(tokenRecord("tok_A", "management", SECRET_A));
  fresh.upsertComponents(pads("2.0.0"));
  fresh.insertToken(tokenRecord("tok_C", "readonly", "wpr_crash-test-C"));
  const snapshot = join(root, "new.snapshot");
  await writeSnapshot(fresh, createWriteStream(snapshot, { mode: 0o600 }), {
    versionInfo: BUILD_VERSION_INFO,
    tmpDir: newDir,
  });
  fresh.close();
  images = { root, oldDir, snapshot };
});

test.after.always(() => {
  if (images) rmSync(images.root, { recursive: true, force: true });
});

// --- the killed server -----------------------------------------------------------------------

interface Marker {
  readonly event: string;
  readonly grpc?: string;
  readonly n?: number;
  readonly op?: string;
  readonly paths?: string[];
  /** When the test read it (performance.now()). */
  readonly at: number;
}

interface Victim {
  readonly child: ChildProcess;
  readonly markers: Marker[];
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  marker(event: string): Promise<Marker>;
  kill(): Promise<void>;
}

function startVictim(
  t: ExecutionContext,
  dbPath: string,
  opts: { arm: "start" | "ready"; crashStep?: number; crashWhen?: "before" | "after"; trace?: boolean },
): Victim {
  const args = [`--import=${TSX_LOADER}`, FIXTURE, `--db=${dbPath}`, `--arm=${opts.arm}`];
  if (opts.crashStep)
    args.push(`--crash-step=${opts.crashStep}`, `--crash-when=${opts.crashWhen ?? "before"}`);
  if (opts.trace) args.push("--trace-steps");
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal })),
  );
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const markers: Marker[] = [];
  const stderr: string[] = [];
  const waiting: { event: string; resolve: (m: Marker) => void }[] = [];
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let m: Marker;
    try {
      m = { ...(JSON.parse(line) as Omit<Marker, "at">), at: performance.now() };
    } catch {
      return;
    }
    markers.push(m);
    for (const w of waiting.filter((w) => w.event === m.event)) w.resolve(m);
  });
  createInterface({ input: child.stderr! }).on("line", (line) => stderr.push(line));
  let dead = false;
  void exited.then(() => {
    dead = true;
  });
  return {
    child,
    markers,
    stderr,
    exited,
    marker: (event) => {
      const seen = markers.find((m) => m.event === event);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve });
        void exited.then(() => {
          // Give the last stdout lines a turn to arrive.
          setImmediate(() => {
            const late = markers.find((m) => m.event === event);
            if (late) resolve(late);
            else if (dead) reject(new Error(`the server exited before "${event}"\n${stderr.join("\n")}`));
          });
        });
      });
    },
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

function connect(address: string): Connection {
  return new Connection(
    { address, token: SECRET_A, tls: false, tlsSkipVerify: false, source: "test" },
    clientIdentity("cli", "crash-test", BUILD_VERSION_INFO),
  );
}

// --- checking a data dir ---------------------------------------------------------------------

function sqlite(db: string, sql: string): string {
  const r = spawnSync("sqlite3", ["-batch", "-bail", db, sql], { encoding: "utf8" });
  if (r.error) throw new Error(`the sqlite3 CLI is needed for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`sqlite3 ${db} ${JSON.stringify(sql)} failed: ${r.stderr}`);
  return r.stdout.trim();
}

interface State {
  readonly integrity: string;
  /** Which of tok_A, tok_B, tok_C the file holds. */
  readonly tokens: string[];
  readonly padOld: number;
  readonly padNew: number;
  /** The numbers of the writes made during a snapshot (tokens described "w-<n>"). */
  readonly writes: number[];
}

function stateOf(db: string): State {
  const integrity = sqlite(db, "PRAGMA integrity_check;");
  const row = JSON.parse(
    sqlite(
      db,
      `SELECT json_object(
         'tokens', (SELECT json_group_array(id) FROM
                      (SELECT id FROM tokens WHERE id IN ('tok_A', 'tok_B', 'tok_C') ORDER BY id)),
         'padOld', (SELECT count(*) FROM components WHERE id LIKE 'pad-%' AND version = '1.0.0'),
         'padNew', (SELECT count(*) FROM components WHERE id LIKE 'pad-%' AND version = '2.0.0'),
         'writes', (SELECT json_group_array(description) FROM tokens WHERE description LIKE 'w-%'));`,
    ),
  ) as { tokens: string[]; padOld: number; padNew: number; writes: string[] };
  return { integrity, ...row, writes: row.writes.map((w) => Number(w.slice(2))).sort((a, b) => a - b) };
}

type Verdict = "old" | "new" | "neither";

function classify(s: State): Verdict {
  const tokens = s.tokens.join(",");
  if (tokens === "tok_A,tok_B" && s.padOld === PAD && s.padNew === 0) return "old";
  if (tokens === "tok_A,tok_C" && s.padOld === 0 && s.padNew === PAD && s.writes.length === 0) return "new";
  return "neither";
}

// --- scenarios -------------------------------------------------------------------------------

type Kill =
  | { readonly kind: "none" }
  | { readonly kind: "timer"; readonly ms: number }
  | { readonly kind: "step"; readonly step: number; readonly when: "before" | "after" };

interface TrialResult {
  readonly verdict: Verdict;
  /** How long the operation took (no kill) or ran until the kill. */
  readonly ms: number;
  /** Steps seen (with tracing, in a run without a kill). */
  readonly steps: Marker[];
  readonly crashedAt?: Marker;
  readonly leftovers: string[];
}

interface Scenario {
  readonly name: string;
  readonly op: "snapshot" | "stage" | "boot" | "live";
  /** Where kills are counted from: the server's start (boot) or its readiness. */
  readonly arm: "start" | "ready";
  /** A staged waypoint-restore.db in the data dir before the server starts. */
  readonly staged?: boolean;
  /** Trials where the operator moves the stage away after the crash, before restarting. */
  readonly cancels?: boolean;
  /** The states data.db may hold after the restart; `cancelled`: the stage was moved away. */
  allowed(cancelled: boolean): readonly Verdict[];
}

interface OpOutcome {
  /** The server acknowledged the operation before it was killed. */
  acked: boolean;
  attempted: Set<number>;
  ackedWrites: Set<number>;
}

/** Runs the operation against a ready server; resolves when it ends (done or failed by the kill). */
async function operate(
  scenario: Scenario["op"],
  victim: Victim,
  onStart: () => void,
  snapshot: string,
): Promise<OpOutcome> {
  const ready = await victim.marker("ready");
  const conn = connect(ready.grpc!);
  const out: OpOutcome = { acked: false, attempted: new Set(), ackedWrites: new Set() };
  try {
    if (scenario === "snapshot") {
      let stop = false;
      let firstWrites: () => void = () => {};
      const someWrites = new Promise<void>((resolve) => {
        firstWrites = resolve;
      });
      const writer = (async () => {
        for (let n = 0; !stop; n++) {
          out.attempted.add(n);
          try {
            await conn.createToken({ kind: "readonly", description: `w-${n}` });
          } catch {
            firstWrites();
            return;
          }
          out.ackedWrites.add(n);
          if (out.ackedWrites.size === 3) firstWrites();
        }
      })();
      await someWrites;
      onStart();
      try {
        for await (const _chunk of conn.takeSnapshot()) {
          // the archive itself is checked elsewhere; here only the server's files matter
        }
        out.acked = true;
      } catch {
        // killed
      }
      stop = true;
      await writer;
    } else {
      onStart();
      try {
        await conn.restoreSnapshot(createReadStream(snapshot), {
          mode: scenario === "live" ? "live" : "stage",
        });
        out.acked = true;
      } catch {
        // killed
      }
    }
  } finally {
    conn.close();
  }
  return out;
}

/**
 * One trial in a fresh copy of the old data dir: start the server, run the operation, kill it as
 * `kill` says (or stop it cleanly), optionally move the stage away (`cancel`, as the hint of
 * RESTORE_FAILED tells an operator to), restart `waypoint server run` there, stop it, and check.
 */
async function trial(
  t: ExecutionContext,
  sc: Scenario,
  kill: Kill,
  cancel: boolean,
  dir: string,
): Promise<TrialResult> {
  const imgs = images!;
  mkdirSync(dir);
  const dbPath = join(dir, "data.db");
  for (const f of ["data.db", "data.db-wal"]) copyFileSync(join(imgs.oldDir, f), join(dir, f));
  if (sc.staged) copyFileSync(imgs.snapshot, join(dir, "waypoint-restore.db"));

  const victim = startVictim(t, dbPath, {
    arm: sc.arm,
    ...(kill.kind === "step" ? { crashStep: kill.step, crashWhen: kill.when } : {}),
    trace: kill.kind === "none",
  });
  let started = 0;
  let timer: Promise<void> = Promise.resolve();
  const onStart = () => {
    started = performance.now();
    if (kill.kind === "timer") {
      timer = new Promise((resolve) => setTimeout(resolve, kill.ms)).then(() => victim.kill());
    }
  };
  let outcome: OpOutcome = { acked: false, attempted: new Set(), ackedWrites: new Set() };
  let ms: number;
  if (sc.arm === "start") {
    // The operation is the boot itself, from just before startServer until the server is ready.
    await victim.marker("starting");
    onStart();
    const ready = await victim.marker("ready").catch(() => undefined);
    outcome.acked = ready !== undefined;
    ms = (ready?.at ?? performance.now()) - started;
  } else {
    outcome = await operate(sc.op, victim, onStart, imgs.snapshot);
    ms = performance.now() - started;
  }
  await timer;
  if (kill.kind === "none") {
    victim.child.kill("SIGTERM");
    const exit = await victim.exited;
    t.is(exit.code, 0, `a server that was not killed stops cleanly\n${victim.stderr.join("\n")}`);
  } else {
    await victim.kill();
  }
  const crashedAt = victim.markers.find((m) => m.event === "crash");
  const readySteps = (victim.markers.find((m) => m.event === "ready") as { steps?: number } | undefined)
    ?.steps;
  if (kill.kind === "step" && !crashedAt) t.fail(`${sc.name}: the server never reached step ${kill.step}`);

  if (cancel && existsSync(join(dir, "waypoint-restore.db"))) {
    renameSync(join(dir, "waypoint-restore.db"), join(dir, "waypoint-restore.db.rejected"));
  }
  const leftovers = readdirSync(dir).filter((f) => LEFTOVER.test(f));

  // A fresh, real `waypoint server run` on the same data dir must start, and stop cleanly.
  const restarted = await startServerProcess(t, { db: dbPath });
  // One request served: the start has run to its end. (`server run` logs "server ready" just before it
  // installs its signal handlers, so a SIGTERM right after that line could still kill it outright.)
  t.is((await fetch(`http://${restarted.httpAddress}/healthz`)).status, 200);
  t.is(await restarted.stop(), 0, restarted.logs().join("\n"));

  const where =
    `${sc.name}, kill ${JSON.stringify(kill)}${cancel ? ", stage moved away" : ""}` +
    (crashedAt ? ` (${crashedAt.op} ${crashedAt.paths?.join(" → ")})` : "");
  const after = readdirSync(dir);
  t.deepEqual(
    after.filter((f) => LEFTOVER.test(f)),
    [],
    `${where}: temp files of the interrupted operation are gone after the restart (were: ${leftovers.join(", ")})`,
  );
  if (leftovers.length > 0) {
    t.true(
      restarted.records().some((r) => typeof r.msg === "string" && /left over/.test(r.msg)),
      `${where}: the restarted server says it removed leftovers`,
    );
  }
  t.false(after.includes("waypoint-restore.db"), `${where}: no stage is left unapplied`);
  const liveInode = statSync(dbPath).ino;
  const kept = after.filter((f) => f.startsWith("data.db.pre-restore-") && !/-(wal|shm|journal)$/.test(f));
  for (const k of kept) {
    t.not(statSync(join(dir, k)).ino, liveInode, `${where}: ${k} is a kept copy, not the live data.db`);
  }

  const state = stateOf(dbPath);
  t.is(state.integrity, "ok", `${where}: PRAGMA integrity_check`);
  const verdict = classify(state);
  const allowed = sc.allowed(cancel);
  t.true(
    allowed.includes(verdict),
    `${where}: data.db holds ${verdict} state (${JSON.stringify({ ...state, writes: state.writes.length })}), expected ${allowed.join(" or ")}`,
  );
  if (outcome.acked && sc.arm === "ready" && sc.op !== "snapshot") {
    t.is(verdict, "new", `${where}: a restore the server acknowledged survives the kill`);
  }
  if (sc.op === "snapshot") {
    const present = new Set(state.writes);
    const lost = [...outcome.ackedWrites].filter((n) => !present.has(n));
    const invented = state.writes.filter((n) => !outcome.attempted.has(n));
    t.deepEqual(lost, [], `${where}: every acknowledged write survives`);
    t.deepEqual(invented, [], `${where}: no write appears that was never made`);
  }
  if (verdict === "new" && kept.length > 0) {
    // The previous database is kept beside the restored one, complete.
    const keptStates = kept.map((k) => classify(stateOf(join(dir, k))));
    t.true(
      keptStates.includes("old"),
      `${where}: a kept pre-restore copy holds the old state (${keptStates})`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    verdict,
    ms,
    // Boot: the steps until the server was ready; otherwise counting starts at readiness.
    steps: victim.markers.filter(
      (m) =>
        m.event === "step" && (sc.arm === "ready" || (m.n ?? 0) <= (readySteps ?? Number.POSITIVE_INFINITY)),
    ),
    ...(crashedAt ? { crashedAt } : {}),
    leftovers,
  };
}

const SCENARIOS: readonly Scenario[] = [
  { name: "(a) snapshot while writes continue", op: "snapshot", arm: "ready", allowed: () => ["old"] },
  { name: "(b) staging a restore", op: "stage", arm: "ready", allowed: () => ["old", "new"] },
  {
    name: "(c) restoring a staged snapshot at start",
    op: "boot",
    arm: "start",
    staged: true,
    cancels: true,
    // The stage stays until it is applied, so a restart applies it again; unless it was moved away.
    allowed: (cancelled) => (cancelled ? ["old", "new"] : ["new"]),
  },
  { name: "(d) live restore", op: "live", arm: "ready", allowed: () => ["old", "new"] },
];

/** Runs `jobs` at most `width` at a time; results in order. */
async function pool<T>(jobs: readonly (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < jobs.length; i = next++) results[i] = await jobs[i]!();
  };
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

for (const [index, sc] of SCENARIOS.entries()) {
  test.serial(sc.name, async (t) => {
    const base = mkdtempSync(join(images!.root, "trials-"));
    const rnd = seeded(SEED + index);
    // Without a kill, twice: the operation works (and is warmed up), and the faster run's duration
    // bounds the random kill delays (the slower one mostly measures a busy machine).
    const dry = [
      await trial(t, sc, { kind: "none" }, false, join(base, "dry-1")),
      await trial(t, sc, { kind: "none" }, false, join(base, "dry-2")),
    ];
    for (const d of dry) {
      t.is(
        d.verdict,
        sc.op === "snapshot" ? "old" : "new",
        `${sc.name}: without a kill the operation completes`,
      );
    }
    const ms = Math.min(...dry.map((d) => d.ms));
    const steps = dry[0]!.steps;
    t.true(steps.length > 0, "the operation changes files in the data dir");

    const plan: { kill: Kill; cancel: boolean }[] = [];
    for (let i = 0; i < RANDOM_TRIALS; i++) {
      plan.push({
        kill: { kind: "timer", ms: Math.round(rnd() * ms) },
        cancel: sc.cancels === true && i % 2 === 1,
      });
    }
    // Right before each step, and right after the last (once all its files are in place).
    const last = steps.at(-1)!;
    const stepKills: Kill[] = [
      ...steps.map((s): Kill => ({ kind: "step", step: s.n!, when: "before" })),
      { kind: "step", step: last.n!, when: "after" },
    ];
    for (const kill of stepKills) {
      plan.push({ kill, cancel: false });
      if (sc.cancels) plan.push({ kill, cancel: true });
    }
    // A few at a time (the suite has ~90 s on two cores); each trial has its own data dir.
    const results = await pool(
      plan.map(
        ({ kill, cancel }, i) =>
          () =>
            trial(t, sc, kill, cancel, join(base, `trial-${i}`)),
      ),
      PARALLEL,
    );
    t.log(`seed ${SEED + index}; the operation took ${Math.round(ms)} ms without a kill`);
    for (const [i, { kill, cancel }] of plan.entries()) {
      const r = results[i]!;
      const how =
        kill.kind === "timer"
          ? `after ${kill.ms} ms`
          : kill.kind === "step"
            ? `${kill.when} ${r.crashedAt?.op} ${r.crashedAt?.paths?.join(" → ")}`
            : "";
      const left = r.leftovers.length > 0 ? `, ${r.leftovers.length} temp files left for the restart` : "";
      t.log(`killed ${how}${cancel ? ", stage moved away" : ""} → ${r.verdict}${left}`);
    }
  });
}
