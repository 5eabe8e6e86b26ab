/**
 * The ingest governor on a real server: log streams from 40 registered instances while the
 * server's event loop is made slow (blocked on purpose, as a flood of logs would): streams are
 * held back and take turns, every line still arrives, and they all flow again once the loop is quick.
 */
import test, { type ExecutionContext } from "ava";
import { IngestGovernor } from "../../src/server/runtime/ingest-governor.js";
import { registeredFleet } from "../helpers/fleet.js";
import { waitFor } from "../helpers/wait.js";

const INSTANCES = 40;
const BATCHES = 40;
const LINES = 20;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Keeps the event loop (the server's, in this process) busy for `ms`. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy on purpose
  }
}

/** `registeredFleet`'s server and instances. */
async function fleet(t: ExecutionContext, n: number) {
  const f = await registeredFleet(t, n);
  return { ...f, eps: f.eps.map((e) => e.ep) };
}

// Serial: the second test catches the server's governor through its class.
test.serial("a slow event loop holds log streams back in turns, and every line still arrives", async (t) => {
  const { s, eps, readLogs } = await fleet(t, INSTANCES);
  const writers = eps.map(async (ep) => {
    const stream = ep.logStream();
    for (let b = 0; b < BATCHES; b++) {
      const data = Buffer.from(
        Array.from({ length: LINES }, (_, l) => `${ep.id} batch ${b} line ${l}\n`).join(""),
      );
      stream.write({
        instanceId: ep.id,
        chunks: [{ source: "stdout", data, at: new Date().toISOString() }],
      });
      await sleep(10);
    }
    return stream.end();
  });
  // The loop made slow while the streams send.
  for (let i = 0; i < 6; i++) {
    await sleep(40);
    block(150);
  }
  const endings = await Promise.all(writers);
  t.true(
    endings.every((e) => e.status === "OK"),
    JSON.stringify(endings.filter((e) => e.status !== "OK")),
  );

  const held = s.logs.lines.find(
    (l) => l.msg === "the event loop is busy: log streams take turns until it is not",
  );
  t.truthy(held, "the governor held streams back");
  t.true((held?.waiting as number) > 0);
  await waitFor(
    () => s.logs.lines.some((l) => l.msg === "log streams all flow again"),
    "every stream to flow again once the loop is quick",
  );
  const lines = await readLogs();
  t.is(lines.length, INSTANCES * BATCHES * LINES, "no line lost");
});

test.serial(
  "a held-back log stream keeps about one batch ahead on the server, not grpc-js's sixteen",
  async (t) => {
    // The server's governor, caught as it starts (its timer left off: the test decides when streams wait).
    const governors: IngestGovernor[] = [];
    const start = IngestGovernor.prototype.start;
    IngestGovernor.prototype.start = function (this: IngestGovernor) {
      governors.push(this);
    };
    t.teardown(() => {
      IngestGovernor.prototype.start = start;
    });
    const { eps } = await fleet(t, 20);
    IngestGovernor.prototype.start = start;
    const streams = eps.map((ep) => ep.logStream());
    for (const [i, st] of streams.entries()) st.write({ instanceId: eps[i]!.id, chunks: [] });
    const governor = governors[0]!;
    await waitFor(() => governor.counts.flowing === 20, "every log stream to be governed");
    // Cut to the minimum (16): the 4 that flowed longest wait.
    governor.observe(100_000);
    t.is(governor.counts.waiting, 4);
    // The grpc-js calls the governor holds back (its own bookkeeping, read for this test).
    const held = [...(governor as unknown as { waiting: Set<{ call: NodeJS.ReadableStream }> }).waiting].map(
      (g) => g.call,
    );
    // 64 KiB batches written on every stream, each writer waiting a moment whenever its stream pushes back.
    const data = Buffer.alloc(64 * 1024, 0x61);
    await Promise.all(
      streams.map(async (st) => {
        for (let n = 0; n < 40; n++) {
          if (!st.write({ chunks: [{ source: "stdout", data, at: new Date().toISOString() }] }))
            await new Promise((r) => setTimeout(r, 10));
        }
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    const ahead = held.map((c) => (c as unknown as { readableLength: number }).readableLength);
    t.log(`batches read ahead by the held streams: ${ahead.join(", ")}`);
    t.true(
      ahead.every((n) => n <= 1),
      `held streams read ${ahead.join(", ")} batches ahead`,
    );
    // A quick loop lets them all flow again, and every batch of every stream is taken.
    governor.observe(0);
    t.is(governor.counts.waiting, 0);
    const endings = await Promise.all(streams.map((st) => st.end()));
    t.true(endings.every((e) => e.status === "OK"));
  },
);
