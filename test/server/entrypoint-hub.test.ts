import test from "ava";
import type { EntrypointConfigResponse } from "../../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import {
  type ConfigStream,
  type ConnectedInstance,
  EntrypointHub,
} from "../../src/server/runtime/entrypoint-hub.js";

/** A config stream that records what is written to it. */
function fakeStream() {
  const written: string[] = [];
  const stream = {
    cancelled: false,
    writableEnded: false,
    destroyed: false,
    write: (m: EntrypointConfigResponse) => written.push(m.config?.[0]?.value ?? ""),
    end: () => {
      stream.writableEnded = true;
    },
  };
  return { stream, written };
}

const msg = (v: string): EntrypointConfigResponse => ({ config: [{ name: "V", value: v }], hasConfig: true });
const turn = () => new Promise((r) => setImmediate(r));

function fleet(hub: EntrypointHub, n: number) {
  return Array.from({ length: n }, (_, i) => {
    const f = fakeStream();
    const conn: ConnectedInstance = {
      instance: `i-${i}`,
      app: "web",
      deployment: "web-v1",
      execDisabled: false,
      stream: f.stream as unknown as ConfigStream,
    };
    hub.attach(conn);
    return { conn, written: f.written };
  });
}

test("queued pushes go out a batch per turn, in order per stream, and a burst reaches each stream once with its latest", async (t) => {
  const hub = new EntrypointHub();
  const all = fleet(hub, 1200);
  for (const { conn } of all) t.true(hub.queue(conn, msg("v1")));
  for (const { conn } of all) hub.queue(conn, msg("v2"));
  t.is(all.filter((c) => c.written.length > 0).length, 0, "nothing is written within the call");
  await turn();
  t.is(all.filter((c) => c.written.length > 0).length, 500, "one batch in the first turn");
  // Pushed again while the first is half out: written streams get it after, the others only it.
  for (const { conn } of all) hub.queue(conn, msg("v3"));
  for (let i = 0; i < 5; i++) await turn();
  for (const [i, c] of all.entries()) t.deepEqual(c.written, i < 500 ? ["v2", "v3"] : ["v3"], `stream ${i}`);
});

test("a stream that ended is not queued for", async (t) => {
  const hub = new EntrypointHub();
  const [a, b] = fleet(hub, 2);
  a!.conn.stream.end();
  t.false(hub.queue(a!.conn, msg("x")));
  t.true(hub.queue(b!.conn, msg("x")));
  await turn();
  t.deepEqual(a!.written, []);
  t.deepEqual(b!.written, ["x"]);
});
