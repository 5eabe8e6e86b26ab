import test from "ava";
import fc from "fast-check";
import { LogHub, type LogLineOut, type LogOrigin } from "../../src/server/runtime/log-hub.js";

const A: LogOrigin = { instance: "a", app: "web", deployment: "web-v1" };
const B: LogOrigin = { instance: "b", app: "web", deployment: "web-v2" };
const at = (s: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, s)).toISOString();
const texts = (lines: readonly LogLineOut[]) => lines.map((l) => l.line);
const all = () => true;

test("chunks are split into lines when read; a trailing partial line is a line", (t) => {
  const hub = new LogHub({ bufferBytes: 4096 });
  hub.append(A, "stdout", Buffer.from("one\ntwo\n\nthree\n"), at(1));
  hub.append(A, "stderr", Buffer.from("x".repeat(10)), at(2));
  t.deepEqual(hub.read(all), [
    { instance: "a", source: "stdout", line: "one", at: at(1) },
    { instance: "a", source: "stdout", line: "two", at: at(1) },
    { instance: "a", source: "stdout", line: "", at: at(1) },
    { instance: "a", source: "stdout", line: "three", at: at(1) },
    { instance: "a", source: "stderr", line: "xxxxxxxxxx", at: at(2) },
  ]);
});

test("the buffer is bounded in bytes per instance and drops the oldest output first", (t) => {
  // 64 bytes of accounting per chunk + 10 bytes of data = 74 per chunk; 300 bytes hold 4.
  const hub = new LogHub({ bufferBytes: 300 });
  for (let i = 0; i < 10; i++)
    hub.append(A, "stdout", Buffer.from(`line-${String(i).padStart(4, "0")}\n`), at(i));
  hub.append(B, "stdout", Buffer.from("b-line\n"), at(0));
  t.deepEqual(texts(hub.read((o) => o.instance === "a")), [
    "line-0006",
    "line-0007",
    "line-0008",
    "line-0009",
  ]);
  t.is(hub.bufferedBytes("a"), 4 * 74);
  t.deepEqual(
    texts(hub.read((o) => o.instance === "b")),
    ["b-line"],
    "another instance keeps its own buffer",
  );
});

test("a chunk larger than the whole buffer keeps its end, from a line start", (t) => {
  const hub = new LogHub({ bufferBytes: 100 });
  hub.append(A, "stdout", Buffer.from("old\n"), at(0));
  const big = `${"a".repeat(30)}\n${"b".repeat(20)}\n${"c".repeat(10)}\n`; // 63 bytes; 36 fit
  hub.append(A, "stdout", Buffer.from(big), at(1));
  t.deepEqual(texts(hub.read(all)), ["b".repeat(20), "c".repeat(10)]);
  t.true(hub.bufferedBytes("a") <= 100);
  // A follower gets such a chunk whole: only what is kept is cut.
  const got: string[] = [];
  hub.follow({ deliver: (ls) => got.push(...texts(ls)) }, all);
  hub.append(A, "stdout", Buffer.from(big), at(2));
  t.deepEqual(got, ["a".repeat(30), "b".repeat(20), "c".repeat(10)]);
  t.deepEqual(texts(hub.read(all)), ["b".repeat(20), "c".repeat(10)]);
});

test("lines of several instances are ordered by time; tail takes the last N", (t) => {
  const hub = new LogHub({ bufferBytes: 4096 });
  hub.append(A, "stdout", Buffer.from("a1\na2\n"), at(1));
  hub.append(B, "stdout", Buffer.from("b0\n"), at(0));
  hub.append(B, "stdout", Buffer.from("b3\n"), at(3));
  hub.append(A, "stdout", Buffer.from("a2b\n"), at(2));
  t.deepEqual(texts(hub.read(all)), ["b0", "a1", "a2", "a2b", "b3"]);
  t.deepEqual(texts(hub.read(all, 3)), ["a2", "a2b", "b3"]);
  t.deepEqual(texts(hub.read(all, 100)), ["b0", "a1", "a2", "a2b", "b3"]);
  t.deepEqual(texts(hub.read((o) => o.deployment === "web-v2")), ["b0", "b3"]);
});

