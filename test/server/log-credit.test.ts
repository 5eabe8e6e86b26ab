/**
 * Log credit on a real server (proto: paces_logs, LogCredit): a numbered log stream gets credit on
 * its instance's config stream, more as it uses it, none while the ingest governor holds it back;
 * an unnumbered one (an older entrypoint) is not paced.
 */
import test from "ava";
import type { LogLineInfo } from "../../src/client/runtime.js";
import { IngestGovernor } from "../../src/server/runtime/ingest-governor.js";
import { LogPacer, type PacedLog } from "../../src/server/runtime/log-pacer.js";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { registeredFleet } from "../helpers/fleet.js";
import { entrypointEnvFor, startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `n` lines of 32 bytes. */
const lines = (id: string, from: number, n: number) =>
  Buffer.from(
    Array.from({ length: n }, (_, i) => `${id.padEnd(8)} line ${String(from + i).padStart(17)}\n`).join(""),
  );

test.serial(
  "a numbered log stream is credited on its config stream, more as it uses it; an unnumbered one is not paced",
  async (t) => {
    const { eps, readLogs: read } = await registeredFleet(t, 2);
    const [paced, old] = eps as [(typeof eps)[0], (typeof eps)[0]];
    t.true(paced.first.pacesLogs, "the first config message says the server paces log streams");
    t.true(paced.first.hasConfig);

    const log = paced.ep.logStream();
    log.write({ instanceId: paced.ep.id, chunks: [], stream: 7 });
    const first = await paced.config.message(1);
    t.deepEqual(first.logCredit, { stream: 7, limit: 1024 }, "the base credit, at once");
    t.false(first.hasConfig);
    // All of it used: topped up at once to its share of the budget (alone: the most one stream may hold, 1 MiB).
    log.write({ chunks: [{ source: "stdout", data: lines("paced", 0, 32), at: new Date().toISOString() }] });
    const second = await paced.config.message(2);
    t.deepEqual(second.logCredit, { stream: 7, limit: 1024 + 1024 * 1024 });
    // No more until half of that is used.
    log.write({ chunks: [{ source: "stdout", data: lines("paced", 32, 64), at: new Date().toISOString() }] });
    // An entrypoint that does not number its stream sends as before, and gets no credit.
    const oldLog = old.ep.logStream();
    oldLog.write({
      instanceId: old.ep.id,
      chunks: [{ source: "stdout", data: lines("old", 0, 100), at: new Date().toISOString() }],
    });
    t.is((await oldLog.end()).status, "OK");
    t.is((await log.end()).status, "OK");
    const got = await read();
    t.is(got.filter((l) => l.line.startsWith("paced")).length, 96);
    t.is(paced.config.messages.length, 3, "no credit while more than half is left");
    t.is(got.filter((l) => l.line.startsWith("old")).length, 100);
    await sleep(100);
    t.is(old.config.messages.length, 1, "no credit for an unnumbered stream");
  },
);

test.serial("a stream the governor holds back gets no credit until it flows again", async (t) => {
  // The server's governor and pacer, caught as they start (timers left off: the test decides).
  const governors: IngestGovernor[] = [];
  const pacers: LogPacer[] = [];
  const startGovernor = IngestGovernor.prototype.start;
  const startPacer = LogPacer.prototype.start;
  IngestGovernor.prototype.start = function (this: IngestGovernor) {
    governors.push(this);
  };
  LogPacer.prototype.start = function (this: LogPacer) {
    pacers.push(this);
  };
  t.teardown(() => {
    IngestGovernor.prototype.start = startGovernor;
    LogPacer.prototype.start = startPacer;
  });
  const { eps } = await registeredFleet(t, 20);
  IngestGovernor.prototype.start = startGovernor;
  LogPacer.prototype.start = startPacer;
  const governor = governors[0]!;
  const pacer = pacers[0]!;
  const logs = eps.map(({ ep }) => {
    const log = ep.logStream();
    log.write({ instanceId: ep.id, chunks: [], stream: 1 });
    return log;
  });
  await waitFor(() => eps.every((e) => e.config.messages.length === 2), "every stream's base credit");
  // Cut to the minimum (16): 4 wait.
  governor.observe(100_000);
  const streams = [...(pacer as unknown as { streams: Set<PacedLog> }).streams];
  const held = new Set(streams.filter((p) => !p.flowing).map((p) => p.instance));
  t.is(held.size, 4);
  // Every stream uses its whole credit.
  for (const [i, log] of logs.entries())
    log.write({ chunks: [{ source: "stdout", data: lines(`i${i}`, 0, 32), at: new Date().toISOString() }] });
  const flowing = eps.filter(({ ep }) => !held.has(ep.id));
  await waitFor(() => flowing.every((e) => e.config.messages.length === 3), "credit for the flowing streams");
  await sleep(200);
  for (const e of eps.filter(({ ep }) => held.has(ep.id)))
    t.is(e.config.messages.length, 2, `${e.ep.id} is held: no credit`);
  // The loop is quick again (and the limit may grow at once: growMs has passed): they all flow.
  await sleep(100);
  for (let i = 0; i < 5 && governor.counts.waiting > 0; i++) {
    governor.observe(0);
    await sleep(110);
  }
  t.is(governor.counts.waiting, 0);
  await waitFor(() => eps.every((e) => e.config.messages.length === 3), "credit for the streams let go");
  for (const e of eps) {
    const credit = e.config.messages[2]?.logCredit;
    t.is(credit?.stream, 1);
    // Used, then topped up: at least its base again.
    t.true((credit?.limit ?? 0) >= 1024 + 1024, `${e.ep.id}: ${credit?.limit}`);
  }
  for (const log of logs) t.is((await log.end()).status, "OK");
});

test.serial(
  "a real entrypoint ships a burst many times its credit, every line once and in order, on a paced stream",
  async (t) => {
    const pacers: LogPacer[] = [];
    const startPacer = LogPacer.prototype.start;
    const took = LogPacer.prototype.took;
    // Every batch the server takes, against the credit its stream had then.
    const batches: { bytes: number; over: number }[] = [];
    LogPacer.prototype.start = function (this: LogPacer) {
      pacers.push(this);
      startPacer.call(this);
    };
    LogPacer.prototype.took = function (this: LogPacer, p: PacedLog, bytes: number) {
      batches.push({ bytes, over: p.taken + bytes - p.limit });
      took.call(this, p, bytes);
    };
    t.teardown(() => {
      LogPacer.prototype.start = startPacer;
      LogPacer.prototype.took = took;
    });
    const s = await startTestServer(t);
    LogPacer.prototype.start = startPacer;
    const conn = s.connect();
    await conn.createApp("web");
    const created = await conn.createDeployment("web");
    const LINES = 8_000;
    // ~360 KB at once (within the 512 KiB an instance keeps): hundreds of times the base credit of 1 KiB.
    const app = `process.on('SIGTERM', () => process.exit(0)); let out = ''; for (let i = 0; i < ${LINES}; i++) out += 'burst line ' + String(i).padStart(8, '0') + ' of the app\\n'; process.stdout.write(out); setInterval(() => {}, 1000);`;
    const ep = spawnEntrypoint(t, [process.execPath, "-e", app], {
      env: { ...entrypointEnvFor(s.address, created), WAYPOINT_CEB_LOG_RATE_BYTES: "0" },
    });
    await ep.waitForStdout(`burst line ${String(LINES - 1).padStart(8, "0")} of the app\n`);
    await waitFor(() => pacers[0]?.counts.streams === 1, "the entrypoint's log stream to be paced");
    let got: LogLineInfo[] = [];
    await waitFor(async () => {
      got = await new Promise<LogLineInfo[]>((resolve, reject) => {
        const out: LogLineInfo[] = [];
        conn.logs(
          { app: "web" },
          (l) => out.push(...l),
          (err) => (err ? reject(err) : resolve(out)),
        );
      });
      return got.length >= LINES;
    }, "every line in the server's log buffer");
    t.is(got.length, LINES);
    t.true(
      got.every((l, i) => l.line === `burst line ${String(i).padStart(8, "0")} of the app`),
      "once each, in order",
    );
    // The entrypoint kept to its credit: no batch went further than the part of one line (31 bytes).
    t.true(batches.filter((b) => b.bytes > 0).length >= 2, `${batches.length} batches`);
    t.true(
      batches.every((b) => b.over < 31),
      `over the credit by ${Math.max(...batches.map((b) => b.over))} bytes`,
    );
    t.true(pacers[0]!.counts.credits >= 2);
  },
);
