import test from "ava";
import { countLines, LogBuffer, RateLimit } from "../../src/entrypoint/log-buffer.js";

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

test("the rate limit lets a burst through, then refuses until time refills it", async (t) => {
  const r = new RateLimit(1000, 100);
  t.true(r.take(100));
  t.false(r.take(50));
  await new Promise((res) => setTimeout(res, 120));
  t.true(r.take(50));
  t.true(new RateLimit(0, 0).take(1e9), "0 means no limit");
});