test("followers get new lines of the instances they selected", (t) => {
  const hub = new LogHub({ bufferBytes: 4096 });
  const got: string[] = [];
  const stop = hub.follow({ deliver: (lines) => got.push(...texts(lines)) }, (o) => o.instance === "a");
  hub.append(A, "stdout", Buffer.from("1\n2\n"), at(1));
  hub.append(B, "stdout", Buffer.from("not for me\n"), at(1));
  hub.note(
    A,
    "3 log lines were dropped by the entrypoint (the server unreachable or slow, or the app over the log rate limit)",
    at(2),
  );
  stop();
  hub.append(A, "stdout", Buffer.from("after stop\n"), at(3));
  t.deepEqual(got, [
    "1",
    "2",
    "3 log lines were dropped by the entrypoint (the server unreachable or slow, or the app over the log rate limit)",
  ]);
  t.is(hub.read(all).find((l) => l.source === "waypoint")?.instance, "a");
});

test("buffers of instances gone longer than the window are dropped; connected ones are kept", (t) => {
  let now = Date.UTC(2026, 10, 22, 10);
  const hub = new LogHub({ bufferBytes: 4096, now: () => now });
  hub.append(A, "stdout", Buffer.from("a\n"), at(0));
  hub.append(B, "stdout", Buffer.from("b\n"), at(0));
  now += 60_000;
  t.deepEqual(
    hub.prune(() => false, 120_000),
    [],
  );
  now += 61_000;
  t.deepEqual(
    hub.prune((id) => id === "b", 120_000),
    ["a"],
  );
  t.deepEqual(texts(hub.read(all)), ["b"]);
});

/** An origin of its own for instance `i`. */
const inst = (i: number | string): LogOrigin => ({ instance: `i${i}`, app: "web", deployment: "web-v1" });
/** `n` bytes of output: lines of "x", the last one ended. */
const output = (n: number) => Buffer.from(`${"x".repeat(n - 1)}\n`);

test("all buffers together stay within the total: a flooding instance gives up its own oldest lines, quiet ones keep theirs", (t) => {
  // 1,000 quiet instances of one 74-byte chunk each (74 KB), a total of 100 KB: ~26 KB for the flood.
  const hub = new LogHub({ bufferBytes: 64 * 1024, totalBytes: 100_000 });
  for (let i = 0; i < 1000; i++)
    hub.append(inst(i), "stdout", Buffer.from(`quiet-${String(i).padStart(3, "0")}\n`), at(0));
  t.is(hub.totalBufferedBytes(), 1000 * 74);
  for (let n = 0; n < 5000; n++) {
    hub.append(inst("flood"), "stdout", Buffer.from(`flood-${String(n).padStart(5, "0")}\n`), at(1));
    t.true(hub.totalBufferedBytes() <= 100_000, `after line ${n}: ${hub.totalBufferedBytes()}`);
  }
  for (let i = 0; i < 1000; i++)
    t.deepEqual(texts(hub.read((o) => o.instance === `i${i}`)), [`quiet-${String(i).padStart(3, "0")}`]);
  const flood = texts(hub.read((o) => o.instance === "iflood"));
  // 26,000 bytes left for chunks of 76: 342 of them, the newest.
  t.is(flood.length, Math.floor((100_000 - 74_000) / 76));
  t.is(flood.at(-1), "flood-04999");
  t.is(flood[0], `flood-${String(5000 - flood.length).padStart(5, "0")}`);
  t.is(hub.totalBufferedBytes(), 74_000 + flood.length * 76);
});

test("instances flooding together share the total: each keeps its newest lines and they end within a chunk of each other", (t) => {
  const hub = new LogHub({ bufferBytes: 64 * 1024, totalBytes: 50_000 });
  const count = 200;
  const newest = new Map<string, string>();
  for (let n = 0; n < 20_000; n++) {
    // Uneven: instance i writes lines of 20 + i % 50 bytes, the first 50 more often.
    const i = (n * 7919) % (n % 3 === 0 ? 50 : count);
    const line = `${i}:${n}:`.padEnd(19 + (i % 50), "x");
    hub.append(inst(i), "stdout", Buffer.from(`${line}\n`), at(0));
    newest.set(`i${i}`, line);
    t.true(hub.totalBufferedBytes() <= 50_000);
  }
  t.is(newest.size, count);
  for (const [id, line] of newest) t.is(texts(hub.read((o) => o.instance === id)).at(-1), line);
  const sizes = Array.from({ length: count }, (_, i) => hub.bufferedBytes(`i${i}`));
  t.is(
    sizes.reduce((a, b) => a + b, 0),
    hub.totalBufferedBytes(),
  );
  // Largest first: whatever lost lines ends at most one chunk (at most 64 + 69 bytes) below the largest.
  t.true(Math.max(...sizes) - Math.min(...sizes) <= 64 + 69, `${Math.min(...sizes)}..${Math.max(...sizes)}`);
});

