import test from "ava";
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
