import test from "ava";
import fc from "fast-check";
import type { LogStream } from "../../src/client/entrypoint-connection.js";
import { LogAllowance } from "../../src/entrypoint/log-allowance.js";
import { LogBuffer } from "../../src/entrypoint/log-buffer.js";
import { LogShipper } from "../../src/entrypoint/log-shipper.js";
import type { EntrypointLogger } from "../../src/entrypoint/logger.js";
import type { EntrypointLogBatch } from "../../src/gen/waypoint/v1/EntrypointLogBatch.js";

const quiet: EntrypointLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quiet,
};

/** A log stream that takes every batch and keeps it. */
function stream() {
  const batches: EntrypointLogBatch[] = [];
  const s: LogStream = {
    write: (b) => {
      batches.push(b);
      return true;
    },
    end() {},
    cancel() {},
  };
  const data = () =>
    batches.flatMap((b) => (b.chunks ?? []).map((c) => Buffer.from(c.data as Buffer).toString())).join("");
  return { s, batches, data };
}

const line = (i: number) => `line ${String(i).padStart(4, "0")} of the app's output\n`; // 30 bytes

test("on a paced stream nothing goes before the first credit, then whole lines up to it, then the rest as credit comes", (t) => {
  const buffer = new LogBuffer(1024 * 1024);
  const shipper = new LogShipper(buffer, "inst-1", 10_000, quiet);
  const { s, batches, data } = stream();
  shipper.attach(s, new LogAllowance(3));
  t.deepEqual(batches, [{ instanceId: "inst-1", stream: 3, chunks: [], droppedLines: 0 }]);
  buffer.push({
    source: "stdout",
    data: Buffer.from(Array.from({ length: 10 }, (_, i) => line(i)).join("")),
    at: "t",
  });
  shipper.flush();
  t.is(batches.length, 1, "no credit yet");
  shipper.credit(3, 90); // three lines fit exactly
  t.is(data(), line(0) + line(1) + line(2));
  shipper.credit(2, 1000); // another stream's: ignored
  t.is(data(), line(0) + line(1) + line(2));
  shipper.credit(3, 95); // room for no whole line: one line goes all the same, and then nothing
  t.is(data(), [0, 1, 2, 3].map(line).join(""));
  shipper.credit(3, 120); // 120 sent: no room
  t.is(data(), [0, 1, 2, 3].map(line).join(""));
  shipper.credit(3, 10_000);
  t.is(data(), Array.from({ length: 10 }, (_, i) => line(i)).join(""));
});

test("an unpaced stream (an older server) sends whatever is buffered at once", (t) => {
  const buffer = new LogBuffer(1024 * 1024);
  const shipper = new LogShipper(buffer, "inst-1", 10_000, quiet);
  const { s, batches, data } = stream();
  shipper.attach(s);
  t.is(batches[0]?.stream, 0);
  buffer.push({ source: "stdout", data: Buffer.from(line(0) + line(1)), at: "t" });
  shipper.flush();
  t.is(data(), line(0) + line(1));
});

test("whatever the credits, every line arrives once, in order and whole, and the credit is overshot by less than one line", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.array(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 8 }), { maxLength: 20 }),
      fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 40 }),
      (reads, steps) => {
        const buffer = new LogBuffer(1024 * 1024);
        const shipper = new LogShipper(buffer, "i", 10_000, quiet);
        const { s, data } = stream();
        const allowance = new LogAllowance(1);
        shipper.attach(s, allowance);
        let expected = "";
        for (const lens of reads) {
          const text = lens.map((n, k) => `${"x".repeat(n - 1)}${k % 10}\n`).join("");
          expected += text;
          buffer.push({ source: "stdout", data: Buffer.from(text), at: "t" });
        }
        let limit = 0;
        const longest = Math.max(0, ...reads.flat()) + 1;
        for (const step of steps) {
          limit += step;
          shipper.credit(1, limit);
          const sent = data().length;
          if (sent > limit && sent - limit >= longest) return false;
          // Only whole lines go (the app's reads here end at a line's end).
          if (sent > 0 && !data().endsWith("\n")) return false;
        }
        shipper.credit(1, Number.MAX_SAFE_INTEGER);
        return data() === expected;
      },
    ),
    { numRuns: 300 },
  );
  t.pass();
});
