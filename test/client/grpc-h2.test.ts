import { createServer as createH2Server, type Http2Server, type ServerHttp2Stream } from "node:http2";
import {
  type AddressInfo,
  createConnection,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from "node:net";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import {
  type EntrypointChannelOptions,
  EntrypointConnection,
} from "../../src/client/entrypoint-connection.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { EntrypointConfigResponse__Output } from "../../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import type { AppError } from "../../src/protocol/errors.js";
import { clientIdentity } from "../../src/protocol/headers.js";

/**
 * The entrypoint's gRPC client (src/client/grpc-h2.ts) against servers that
 * misbehave in the ways a network and a wrong address do. The real server is
 * covered by test/entrypoint; here each server is a node:http2 or TCP server
 * of the test's own.
 */

const identity = clientIdentity("entrypoint", "inst-1", BUILD_VERSION_INFO);
const configDef = (
  loadWaypointProto().definition["waypoint.v1.Entrypoint"] as unknown as Record<
    string,
    { responseSerialize(v: unknown): Buffer }
  >
).EntrypointConfig!;

function frame(message: Buffer, length = message.length): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length, 1);
  return Buffer.concat([head, message]);
}

async function listen<S extends Server | Http2Server>(t: ExecutionContext, server: S): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A gRPC-speaking http2 server whose EntrypointConfig handler the test writes. */
async function h2Server(
  t: ExecutionContext,
  onCall: (stream: ServerHttp2Stream, headers: Record<string, unknown>) => void,
) {
  const sessions = new Set<{ destroy(): void }>();
  const server = createH2Server();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    onCall(stream, headers);
  });
  const address = await listen(t, server);
  t.teardown(() => {
    for (const s of sessions) s.destroy();
  });
  return address;
}

function connect(t: ExecutionContext, address: string, options: EntrypointChannelOptions = {}) {
  const conn = new EntrypointConnection(
    { address, token: "tok", tls: false, tlsSkipVerify: false, source: "test" },
    identity,
    options,
  );
  t.teardown(() => conn.close());
  return conn;
}

/** Opens the config stream; resolves with its messages and how it ended. */
function configCall(conn: EntrypointConnection) {
  const messages: EntrypointConfigResponse__Output[] = [];
  let call!: { cancel(): void };
  const ended = new Promise<AppError | undefined>((resolve) => {
    call = conn.config({ instanceId: "inst-1", deploymentId: "web-v1" }, (m) => messages.push(m), resolve);
  });
  return { messages, ended, call };
}

test("a refused connection is UNAVAILABLE and says so in words", async (t) => {
  const server = createTcpServer();
  const address = await listen(t, server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const err = await configCall(connect(t, address)).ended;
  t.is(err?.code, "UNAVAILABLE");
  t.regex(err!.message, /cannot reach the server at 127\.0\.0\.1:\d+: connection refused/);
});

test("a server that accepts but never speaks HTTP/2 times out as UNAVAILABLE", async (t) => {
  const sockets: Socket[] = [];
  const server = createTcpServer((s) => sockets.push(s));
  const address = await listen(t, server);
  // Registered after listen's close, so it runs first: close waits for these connections.
  t.teardown(() => {
    for (const s of sockets) s.destroy();
  });
  const started = Date.now();
  const err = await configCall(connect(t, address, { connectTimeoutMs: 300 })).ended;
  t.is(err?.code, "UNAVAILABLE");
  t.regex(err!.message, /connection timed out/);
  t.true(Date.now() - started < 5_000);
});

test("the call carries the identity headers, the token and gRPC's content type; messages arrive in order", async (t) => {
  let seen: Record<string, unknown> = {};
  const address = await h2Server(t, (stream, headers) => {
    seen = headers;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    const one = configDef.responseSerialize({ config: [{ name: "A", value: "1" }], hasConfig: true });
    const two = configDef.responseSerialize({ exec: { session: "s1" } });
    // Both messages in one DATA frame, then the second cut across two: the framing is reassembled.
    const both = Buffer.concat([frame(one), frame(two)]);
    stream.write(both.subarray(0, both.length - 3));
    setTimeout(() => stream.end(both.subarray(both.length - 3)), 20);
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  });
  const { messages, ended } = configCall(connect(t, address));
  t.is(await ended, undefined);
  t.is(seen[":path"], "/waypoint.v1.Entrypoint/EntrypointConfig");
  t.is(seen["content-type"], "application/grpc");
  t.is(seen.te, "trailers");
  t.is(seen.authorization, "Bearer tok");
  t.is(seen["client-kind"], "entrypoint");
  t.is(seen["client-id"], "inst-1");
  t.deepEqual(messages, [
    {
      config: [{ name: "A", value: "1", secret: false }],
      exec: null,
      hasConfig: true,
      tunnel: null,
      pacesLogs: false,
      logCredit: null,
    },
    {
      config: [],
      exec: { session: "s1" },
      hasConfig: false,
      tunnel: null,
      pacesLogs: false,
      logCredit: null,
    },
  ]);
});

test("a trailers-only refusal carries the server's code, hint and percent-encoded message", async (t) => {
  const address = await h2Server(t, (stream) => {
    stream.respond(
      {
        ":status": 200,
        "content-type": "application/grpc",
        "grpc-status": "16",
        "grpc-message": "token%20expired%20%E2%80%94%20mint%20another",
        "waypoint-error-code": "UNAUTHENTICATED",
        "waypoint-hint": "Create a deployment to get a new token.",
      },
      { endStream: true },
    );
  });
  const err = await configCall(connect(t, address)).ended;
  t.is(err?.code, "UNAUTHENTICATED");
  t.is(err?.message, "token expired — mint another");
  t.is(err?.hint, "Create a deployment to get a new token.");
});

test("an HTTP server that is not gRPC is named as such", async (t) => {
  const address = await h2Server(t, (stream) => {
    stream.respond({ ":status": 404, "content-type": "text/html" });
    stream.end("<h1>not found</h1>");
  });
  const err = await configCall(connect(t, address)).ended;
  t.regex(err!.message, /HTTP 404 \(text\/html\), not gRPC/);
});

test("a message that does not decode ends the call with INTERNAL", async (t) => {
  const address = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(frame(Buffer.from([0x0a, 0x09, 0x01])));
  });
  const err = await configCall(connect(t, address)).ended;
  t.is(err?.code, "INTERNAL");
  t.regex(err!.message, /sent a EntrypointConfig message this entrypoint cannot read/);
});

