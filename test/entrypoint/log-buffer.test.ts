import test from "ava";
import fc from "fast-check";
import {
  countLines,
  countNewlines,
  countNewlinesByIndexOf,
  LogBuffer,
  newlineCounter,
  RateLimit,
} from "../../src/entrypoint/log-buffer.js";

const chunk = (text: string) => ({ source: "stdout" as const, data: Buffer.from(text), at: "t" });

test("counts lines, with an unterminated piece as one", (t) => {
  t.is(countLines(Buffer.from("a\nb\n")), 2);
  t.is(countLines(Buffer.from("a\nb")), 2);
  t.is(countLines(Buffer.from("")), 0);
});

test("past its limit it drops the oldest chunks and counts their lines", (t) => {
  const b = new LogBuffer(10);
  const drops: number[] = [];
  b.onDrop = (n) => drops.push(n);
  b.push(chunk("1\n2\n"));
  b.push(chunk("3\n4\n"));
  b.push(chunk("5\n6\n7\n"));
  t.is(b.bytes, 10);
  t.deepEqual(drops, [2]);
  b.push(chunk("8\n"));
  t.deepEqual(drops, [2, 2]);
  t.is(b.droppedLines, 4);
  t.deepEqual(
    b.take(1000).map((c) => c.data.toString()),
    ["5\n6\n7\n", "8\n"],
  );
  t.is(b.takeDropped(), 4);
  t.is(b.takeDropped(), 0);
  t.is(b.bytes, 0);
});

test("a chunk larger than the whole buffer keeps its newest whole lines", (t) => {
  const b = new LogBuffer(6);
  b.push(chunk("aa\nbb\ncc\ndd\n"));
  t.deepEqual(
    b.take(100).map((c) => c.data.toString()),
    ["cc\ndd\n"],
  );
  t.is(b.droppedLines, 2);
});

test("take returns at most maxBytes, but always at least one chunk", (t) => {
  const b = new LogBuffer(100);
  b.push(chunk("aaaa\n"));
  b.push(chunk("bbbb\n"));
  t.is(b.take(7).length, 1);
  t.is(b.take(1).length, 1);
  t.is(b.take(1).length, 0);
});

test("a first chunk larger than maxBytes is split after its last whole line that fits, or after its first line", (t) => {
  const b = new LogBuffer(100);
  b.push(chunk("aaa\nbbb\nccc\n"));
  t.deepEqual(
    b.take(9).map((c) => c.data.toString()),
    ["aaa\nbbb\n"],
  );
  t.is(b.bytes, 4);
  b.push(chunk("dddddd\ne"));
  t.deepEqual(
    b.take(2).map((c) => c.data.toString()),
    ["ccc\n"],
    "one line more than asked for, and no more",
  );
  t.deepEqual(
    b.take(3).map((c) => c.data.toString()),
    ["dddddd\n"],
  );
  t.deepEqual(
    b.take(0).map((c) => c.data.toString()),
    ["e"],
    "a piece without a newline goes whole",
  );
  t.is(b.bytes, 0);
});

test("takes of any sizes give back every byte once, in order, split only after newlines", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.stringMatching(/^[ab\n]{1,30}$/), { minLength: 1, maxLength: 10 }),
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 60 }),
      (pushed, sizes) => {
        const b = new LogBuffer(10_000);
        for (const p of pushed) b.push(chunk(p));
        const pieces: string[] = [];
        for (let i = 0; b.bytes > 0; i++) {
          for (const c of b.take(sizes[i % sizes.length]!)) pieces.push(c.data.toString());
        }
        if (pieces.join("") !== pushed.join("")) return false;
        // A piece ends where its chunk ended or after a newline.
        let at = 0;
        const ends = new Set(pushed.map((p) => (at += p.length)));
        at = 0;
        for (const p of pieces) {
          at += p.length;
          if (!ends.has(at) && !p.endsWith("\n")) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});

test("the rate limit lets a burst through, then refuses until time refills it", async (t) => {
  const r = new RateLimit(1000, 100);
  t.true(r.take(100));
  t.false(r.take(50));
  await new Promise((res) => setTimeout(res, 120));
  t.true(r.take(50));
  t.true(new RateLimit(0, 0).take(1e9), "0 means no limit");
});

test("countNewlines equals one indexOf per newline, whatever the bytes, lengths and offsets", (t) => {
  t.is(newlineCounter(), "simd", "Node 20 runs the WebAssembly routine");
  // Long runs of newlines (a byte counter wraps after 255), other bytes, and lengths across 16-byte vectors,
  // the 4080-byte runs and the 64 KiB blocks.
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.uint8Array({ minLength: 4000, maxLength: 4200 }),
    fc.uint8Array({ minLength: 65_500, maxLength: 140_000 }),
  );
  const density = fc.constantFrom(0, 0.01, 0.3, 0.99, 1);
  fc.assert(
    fc.property(bytes, density, fc.nat(40), fc.nat(40), (raw, p, head, tail) => {
      const data = Buffer.from(raw);
      for (let i = 0; i < data.length; i++) if ((data[i]! / 256 < p && p > 0) || p === 1) data[i] = 10;
      const view = data.subarray(Math.min(head, data.length), Math.max(head, data.length - tail));
      return countNewlines(view) === countNewlinesByIndexOf(view);
    }),
    { numRuns: 300 },
  );
  for (const n of [0, 1, 15, 16, 17, 255, 256, 4080, 4096, 65_535, 65_536, 65_537, 200_000]) {
    t.is(countNewlines(Buffer.alloc(n, 10)), n);
    t.is(countNewlines(Buffer.alloc(n, 11)), 0);
  }
});

test("countLines counts a trailing piece without a newline as one line, the same as before", (t) => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", "\n"), maxLength: 2000 }), (text) => {
      const data = Buffer.from(text);
      const simple = text.split("\n").length - 1 + (text.length > 0 && !text.endsWith("\n") ? 1 : 0);
      return countLines(data) === simple;
    }),
  );
  t.pass();
});

test("the buffer keeps copies: the pushed chunk's memory may be read into again", (t) => {
  const b = new LogBuffer(100);
  const read = Buffer.from("one\ntwo\n");
  b.push({ source: "stdout", data: read, at: "t" });
  read.fill(0);
  t.is(b.take(100)[0]!.data.toString(), "one\ntwo\n");
});

test("the rate limit refuses a read it cannot take whole, without taking anything", (t) => {
  const r = new RateLimit(1000, 100);
  t.false(r.refuses(100));
  t.false(
    r.refuses(1e6),
    "a read larger than the bucket goes to feed (its pieces are weighed) when it is full",
  );
  t.true(r.take(60));
  t.true(r.refuses(50));
  t.true(r.refuses(1e6));
  t.false(r.refuses(40));
  t.true(r.take(40), "refuses took nothing");
  t.false(new RateLimit(0, 0).refuses(1e9), "0 means no limit");
});

test("dropping a run without a newline counts nothing and tells nobody", (t) => {
  const b = new LogBuffer(100);
  const drops: number[] = [];
  b.onDrop = (n) => drops.push(n);
  b.drop(Buffer.alloc(0), "rate");
  b.drop(Buffer.from("a\nb"), "rate");
  t.deepEqual(drops, [2]);
  t.is(b.droppedLines, 2);
});