test("a buffer gives up lines only while it is the largest: the smaller keep theirs", (t) => {
  // Three buffers of 5, 3 and 1 chunks of 73 bytes, a total of 9 chunks: each new chunk of C takes one of
  // the largest buffer's, A's, until all hold 3.
  const hub = new LogHub({ bufferBytes: 4096, totalBytes: 9 * 73 });
  for (let n = 0; n < 5; n++) hub.append(inst("A"), "stdout", Buffer.from(`A-line-${n}\n`), at(n));
  for (let n = 0; n < 3; n++) hub.append(inst("B"), "stdout", Buffer.from(`B-line-${n}\n`), at(n));
  hub.append(inst("C"), "stdout", Buffer.from("C-line-0\n"), at(0));
  t.is(hub.totalBufferedBytes(), 9 * 73);
  hub.append(inst("C"), "stdout", Buffer.from("C-line-1\n"), at(1));
  hub.append(inst("C"), "stdout", Buffer.from("C-line-2\n"), at(2));
  t.deepEqual(
    [hub.bufferedBytes("iA"), hub.bufferedBytes("iB"), hub.bufferedBytes("iC")],
    [3 * 73, 3 * 73, 3 * 73],
  );
  t.deepEqual(texts(hub.read((o) => o.instance === "iA")), ["A-line-2", "A-line-3", "A-line-4"]);
  t.deepEqual(texts(hub.read((o) => o.instance === "iB")), ["B-line-0", "B-line-1", "B-line-2"]);
  // Now all hold 3: C's next chunk makes C the largest, and C gives up its own oldest.
  hub.append(inst("C"), "stdout", Buffer.from("C-line-3\n"), at(3));
  t.deepEqual(texts(hub.read((o) => o.instance === "iC")), ["C-line-1", "C-line-2", "C-line-3"]);
  t.deepEqual(texts(hub.read((o) => o.instance === "iB")), ["B-line-0", "B-line-1", "B-line-2"]);
  t.is(hub.totalBufferedBytes(), 9 * 73);
});

test("pruned buffers and an instance's buffer under an earlier deployment give their bytes back to the total", (t) => {
  let now = Date.UTC(2026, 10, 22, 10);
  // Chunks of "a-line-NN\n": 10 bytes + 64 = 74. A and B hold 6 each (888 bytes) of a total of 1000.
  const hub = new LogHub({ bufferBytes: 4096, totalBytes: 1000, now: () => now });
  for (let n = 0; n < 6; n++)
    hub.append(A, "stdout", Buffer.from(`a-line-${String(n).padStart(2, "0")}\n`), at(n));
  for (let n = 0; n < 6; n++)
    hub.append(B, "stdout", Buffer.from(`b-line-${String(n).padStart(2, "0")}\n`), at(n));
  t.is(hub.totalBufferedBytes(), 12 * 74);
  now += 200_000;
  hub.touch("b");
  t.deepEqual(
    hub.prune(() => false, 120_000),
    ["a"],
  );
  t.is(hub.totalBufferedBytes(), 6 * 74);
  // The room A held is B's now: 13 chunks are 962 bytes, within 1000, so none of B's goes.
  for (let n = 6; n < 13; n++)
    hub.append(B, "stdout", Buffer.from(`b-line-${String(n).padStart(2, "0")}\n`), at(n));
  t.is(hub.totalBufferedBytes(), 13 * 74);
  t.deepEqual(
    texts(hub.read(all)),
    Array.from({ length: 13 }, (_, n) => `b-line-${String(n).padStart(2, "0")}`),
  );
  // Instance "b" seen under another deployment: a new buffer, and the old one's bytes leave the total.
  hub.append({ ...B, deployment: "web-v3" }, "stdout", Buffer.from("b-again\n"), at(20));
  t.is(hub.totalBufferedBytes(), 72);
  t.deepEqual(texts(hub.read(all)), ["b-again"]);
});

test("a kept chunk does not share memory with the larger buffer it was a view of (a decoded gRPC message)", (t) => {
  const hub = new LogHub({ bufferBytes: 4096, totalBytes: 8192 });
  const message = Buffer.alloc(8192, 0x7a);
  message.write("one\ntwo\n", 100);
  hub.append(A, "stdout", message.subarray(100, 108), at(0));
  message.fill(0x21);
  t.deepEqual(texts(hub.read(all)), ["one", "two"]);
});

