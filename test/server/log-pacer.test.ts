import test from "ava";
import fc from "fast-check";
import { LogPacer, type PacedLog } from "../../src/server/runtime/log-pacer.js";

const KiB = 1024;

/** A pacer whose credits are recorded, per stream, as the entrypoint would see them (the newest holds). */
function pacer(opts: ConstructorParameters<typeof LogPacer>[1] = {}) {
  const credits = new Map<PacedLog, number[]>();
  const p = new LogPacer((s, limit) => {
    credits.set(s, [...(credits.get(s) ?? []), limit]);
    return true;
  }, opts);
  const last = (s: PacedLog) => credits.get(s)?.at(-1) ?? 0;
  return { p, credits, last };
}

test("a flowing stream gets its base credit at once; a held one only once it flows", (t) => {
  const { p, credits, last } = pacer({ baseBytes: KiB });
  const a = p.open("a", 1, true);
  t.deepEqual(credits.get(a), [KiB]);
  const b = p.open("b", 1, false);
  t.is(credits.get(b), undefined);
  p.release(b);
  t.is(last(b), KiB);
  t.deepEqual(p.counts, { streams: 2, extraBytes: 0, flowing: 2, senders: 0, credits: 2 });
});

test("a stream that uses its credit grows to its fair share at once, at most what one stream may hold", (t) => {
  const { p, last } = pacer({ baseBytes: KiB, maxBytes: 16 * KiB, budgetBytes: 1024 * KiB });
  const s = p.open("a", 1, true);
  const windows: number[] = [];
  for (let i = 0; i < 3; i++) {
    p.took(s, last(s) - s.taken); // everything it was allowed
    windows.push((last(s) - s.taken) / KiB);
  }
  t.deepEqual(windows, [16, 16, 16]);
});

test("the fair share is among the streams that sent in the last sweep's period and flow, and within the budget's room", (t) => {
  const { p, last } = pacer({ baseBytes: KiB, maxBytes: 1024 * KiB, budgetBytes: 12 * KiB });
  // 12 flowing streams and no sweep yet: every flowing one counts, a share of 1 KiB each.
  const streams = Array.from({ length: 12 }, (_, i) => p.open(`s${i}`, 1, true));
  const s = streams[0]!;
  const windows: number[] = [];
  for (let i = 0; i < 3; i++) {
    p.took(s, last(s) - s.taken);
    windows.push((last(s) - s.taken) / KiB);
  }
  // The sweep finds it alone in sending: the whole budget is its share.
  p.sweep();
  for (let i = 0; i < 2; i++) {
    p.took(s, last(s) - s.taken);
    windows.push((last(s) - s.taken) / KiB);
  }
  t.deepEqual(windows, [1, 1, 1, 12, 12]);
  t.is(p.counts.extraBytes, 11 * KiB, "all but the base of its window");
});

test("no credit is given before half the last one is used", (t) => {
  const { p, credits } = pacer({ baseBytes: 4 * KiB, maxBytes: 8 * KiB });
  const s = p.open("a", 1, true);
  p.took(s, 2 * KiB - 1);
  t.deepEqual(credits.get(s), [4 * KiB]);
  p.took(s, 1);
  t.deepEqual(credits.get(s), [4 * KiB, 2 * KiB + 8 * KiB]);
});

test("a held stream gets no more credit, however much it used, until it flows again: then its fair share at once", (t) => {
  const { p, credits, last } = pacer({ baseBytes: KiB, maxBytes: 256 * KiB, budgetBytes: 256 * KiB });
  const s = p.open("a", 1, true);
  const other = p.open("b", 1, true);
  p.hold(s);
  p.took(s, KiB);
  t.deepEqual(credits.get(s), [KiB]);
  p.release(s);
  t.is(last(s), KiB + 128 * KiB, "half the budget: two streams flow");
  // One that never sent gets its base again, not a share it may never use.
  p.hold(other);
  p.release(other);
  t.deepEqual(credits.get(other), [KiB]);
});

test("the budget is shared fairly among the streams that send, and what is left is all there is", (t) => {
  const { p, last } = pacer({ baseBytes: KiB, maxBytes: 1024 * KiB, budgetBytes: 64 * KiB });
  const streams = Array.from({ length: 4 }, (_, i) => p.open(`s${i}`, 1, true));
  // A sweep period in which all four sent: each may hold a quarter of the budget beyond its base, at most.
  for (const s of streams) p.took(s, last(s) - s.taken);
  p.sweep();
  for (let round = 0; round < 10; round++) for (const s of streams) p.took(s, last(s) - s.taken);
  for (const s of streams) t.true(last(s) - s.taken <= 16 * KiB, `${last(s) - s.taken}`);
  t.true(p.counts.extraBytes <= 64 * KiB);
});

