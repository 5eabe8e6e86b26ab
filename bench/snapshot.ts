/**
 * Snapshots of a large database, against the standard tools on the same file, in one run:
 *
 * (i)   take: our snapshot (online copy, tar, SHA-256, gzip -6, written to a file) against
 *       `sqlite3 data.db ".backup copy.db"` followed by `gzip -k -6 copy.db` (target: ratio ≤ 1.0);
 * (ii)  writer latency: single-row writes (insertToken, one transaction each, with setImmediate
 *       between them) while a snapshot runs, against the same writes with no snapshot;
 * (iii) verify + restore: verifySnapshot (gunzip, strict tar, SHA-256, extract + fsync,
 *       integrity_check, facts against meta.json) and the live swap (SqliteStore.replaceWith)
 *       against `gunzip -c FILE | sha256sum` of the same file (target: ratio ≤ 1.2).
 *
 * The database is a real waypoint database (SqliteStore.open: schema, tokens, a few thousand
 * components) grown to WAYPOINT_BENCH_DB_MB (default 1024; --quick: 64) by rows of an event log the
 * bench adds as its own table: timestamps, host names, versions, random ids and JSON details, so
 * that it compresses like real data (about 5:1 at gzip -6), neither like zeros nor like noise.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { verifySnapshot } from "../src/server/snapshot/verify.js";
import { writeSnapshot } from "../src/server/snapshot/write.js";
import { SqliteStore } from "../src/server/store/sqlite-store.js";
import type { ComponentRecord, TokenRecord } from "../src/server/store/store.js";

export interface SnapshotBenchOptions {
  /** Size of the database to build, in MiB. */
  readonly dbMiB?: number;
  /** Measured rounds of (i) and (iii), alternating ours and the baseline; the best of each counts. */
  readonly rounds?: number;
  /** How long (ii) writes without a snapshot; default: as long as (i)'s snapshot took, at most 15 s. */
  readonly idleMs?: number;
}

