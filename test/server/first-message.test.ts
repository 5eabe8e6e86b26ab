import { PassThrough } from "node:stream";
import test from "ava";
import { firstMessage } from "../../src/server/runtime/first-message.js";

test("firstMessage resolves with the first message and pauses the stream after it", async (t) => {
  const s = new PassThrough({ objectMode: true });
  const first = firstMessage<{ n: number }>(s, "open", 1000);
  s.write({ n: 1 });
  s.write({ n: 2 });
  t.deepEqual(await first, { n: 1 });
  t.true(s.isPaused());
});

test("firstMessage gives up after its deadline, and rejects a stream that ends first", async (t) => {
  const silent = new PassThrough({ objectMode: true });
  await t.throwsAsync(firstMessage(silent, "open", 50), { message: "no first message (open) within 50 ms" });
  const ended = new PassThrough({ objectMode: true });
  const p = firstMessage(ended, "open", 5000);
  ended.end();
  await t.throwsAsync(p, { message: "the stream ended before its first message (open)" });
});
