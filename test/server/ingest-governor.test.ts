import { PassThrough } from "node:stream";
import test from "ava";
import { createLogger } from "../../src/server/logger.js";
import { IngestGovernor } from "../../src/server/runtime/ingest-governor.js";
import { LogSink } from "../helpers/server.js";

/** Real readable streams: the governor pauses and resumes them as it does grpc-js calls. */
function streams(n: number): PassThrough[] {
  return Array.from({ length: n }, () => new PassThrough({ objectMode: true }));
}

const paused = (xs: PassThrough[]) => xs.filter((s) => s.isPaused()).length;

function governor(opts: { minFlowing?: number } = {}) {
  let now = 0;
  const g = new IngestGovernor({
    highMs: 40,
    lowMs: 15,
    quantumMs: 250,
    minFlowing: opts.minFlowing ?? 4,
    growMs: 0,
    now: () => now,
  });
  return { g, advance: (ms: number) => (now += ms) };
}

test("a quick event loop leaves every stream flowing and sets no limit", (t) => {
  const { g } = governor();
  const xs = streams(100);
  for (const s of xs) g.add(s);
  for (let i = 0; i < 10; i++) g.observe(5);
  t.is(paused(xs), 0);
  t.deepEqual(g.counts, { flowing: 100, waiting: 0, limit: Number.POSITIVE_INFINITY });
});

test("a slow loop halves the streams that flow, or cuts more the slower it was, down to the minimum; a quick one lets them all flow again", (t) => {
  const { g } = governor();
  const xs = streams(100);
  for (const s of xs) g.add(s);
  g.observe(80);
  t.is(paused(xs), 50);
  t.like(g.counts, { flowing: 50, waiting: 50 });
  g.observe(80);
  t.is(paused(xs), 75);
  // Five times too slow (200 ms against 40): a fifth of the 25 flowing keep flowing.
  g.observe(200);
  t.like(g.counts, { flowing: 5, waiting: 95 });
  for (let i = 0; i < 10; i++) g.observe(300);
  t.like(g.counts, { flowing: 4, waiting: 96, limit: 4 });
  // Between the thresholds the limit holds.
  g.observe(20);
  t.like(g.counts, { flowing: 4, limit: 4 });
  let rounds = 0;
  while (g.counts.waiting > 0 && rounds < 100) {
    g.observe(1);
    rounds += 1;
  }
  t.true(rounds > 1, "the limit grows a step at a time");
  t.is(paused(xs), 0);
  t.is(g.counts.limit, Number.POSITIVE_INFINITY);
});

test("waiting streams take turns: those that flowed a quantum give way, so every stream flows within a few quanta", (t) => {
  const { g, advance } = governor();
  const xs = streams(20);
  for (const s of xs) g.add(s);
  for (let i = 0; i < 5; i++) g.observe(300); // limit 4
  t.is(g.counts.flowing, 4);
  const flowed = new Set<PassThrough>();
  for (let q = 0; q < 5; q++) {
    for (const s of xs) if (!s.isPaused()) flowed.add(s);
    advance(250);
    g.observe(20);
    t.is(g.counts.flowing, 4, "the number flowing stays at the limit");
  }
  t.is(flowed.size, 20);
  // Before a quantum has passed nobody gives way.
  const before = xs.map((s) => s.isPaused());
  advance(100);
  g.observe(20);
  t.deepEqual(
    xs.map((s) => s.isPaused()),
    before,
  );
});

test("a stream added while the limit is reached waits; an ended stream is neither counted nor resumed; stop leaves held streams held", (t) => {
  const { g } = governor({ minFlowing: 2 });
  const xs = streams(4);
  const done = xs.map((s) => g.add(s));
  for (let i = 0; i < 3; i++) g.observe(300);
  t.like(g.counts, { flowing: 2, waiting: 2 });
  const late = new PassThrough({ objectMode: true });
  g.add(late);
  t.true(late.isPaused());
  const waitingOne = xs.find((s) => s.isPaused())!;
  done[xs.indexOf(waitingOne)]!();
  t.like(g.counts, { flowing: 2, waiting: 2 });
  for (let i = 0; i < 20; i++) g.observe(1);
  t.true(waitingOne.isPaused(), "an ended stream is left alone");
  t.false(late.isPaused());
  for (let i = 0; i < 3; i++) g.observe(300);
  // Stopping (the server is) leaves held streams held: their entrypoints keep what they hold.
  const held = g.counts.waiting;
  t.true(held > 0);
  g.stop();
  t.is(g.counts.waiting, held);
});

test("one warning per episode and at most one a minute; the all-clear follows only a reported episode", (t) => {
  let now = 0;
  const logs = new LogSink();
  const g = new IngestGovernor({
    minFlowing: 4,
    growMs: 0,
    now: () => now,
    logger: createLogger("info", logs),
  });
  for (const s of streams(20)) g.add(s);
  const episode = () => {
    g.observe(300);
    for (let i = 0; i < 10; i++) g.observe(1);
  };
  const count = (msg: string) => logs.lines.filter((l) => l.msg === msg).length;
  const WARN = "the event loop is busy: log streams take turns until it is not";
  const CLEAR = "log streams all flow again";
  episode();
  t.is(count(WARN), 1);
  t.is(count(CLEAR), 1);
  now += 30_000;
  episode();
  t.is(count(WARN), 1, "a second episode within the minute is not reported");
  t.is(count(CLEAR), 1);
  now += 31_000;
  episode();
  t.is(count(WARN), 2);
  t.is(count(CLEAR), 2);
});

test("after a change the limit grows only once growMs has passed, so that what the change did can show first", (t) => {
  let now = 0;
  const g = new IngestGovernor({ minFlowing: 4, growMs: 100, now: () => now });
  const xs = streams(40);
  for (const s of xs) g.add(s);
  g.observe(400); // cut to 4 (a tenth of 40)
  t.is(g.counts.limit, 4);
  for (let i = 0; i < 10; i++) g.observe(1);
  t.is(g.counts.limit, 4, "quick looks right after the cut change nothing");
  now += 100;
  g.observe(1);
  t.is(g.counts.limit, 8);
  g.observe(1);
  t.is(g.counts.limit, 8, "nor right after a rise");
  now += 100;
  g.observe(1);
  t.is(g.counts.limit, 12);
});

test("the limit grows by a quarter when that is more than minFlowing, so a long cut is not a minute of turns", (t) => {
  let now = 0;
  const g = new IngestGovernor({ minFlowing: 4, growMs: 100, now: () => now });
  for (const s of streams(400)) g.add(s);
  g.observe(80); // halved
  t.is(g.counts.limit, 200);
  // A quarter each time growMs has passed, until every stream fits: then no limit.
  for (const limit of [250, 312, 390, Number.POSITIVE_INFINITY]) {
    now += 100;
    g.observe(1);
    t.is(g.counts.limit, limit);
  }
});