export interface Latency {
  readonly writes: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface SnapshotBenchResult {
  readonly dbBytes: number;
  readonly rows: number;
  readonly archiveBytes: number;
  readonly buildMs: number;
  readonly rounds: number;
  readonly take: {
    /** Ours: writeSnapshot to a file (best round). */
    readonly oursMs: number;
    /** Of which the online copy (backupTo, facts of the copy). */
    readonly copyMs: number;
    /** sqlite3 .backup + gzip -k -6 (best round). */
    readonly baselineMs: number;
    readonly backupMs: number;
    readonly gzipMs: number;
    readonly gzipBytes: number;
    readonly ratio: number;
    readonly samples: { readonly ours: number[]; readonly baseline: number[] };
  };
  readonly writers: {
    readonly idle: Latency;
    readonly during: Latency;
    /** How long the snapshot took with the writes going on. */
    readonly snapshotMs: number;
  };
  readonly restore: {
    readonly oursMs: number;
    readonly verifyMs: number;
    readonly swapMs: number;
    readonly baselineMs: number;
    readonly ratio: number;
    readonly samples: { readonly ours: number[]; readonly baseline: number[] };
  };
  readonly peakRssMiB: number;
  readonly peakRssBeforeMiB: number;
  readonly sqliteVersion: string;
  readonly gzipVersion: string;
}

const SECRET = "wpm_bench-management-token";

/**
 * benchSnapshot in a process of its own (this file run by node), so that the peak RSS it reports
 * is the snapshot work's and no other bench's heap or garbage collection touches its figures.
 */
export async function benchSnapshotInChild(opts: SnapshotBenchOptions = {}): Promise<SnapshotBenchResult> {
  const child = spawn(
    process.execPath,
    ["--import=tsx", fileURLToPath(import.meta.url), JSON.stringify(opts)],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  if (code !== 0) throw new Error(`the snapshot bench exited with code ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1) ?? "") as SnapshotBenchResult;
}

export async function benchSnapshot(opts: SnapshotBenchOptions = {}): Promise<SnapshotBenchResult> {
  const dbMiB = opts.dbMiB ?? Number(process.env.WAYPOINT_BENCH_DB_MB ?? 1024);
  const rounds = opts.rounds ?? 2;
  const peakRssBeforeMiB = process.resourceUsage().maxRSS / 1024;
  const dir = mkdtempSync(join(tmpdir(), "waypoint-bench-snapshot-"));
  const dbPath = join(dir, "data.db");
  try {
    const built = time(() => buildDatabase(dbPath, dbMiB * 1024 * 1024));
    const dbBytes = statSync(dbPath).size;

    // (i) take, alternating the baseline (store closed: it holds an exclusive lock) and ours.
    const copy = join(dir, "copy.db");
    const archive = join(dir, "snapshot.tar.gz");
    const take = { ours: [] as number[], copy: [] as number[], baseline: [] as number[] };
    const parts = { backup: [] as number[], gzip: [] as number[] };
    let gzipBytes = 0;
    for (let round = 0; round < rounds; round++) {
      rmSync(copy, { force: true });
      rmSync(`${copy}.gz`, { force: true });
      warm(dbPath);
      const backupMs = time(() => run("sqlite3", [dbPath, `.backup ${copy}`])).ms;
      const gzipMs = time(() => run("gzip", ["-k", "-6", copy])).ms;
      gzipBytes = statSync(`${copy}.gz`).size;
      parts.backup.push(backupMs);
      parts.gzip.push(gzipMs);
      take.baseline.push(backupMs + gzipMs);
      rmSync(copy, { force: true });
      rmSync(`${copy}.gz`, { force: true });

      rmSync(archive, { force: true });
      warm(dbPath);
      const store = SqliteStore.open(dbPath);
      try {
        const t0 = performance.now();
        let copied = 0;
        await writeSnapshot(store, createWriteStream(archive), {
          versionInfo: BUILD_VERSION_INFO,
          tmpDir: dir,
          onProgress: (p) => {
            if (p.phase === "archive" && copied === 0) copied = performance.now() - t0;
          },
        });
        take.ours.push(performance.now() - t0);
        take.copy.push(copied);
      } finally {
        store.close();
      }
    }
    const archiveBytes = statSync(archive).size;

    // (ii) writer latency, without and then during a snapshot.
    const store = SqliteStore.open(dbPath);
    let writers: SnapshotBenchResult["writers"];
    let restore: SnapshotBenchResult["restore"];
    try {
      let n = 0;
      const write = () => store.insertToken(token(`tok_bench_${n++}`));
      for (let i = 0; i < 200; i++) write(); // warm-up
      const idleMs = opts.idleMs ?? Math.min(15_000, Math.min(...take.ours));
      const idleEnd = performance.now() + idleMs;
      const idle = await writeLoop(write, () => performance.now() >= idleEnd);
      const during = await (async () => {
        let done = false;
        const t0 = performance.now();
        const snap = writeSnapshot(store, createWriteStream(join(dir, "during.tar.gz")), {
          versionInfo: BUILD_VERSION_INFO,
          tmpDir: dir,
        }).finally(() => {
          done = true;
        });
        const samples = await writeLoop(write, () => done);
        await snap;
        return { samples, ms: performance.now() - t0 };
      })();
      rmSync(join(dir, "during.tar.gz"), { force: true });
      writers = { idle: latency(idle), during: latency(during.samples), snapshotMs: during.ms };

      // (iii) verify + restore against gunzip | sha256sum, alternating.
      const ours: number[] = [];
      const verifyMs: number[] = [];
      const swapMs: number[] = [];
      const baseline: number[] = [];
      for (let round = 0; round < rounds; round++) {
        warm(archive);
        baseline.push(time(() => run("bash", ["-c", 'gunzip -c "$0" | sha256sum >/dev/null', archive])).ms);
        warm(archive);
        const t0 = performance.now();
        // As restoreLive verifies (without the per-table sizes, which only inspection shows).
        const verified = await verifySnapshot(createReadStream(archive), {
          dir,
          limits: { maxDbBytes: Number.MAX_SAFE_INTEGER },
          tableBytes: false,
        });
        const t1 = performance.now();
        const kept = join(dir, `kept-${round}.db`);
        store.replaceWith(verified.dbPath, kept);
        const t2 = performance.now();
        rmSync(kept, { force: true });
        ours.push(t2 - t0);
        verifyMs.push(t1 - t0);
        swapMs.push(t2 - t1);
      }
      const best = ours.indexOf(Math.min(...ours));
      restore = {
        oursMs: ours[best]!,
        verifyMs: verifyMs[best]!,
        swapMs: swapMs[best]!,
        baselineMs: Math.min(...baseline),
        ratio: ours[best]! / Math.min(...baseline),
        samples: { ours, baseline },
      };
    } finally {
      store.close();
    }

    const bestTake = take.ours.indexOf(Math.min(...take.ours));
    const bestBase = take.baseline.indexOf(Math.min(...take.baseline));
    return {
      dbBytes,
      rows: built.value,
      archiveBytes,
      buildMs: built.ms,
      rounds,
      take: {
        oursMs: take.ours[bestTake]!,
        copyMs: take.copy[bestTake]!,
        baselineMs: take.baseline[bestBase]!,
        backupMs: parts.backup[bestBase]!,
        gzipMs: parts.gzip[bestBase]!,
        gzipBytes,
        ratio: take.ours[bestTake]! / take.baseline[bestBase]!,
        samples: { ours: take.ours, baseline: take.baseline },
      },
      writers,
      restore,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      peakRssBeforeMiB,
      sqliteVersion: execFileSync("sqlite3", ["--version"], { encoding: "utf8" }).split(" ")[0] ?? "",
      gzipVersion: (execFileSync("gzip", ["--version"], { encoding: "utf8" }).split("\n")[0] ?? "").trim(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A waypoint database (schema, a bootstrap token, 5,000 components written through the store),
 * grown past `bytes` with an event-log table the bench adds. Returns the event rows.
 */
export function buildDatabase(path: string, bytes: number): number {
  const store = SqliteStore.open(path);
  store.bootstrapToken(token("tok_bench_boot", SECRET));
  const components: ComponentRecord[] = Array.from({ length: 5000 }, (_, i) => ({
    kind: i % 4 === 0 ? "entrypoint" : "runner",
    id: `c-${i.toString(36).padStart(6, "0")}`,
    version: `0.${100 + (i % 160)}.${i % 7}`,
    api: { min: 1 + (i % 3), current: 3 + (i % 4) },
    entrypoint: { min: 1, current: 2 },
    emulated: false,
    ...(i % 4 === 0 ? { app: `app-${i % 53}`, deployment: `d-${i % 7}`, instance: `i-${i}` } : {}),
    hostname: `host-${i}.pool-${i % 97}.build.example.internal`,
    firstSeen: "2026-11-01T10:00:00.000Z",
    lastSeen: "2026-11-22T10:00:00.000Z",
  }));
  store.upsertComponents(components);
  store.close();

  // Bulk rows, generated by SQLite itself (fast); the store reopens the file afterwards.
  const db = new Database(path);
  try {
    db.pragma("journal_mode = DELETE");
    db.pragma("synchronous = OFF");
    db.exec(`CREATE TABLE bench_events (
      id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, component TEXT NOT NULL,
      version TEXT NOT NULL, request TEXT NOT NULL, detail TEXT NOT NULL) STRICT`);
    const insert = db.prepare(`
      WITH RECURSIVE n(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM n WHERE x < ?)
      INSERT INTO bench_events (id, at, kind, component, version, request, detail)
      SELECT x,
        strftime('%Y-%m-%dT%H:%M:%fZ', 1763769600 + x * 0.137, 'unixepoch'),
        CASE x % 5 WHEN 0 THEN 'connected' WHEN 1 THEN 'disconnected' WHEN 2 THEN 'upgraded'
          WHEN 3 THEN 'rejected' ELSE 'seen' END,
        'runner-' || (x * 7919 % 20000) || '.pool-' || (x % 97) || '.build.example.internal',
        '0.' || (100 + x % 162) || '.' || (x % 9),
        lower(hex(randomblob(16))),
        json_object(
          'api', json_object('min', 1 + x % 3, 'current', 3 + x % 4),
          'entrypoint', json_object('min', 1, 'current', 2 + x % 2),
          'reason', CASE WHEN x % 5 = 3
            THEN 'api protocol ' || (x % 7) || ' is outside the range this server accepts (3..6)' END,
          'labels', json_object('region', 'eu-west-' || (x % 3), 'team', 'team-' || (x % 41),
            'deployment', 'd-' || (x % 7)),
          'trace', lower(hex(randomblob(8))))
      FROM n`);
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const batch = 100_000;
    let rows = 0;
    while ((db.pragma("page_count", { simple: true }) as number) * pageSize < bytes) {
      insert.run(rows + 1, rows + batch);
      rows += batch;
    }
    return rows;
  } finally {
    db.close();
  }
}

function token(id: string, secret = `wpr_${id}`): TokenRecord {
  return {
    id,
    kind: secret.startsWith("wpm_") ? "management" : "readonly",
    hash: createHash("sha256").update(secret).digest("hex"),
    createdAt: "2026-11-22T10:00:00.000Z",
  };
}

/** Writes one row per turn of the event loop until `stop()`; each latency spans the wait for the turn and the write. */
async function writeLoop(write: () => void, stop: () => boolean): Promise<number[]> {
  const samples: number[] = [];
  while (!stop()) {
    const t0 = performance.now();
    await new Promise<void>((resolve) => setImmediate(resolve));
    write();
    samples.push(performance.now() - t0);
  }
  return samples;
}

function latency(samples: readonly number[]): Latency {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0;
  return { writes: s.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: s.at(-1) ?? 0 };
}

function time<T>(fn: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = fn();
  return { value, ms: performance.now() - t0 };
}

function run(cmd: string, args: readonly string[]): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (r.error) throw new Error(`${cmd} is needed for the snapshot bench: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
}

/** Reads `path` once so both contenders start from the page cache. */
function warm(path: string): void {
  run("cat", [path]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await benchSnapshot(JSON.parse(process.argv[2] ?? "{}") as SnapshotBenchOptions);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