test("lines read back are each line's bytes decoded as UTF-8: multi-byte, invalid and binary bytes alike", (t) => {
  const hub = new LogHub({ bufferBytes: 4096 });
  const lines = [
    Buffer.from("héllo wörld ✓ 日本 🚀"),
    Buffer.from([0x61, 0xe2, 0x82]), // a three-byte sequence cut short
    Buffer.from([0xff, 0xfe, 0x00, 0x7f, 0x80]),
    Buffer.from("plain"),
  ];
  hub.append(A, "stdout", Buffer.concat(lines.flatMap((l) => [l, Buffer.from("\n")])), at(0));
  t.deepEqual(
    texts(hub.read(all)),
    lines.map((l) => l.toString("utf8")),
  );
  t.true(texts(hub.read(all))[1]!.endsWith("\ufffd"));
  // Followers get the same.
  const got: string[] = [];
  hub.follow({ deliver: (ls) => got.push(...texts(ls)) }, all);
  hub.append(A, "stdout", Buffer.concat([lines[0]!, Buffer.from("\n"), lines[1]!]), at(1));
  t.deepEqual(got, [lines[0]!.toString("utf8"), lines[1]!.toString("utf8")]);
});

test("property: any bytes read back as their lines decoded one by one", (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      const hub = new LogHub({ bufferBytes: 4096 });
      const data = Buffer.from(bytes);
      hub.append(A, "stdout", data, at(0));
      const expected: string[] = [];
      for (let start = 0; start < data.length; ) {
        let end = data.indexOf(0x0a, start);
        if (end < 0) end = data.length;
        expected.push(data.toString("utf8", start, end));
        start = end + 1;
      }
      t.deepEqual(texts(hub.read(all)), expected);
      // Bytes count as bytes, one character each.
      t.is(hub.bufferedBytes("a"), data.length + 64);
    }),
    { numRuns: 500 },
  );
});

test("property: after any appends, redeployments and prunes the total is the sum of the buffers and within the bound, and only the largest lose lines", (t) => {
  const op = fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant("append" as const),
        instance: fc.nat(7),
        // Mostly lines well below the per-instance bound; now and then a chunk larger than it.
        size: fc.oneof(
          { arbitrary: fc.integer({ min: 1, max: 40 }), weight: 5 },
          { arbitrary: fc.integer({ min: 100, max: 300 }), weight: 5 },
          { arbitrary: fc.integer({ min: 1000, max: 3000 }), weight: 1 },
        ),
      }),
      weight: 12,
    },
    fc.record({ kind: fc.constant("redeploy" as const), instance: fc.nat(7) }),
    fc.record({ kind: fc.constant("prune" as const), connected: fc.nat(255), advanceMs: fc.nat(200_000) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1024, max: 2048 }),
      fc.integer({ min: 0, max: 8000 }),
      fc.array(op, { maxLength: 200, size: "max" }),
      (bufferBytes, extra, ops) => {
        let now = Date.UTC(2026, 10, 22, 10);
        const totalBytes = bufferBytes + extra;
        const hub = new LogHub({ bufferBytes, totalBytes, now: () => now });
        const ids = Array.from({ length: 8 }, (_, i) => `i${i}`);
        const deployments = ids.map(() => 1);
        // The largest a stored chunk has counted so far: how far below the others a buffer may end that
        // gave up its oldest chunk while it was the largest.
        let maxCost = 0;
        for (const o of ops) {
          const before = ids.map((id) => hub.bufferedBytes(id));
          if (o.kind === "append") {
            const origin = {
              instance: `i${o.instance}`,
              app: "web",
              deployment: `web-v${deployments[o.instance]}`,
            };
            hub.append(origin, "stdout", output(o.size), at(0));
            maxCost = Math.max(maxCost, Math.min(o.size + 64, bufferBytes));
            const after = ids.map((id) => hub.bufferedBytes(id));
            const largest = Math.max(...after);
            for (let i = 0; i < ids.length; i++)
              if (i !== o.instance && after[i]! < before[i]! && after[i]! + maxCost < largest) return false;
          } else if (o.kind === "redeploy") deployments[o.instance]! += 1;
          else {
            now += o.advanceMs;
            hub.prune((id) => ((o.connected >> Number(id.slice(1))) & 1) === 1, 100_000);
          }
          const sum = ids.reduce((s, id) => s + hub.bufferedBytes(id), 0);
          if (hub.totalBufferedBytes() !== sum || sum > totalBytes) return false;
          if (ids.some((id) => hub.bufferedBytes(id) > bufferBytes)) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
  t.pass();
});