test("a message over the size limit is refused before it is buffered", async (t) => {
  const address = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(frame(Buffer.alloc(10), 64 * 1024 * 1024));
  });
  const err = await configCall(connect(t, address)).ended;
  t.regex(err!.message, /message of 67108864 bytes \(limit 16777216\)/);
});

test("a server that stops answering is found by the keepalive ping", async (t) => {
  const address = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(frame(configDef.responseSerialize({ hasConfig: true })));
  });
  // A proxy in between that can freeze: bytes stop flowing both ways, as with a hung host.
  const [host, port] = address.split(":");
  let frozen = false;
  const pairs: Socket[] = [];
  const proxy = createTcpServer((client) => {
    const upstream = createConnection(Number(port), host!);
    pairs.push(client, upstream);
    client.on("data", (d) => frozen || upstream.write(d));
    upstream.on("data", (d) => frozen || client.write(d));
    client.on("error", () => {});
    upstream.on("error", () => {});
  });
  const proxied = await listen(t, proxy);
  t.teardown(() => {
    for (const s of pairs) s.destroy();
  });
  const { messages, ended } = configCall(connect(t, proxied, { keepaliveMs: 100, keepaliveTimeoutMs: 200 }));
  await waitUntil(() => messages.length === 1);
  frozen = true;
  const started = Date.now();
  const err = await ended;
  t.is(err?.code, "UNAVAILABLE");
  t.regex(err!.message, /keepalive ping unanswered|timed out/);
  t.true(Date.now() - started < 5_000);
});

test("a call the caller cancels ends without an error, and the server sees it cancelled", async (t) => {
  let serverSaw: number | undefined;
  const address = await h2Server(t, (stream) => {
    stream.respond({ ":status": 200, "content-type": "application/grpc" });
    stream.write(frame(configDef.responseSerialize({ hasConfig: true })));
    stream.on("close", () => (serverSaw = stream.rstCode));
  });
  const { messages, ended, call } = configCall(connect(t, address));
  await waitUntil(() => messages.length === 1);
  call.cancel();
  t.is(await ended, undefined);
  await waitUntil(() => serverSaw !== undefined);
  t.is(serverSaw, 8); // NGHTTP2_CANCEL
});

test("after the connection broke, the next call opens a new one", async (t) => {
  let calls = 0;
  const address = await h2Server(t, (stream) => {
    calls += 1;
    if (calls === 1) {
      // The whole connection goes away under the first call.
      stream.session?.destroy();
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.end(frame(configDef.responseSerialize({ hasConfig: true })));
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  });
  const conn = connect(t, address);
  const first = await configCall(conn).ended;
  t.is(first?.code, "UNAVAILABLE");
  const second = configCall(conn);
  t.is(await second.ended, undefined);
  t.is(second.messages.length, 1);
});

async function waitUntil(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
