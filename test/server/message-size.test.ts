import * as grpc from "@grpc/grpc-js";
import test from "ava";
import { AppError } from "../../src/protocol/errors.js";
import { cli } from "../helpers/cli-inprocess.js";
import { entrypointRpc, webV1 } from "../helpers/entrypoint-rpc.js";
import { startTestServer } from "../helpers/server.js";

const MiB = 1024 * 1024;

/** Variables of 64 KiB each (the most one value may hold) adding up to `mib` MiB. */
function bigSet(mib: number): { name: string; value: string }[] {
  return Array.from({ length: mib * 16 }, (_, i) => ({ name: `BIG_${i}`, value: "x".repeat(64 * 1024) }));
}

function statusOf(err: unknown): number | undefined {
  return ((err as AppError).cause as Partial<grpc.ServiceError> | undefined)?.code;
}

test("a unary request over -max-message-size is RESOURCE_EXHAUSTED, explained as MESSAGE_TOO_LARGE naming the limit and the flag", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  await admin.createApp("web");
  const err = await t.throwsAsync(admin.setConfig({ app: "web", set: bigSet(5) }));
  t.true(err instanceof AppError);
  t.is((err as AppError).code, "MESSAGE_TOO_LARGE");
  t.is(statusOf(err), grpc.status.RESOURCE_EXHAUSTED);
  t.regex(
    err!.message,
    /refused a message of \d+ bytes: its limit is 4194304 bytes \(the server's -max-message-size\)/,
  );
  t.regex((err as AppError).hint, /-max-message-size/);
  // Nothing was stored, and the connection still serves.
  t.deepEqual(await admin.getConfig({ app: "web" }), []);
});

test("-max-message-size moves the limit: 3 MiB passes at the default and is refused at 2MiB", async (t) => {
  const set = bigSet(3);
  const roomy = await startTestServer(t);
  await roomy.connect().createApp("web");
  await t.notThrowsAsync(roomy.connect().setConfig({ app: "web", set }));

  const tight = await startTestServer(t, { config: { maxMessageSize: "2MiB" } });
  await tight.connect().createApp("web");
  const err = await t.throwsAsync(tight.connect().setConfig({ app: "web", set }));
  t.is((err as AppError).code, "MESSAGE_TOO_LARGE");
  t.regex(err!.message, /its limit is 2097152 bytes/);
});

test("the CLI says what was too large, and the hint says what to do (exit code 1)", async (t) => {
  const s = await startTestServer(t, { config: { maxMessageSize: "2MiB" } });
  await s.connect().createApp("web");
  const r = await cli(t, ["config", "set", "-app=web", ...bigSet(3).map((v) => `${v.name}=${v.value}`)], {
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_SERVER_TOKEN: s.token,
  });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /^Error: the server at .* refused a message of \d+ bytes: its limit is 2097152 bytes/m);
  t.regex(r.stderr, /^Hint: .*raise -max-message-size/m);
});

test("an oversized message on a stream ends that stream with RESOURCE_EXHAUSTED and gives its slot back", async (t) => {
  // One stream per connection: if the refused stream kept its slot, the config stream below would be refused.
  const s = await startTestServer(t, { config: { maxStreamsPerConnection: 1 } });
  const admin = s.connect();
  const { token } = await webV1(admin);
  const ep = entrypointRpc(t, { address: s.address, token, id: "i-1", deployment: "web-v1" });

  const logs = await ep.logs([
    { instanceId: "i-1", chunks: [{ source: "stdout", data: Buffer.alloc(5 * MiB, 0x61) }] },
  ]);
  t.is(logs.status, "RESOURCE_EXHAUSTED");
  t.regex(logs.message, /larger than max \(\d+ vs\.? 4194304\)/);

  const tunnel = ep.tunnel();
  tunnel.call.write({ body: Buffer.alloc(5 * MiB, 0x62) });
  const ended = await tunnel.ended;
  t.is(ended.status, "RESOURCE_EXHAUSTED");

  const config = ep.config();
  const first = await config.message(0);
  t.truthy(first, "the connection's one stream is free again");
});

test("`server run` hands each limit flag to the configuration, which checks it before anything starts (exit 2)", async (t) => {
  const cases: [string, RegExp][] = [
    ["-max-message-size=64KiB", /-max-message-size: "64KiB" is not a size between 2MiB and 16MiB/],
    ["-max-streams-per-token=0", /-max-streams-per-token: "0" is not a whole number/],
    ["-max-streams-per-connection=0", /-max-streams-per-connection: "0" is not a whole number/],
    ["-auth-failure-limit=many", /-auth-failure-limit: "many" is not a whole number/],
  ];
  for (const [flag, message] of cases) {
    const r = await cli(t, ["server", "run", "-db=/nonexistent/x.db", flag]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, message);
  }
});

test("an answer over the server's limit is explained too: the server could not send it", async (t) => {
  const s = await startTestServer(t, { config: { maxMessageSize: "2MiB" } });
  const admin = s.connect();
  await admin.createApp("web");
  // Each write is under 2 MiB; the resolved configuration (global and the app's together) is not.
  const set = bigSet(2).slice(0, 30);
  await admin.setConfig({ set });
  await admin.setConfig({ app: "web", set: set.map((v) => ({ ...v, name: `APP_${v.name}` })) });
  const err = await t.throwsAsync(admin.getConfig({ app: "web", resolved: true }));
  t.is((err as AppError).code, "MESSAGE_TOO_LARGE");
  t.is(statusOf(err), grpc.status.RESOURCE_EXHAUSTED);
  t.regex(err!.message, /could not send its answer of \d+ bytes: its limit is 2097152 bytes/);
  t.regex((err as AppError).hint, /^Ask for less at once/);
});