test("a sweep brings a stream that sent nothing since the last one back to its base, and counts the senders", (t) => {
  const { p, credits, last } = pacer({ baseBytes: KiB, maxBytes: 64 * KiB, budgetBytes: 1024 * KiB });
  const busy = p.open("busy", 1, true);
  const quiet = p.open("quiet", 1, true);
  for (let i = 0; i < 5; i++) p.took(quiet, last(quiet) - quiet.taken);
  t.true(last(quiet) - quiet.taken > KiB);
  p.sweep(); // quiet sent in this period
  p.took(busy, 100);
  p.sweep(); // quiet did not
  t.is(last(quiet), quiet.taken + KiB, "lowered to its base");
  t.is(p.counts.senders, 1);
  t.is(p.counts.extraBytes, 0);
  const before = credits.get(busy)!.length;
  p.sweep(); // busy's window was the base: nothing to send
  t.is(credits.get(busy)!.length, before);
});

test("a closed stream's unused credit goes back to the budget", (t) => {
  const { p, last } = pacer({ baseBytes: KiB, maxBytes: 64 * KiB, budgetBytes: 1024 * KiB });
  const s = p.open("a", 1, true);
  for (let i = 0; i < 4; i++) p.took(s, last(s) - s.taken);
  t.true(p.counts.extraBytes > 0);
  p.close(s);
  t.like(p.counts, { streams: 0, extraBytes: 0, flowing: 0, senders: 0 });
  p.took(s, 10); // late: ignored
  t.is(p.counts.extraBytes, 0);
});

test("whatever the streams do, the credit not yet used stays within the budget plus every stream's base", (t) => {
  const base = 512;
  const budget = 32 * KiB;
  const op = fc.oneof(
    fc.record({ k: fc.constant("open" as const), flowing: fc.boolean() }),
    fc.record({
      k: fc.constant("took" as const),
      i: fc.nat(),
      percent: fc.integer({ min: 1, max: 150 }),
    }),
    fc.record({ k: fc.constantFrom("hold" as const, "release" as const, "close" as const), i: fc.nat() }),
    fc.record({ k: fc.constant("sweep" as const) }),
  );
  fc.assert(
    fc.property(fc.array(op, { minLength: 20, maxLength: 200, size: "max" }), (ops) => {
      const { p, last } = pacer({ baseBytes: base, maxBytes: 16 * KiB, budgetBytes: budget });
      const open: PacedLog[] = [];
      for (const o of ops) {
        if (o.k === "open") open.push(p.open(`s${open.length}`, 1, o.flowing));
        else if (o.k === "sweep") p.sweep();
        else if (open.length > 0) {
          const s = open[o.i % open.length]!;
          if (o.k === "took") {
            // What the entrypoint may send: its credit, and at most one line (here 100 bytes) beyond it.
            const room = last(s) - s.taken;
            const bytes = room > 0 ? Math.min(Math.ceil((room * o.percent) / 100), room + 100) : 0;
            if (bytes > 0) p.took(s, bytes);
          } else if (o.k === "close") {
            p.close(s);
            open.splice(open.indexOf(s), 1);
          } else p[o.k](s);
        }
        let unused = 0;
        let extra = 0;
        for (const s of open) {
          unused += Math.max(0, last(s) - s.taken);
          extra += Math.max(0, last(s) - s.taken - base);
          // Never stuck: a stream that flows always has credit left to send with.
          if (s.flowing && last(s) <= s.taken) return false;
        }
        if (unused > budget + base * open.length) return false;
        if (p.counts.extraBytes > budget || p.counts.extraBytes !== extra) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test("a sweep lowers a held stream that sent nothing to its base too, so that the budget goes to those that flow", (t) => {
  const { p, credits, last } = pacer({ baseBytes: KiB, maxBytes: 64 * KiB, budgetBytes: 64 * KiB });
  const held = p.open("held", 1, true);
  const other = p.open("other", 1, true);
  p.took(held, last(held) - held.taken); // topped up to its share: half the budget
  t.is(last(held) - held.taken, 32 * KiB);
  p.hold(held);
  p.sweep(); // it sent in this period: left alone
  t.is(credits.get(held)!.length, 2);
  p.sweep();
  t.is(last(held), held.taken + KiB);
  // The other is alone in flowing and sending: it gets the whole budget.
  p.took(other, last(other) - other.taken);
  p.sweep();
  p.took(other, last(other) - other.taken);
  t.is(last(other) - other.taken, 64 * KiB);
});

test("a credit that cannot be sent is not counted as given, and a new config stream gets the credit again", (t) => {
  let up = false;
  const sent: number[] = [];
  const p = new LogPacer(
    (_s, limit) => {
      if (up) sent.push(limit);
      return up;
    },
    { baseBytes: KiB, maxBytes: 64 * KiB, budgetBytes: 1024 * KiB },
  );
  const s = p.open("a", 1, true); // the config stream is away: nothing given
  t.is(s.limit, 0);
  t.deepEqual(p.counts, { streams: 1, extraBytes: 0, flowing: 1, senders: 0, credits: 0 });
  up = true;
  p.reattached("a");
  t.deepEqual(sent, [KiB]);
  p.took(s, KiB);
  t.is(sent.length, 2);
  p.reattached("a"); // the same limit again, on the new stream
  t.deepEqual(sent.slice(2), [sent[1]]);
  p.reattached("nobody");
  t.is(sent.length, 3);
});
