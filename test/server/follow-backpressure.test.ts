import { EventEmitter } from "node:events";
import test from "ava";
import type { LogLineOut } from "../../src/server/runtime/log-hub.js";
import { FOLLOW_BACKLOG_BYTES, FollowingReader } from "../../src/server/services/runtime-service.js";
import { waitFor } from "../helpers/wait.js";

/** A stand-in for the GetLogs call: write returns false while `full`. */
class FakeCall extends EventEmitter {
  cancelled = false;
  writableEnded = false;
  full = true;
  readonly batches: { lines: LogLineOut[] }[] = [];
  write(batch: { lines: LogLineOut[] }): boolean {
    this.batches.push(batch);
    return !this.full;
  }
}

const line = (n: number): LogLineOut => ({
  instance: "i",
  source: "stdout",
  line: `${String(n).padStart(6, "0")}${"x".repeat(947)}`, // 953 chars: 1000 bytes with lineBytes' overhead
  at: "2026-11-22T10:00:00.000Z",
});

test("a slow follower's backlog is bounded; skipped lines are counted in a waypoint line", async (t) => {
  const call = new FakeCall();
  const reader = new FollowingReader(call as never);
  reader.deliver([line(0)]);
  await waitFor(() => call.batches.length === 1, "the first write");
  // The stream is full now: the backlog fills to FOLLOW_BACKLOG_BYTES, the rest is skipped.
  const fits = Math.floor(FOLLOW_BACKLOG_BYTES / 1000);
  const sent = fits + 500;
  for (let n = 1; n <= sent; n++) reader.deliver([line(n)]);
  await new Promise((r) => setImmediate(r));
  t.is(call.batches.length, 1, "nothing is written while the stream is full");
  call.full = false;
  call.emit("drain");
  await waitFor(
    () => call.batches.some((b) => b.lines.some((l) => l.source === "waypoint")),
    "the skip note",
  );
  const after = call.batches.slice(1).flatMap((b) => b.lines);
  t.is(after.length, fits + 1);
  t.is(after[0]?.line.slice(0, 6), "000001");
  t.is(after[fits - 1]?.line.slice(0, 6), String(fits).padStart(6, "0"));
  t.like(after[fits], {
    source: "waypoint",
    instance: "i",
    line: `${sent - fits} log lines were skipped because this reader could not keep up`,
  });
  // Then it follows normally again.
  reader.deliver([line(99_999)]);
  await waitFor(() => call.batches.at(-1)?.lines[0]?.line.startsWith("099999") === true, "the next line");
  reader.close();
});
