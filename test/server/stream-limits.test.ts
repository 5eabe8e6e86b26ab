import test from "ava";
import { entrypointRpc, webV1 } from "../helpers/entrypoint-rpc.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

/** A client with a connection of its own (grpc-js otherwise shares one between clients of an address). */
const OWN_CONNECTION = { "grpc.use_local_subchannel_pool": 1 };

test("a token holds at most -max-streams-per-token streams across connections; one more is TOO_MANY_STREAMS until one ends", async (t) => {
  t.timeout(30_000, "a stream over the limit was let through and stays open");
  const s = await startTestServer(t, { config: { maxStreamsPerToken: 3, maxStreamsPerConnection: 100 } });
  const { token } = await webV1(s.connect());
  // Instances of one deployment share its token, each on a connection of its own.
  const instance = (id: string) =>
    entrypointRpc(t, { address: s.address, token, id, deployment: "web-v1", channel: OWN_CONNECTION });
  const open = ["i-1", "i-2", "i-3"].map((id) => instance(id).config());
  for (const c of open) await c.message(0);

  const refused = await instance("i-4").config().ended;
  t.is(refused.status, "RESOURCE_EXHAUSTED");
  t.is(refused.code, "TOO_MANY_STREAMS");
  t.regex(refused.message, /already has 3 streaming calls open.*-max-streams-per-token=3/);
  t.is((await instance("i-4").config().ended).code, "TOO_MANY_STREAMS");
  const warnings = s.logs.lines.filter((l) => String(l.msg).includes("at its limit of open streams"));
  t.is(warnings.length, 1, "one warning for the episode, however many are refused");
  t.is(warnings[0]!.level, 40);
  t.is(warnings[0]!.limit, 3);

  // Another token is not affected by this one's streams.
  const other = await s.connect().createDeployment("web");
  const otherStream = entrypointRpc(t, {
    address: s.address,
    token: other.token,
    id: "j-1",
    deployment: other.deployment.id,
    channel: OWN_CONNECTION,
  }).config();
  await t.notThrowsAsync(otherStream.message(0));

  open[0]!.cancel();
  await waitFor(async () => {
    const again = instance("i-5").config();
    try {
      await again.message(0);
      return true;
    } catch {
      return false;
    }
  }, "a slot is free once a stream ended");
  t.pass();
});

test("one connection holds at most -max-streams-per-connection streams; another connection with the same token is not affected", async (t) => {
  t.timeout(30_000, "a stream over the limit was let through and stays open");
  const s = await startTestServer(t, { config: { maxStreamsPerToken: 100, maxStreamsPerConnection: 2 } });
  const { token } = await webV1(s.connect());
  const ep = entrypointRpc(t, {
    address: s.address,
    token,
    id: "i-1",
    deployment: "web-v1",
    channel: OWN_CONNECTION,
  });
  await ep.config().message(0);
  const held = ep.exec();
  // The exec stream is held open by the server until it is paired or 10 s pass: it counts meanwhile.
  await waitFor(
    () => s.logs.lines.some((l) => l.rpc === "/waypoint.v1.Entrypoint/EntrypointExec"),
    "exec open",
  );
  const refused = await ep.tunnel().ended;
  t.is(refused.status, "RESOURCE_EXHAUSTED");
  t.is(refused.code, "TOO_MANY_STREAMS");
  t.regex(
    refused.message,
    /this connection already has 2 streaming calls open.*-max-streams-per-connection=2/,
  );
  t.is(held.received.length, 0);

  const second = entrypointRpc(t, {
    address: s.address,
    token,
    id: "i-2",
    deployment: "web-v1",
    channel: OWN_CONNECTION,
  });
  await t.notThrowsAsync(second.config().message(0));
});
