/**
 * The entrypoint listener (`-listen-entrypoint`): calls taken by its thread run through the handlers
 * grpc-js registered on the main server, with a real client over TCP. A test service (JSON messages)
 * covers each kind of streaming call, statuses and trailers, metadata, deadlines, cancellation, the
 * message limit and the thread's reading held back while a handler does not read.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import test, { type ExecutionContext } from "ava";
import { EntrypointListener } from "../../src/server/entrypoint-listener.js";
import { createLogger } from "../../src/server/logger.js";
import { LogSink } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

type Msg = { n: number; text?: string };
const json = {
  serialize: (m: Msg) => Buffer.from(JSON.stringify(m)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as Msg,
};
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({
  path,
  requestStream,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
const SERVICE = {
  Watch: method("/t.T/Watch", false, true),
  Upload: method("/t.T/Upload", true, false),
  Chat: method("/t.T/Chat", true, true),
} satisfies grpc.ServiceDefinition;
/** Registered on the main server only: the listener does not serve it. */
const OTHER = { Ping: method("/t.O/Ping", false, true) } satisfies grpc.ServiceDefinition;

interface Seen {
  metadata?: grpc.Metadata;
  peer?: string;
  deadline?: grpc.Deadline;
  cancelled: boolean;
  uploadCall?: grpc.ServerReadableStream<Msg, Msg>;
}

async function setup(
  t: ExecutionContext,
  handlers: Partial<grpc.UntypedServiceImplementation> = {},
  opts: { maxMessageBytes?: number; onFailure?: (err: Error) => void; nice?: number } = {},
) {
  const seen: Seen = { cancelled: false };
  const server = new grpc.Server();
  server.addService(SERVICE, {
    Watch: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      seen.metadata = call.metadata;
      seen.peer = call.getPeer();
      seen.deadline = call.getDeadline();
      call.on("cancelled", () => (seen.cancelled = true));
      const { n } = call.request;
      if (n < 0) {
        const trailers = new grpc.Metadata();
        trailers.set("why", "negative");
        call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details: `n is ${n}`, metadata: trailers });
        return;
      }
      for (let i = 0; i < n; i++) call.write({ n: i });
      if (n < 1000) call.end();
    },
    Upload: (call: grpc.ServerReadableStream<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      seen.uploadCall = call;
      let sum = 0;
      call.on("data", (m: Msg) => (sum += m.n));
      call.on("end", () => callback(null, { n: sum }));
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on("data", (m: Msg) => call.write({ n: m.n * 2 }));
      call.on("end", () => call.end());
    },
    ...handlers,
  });
  server.addService(OTHER, { Ping: (call: grpc.ServerWritableStream<Msg, Msg>) => call.end() });
  const listener = await EntrypointListener.start({
    server,
    service: SERVICE,
    address: "127.0.0.1:0",
    maxMessageBytes: opts.maxMessageBytes ?? 4 * 1024 * 1024,
    logger: createLogger("error", new LogSink()),
    ...(opts.onFailure ? { onFailure: opts.onFailure } : {}),
    ...(opts.nice !== undefined ? { nice: opts.nice } : {}),
  });
  t.teardown(() => listener.close(1000));
  const client = new grpc.Client(`127.0.0.1:${listener.port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return { listener, client, seen };
}

const serverStream = (client: grpc.Client, path: string, req: Msg, md = new grpc.Metadata(), options = {}) =>
  client.makeServerStreamRequest(path, json.serialize, json.deserialize, req, md, options);

function collect(
  stream: grpc.ClientReadableStream<Msg>,
): Promise<{ msgs: Msg[]; status: grpc.StatusObject }> {
  const msgs: Msg[] = [];
  stream.on("data", (m: Msg) => msgs.push(m));
  stream.on("error", () => {});
  return new Promise((resolve) =>
    stream.on("status", (status: grpc.StatusObject) => resolve({ msgs, status })),
  );
}

test("a server stream: the request, every message in order, the status; metadata, peer and deadline reach the handler", async (t) => {
  const { client, seen } = await setup(t);
  const md = new grpc.Metadata();
  md.set("client-kind", "entrypoint");
  md.add("x-twice", "a");
  md.add("x-twice", "b");
  const deadline = Date.now() + 60_000;
  const { msgs, status } = await collect(serverStream(client, "/t.T/Watch", { n: 500 }, md, { deadline }));
  t.is(status.code, grpc.status.OK);
  t.deepEqual(
    msgs.map((m) => m.n),
    Array.from({ length: 500 }, (_, i) => i),
  );
  t.deepEqual(seen.metadata?.get("client-kind"), ["entrypoint"]);
  t.deepEqual(seen.metadata?.get("x-twice"), ["a, b"]);
  t.regex(seen.peer ?? "", /^127\.0\.0\.1:\d+$/);
  const at = seen.deadline instanceof Date ? seen.deadline.getTime() : Number(seen.deadline);
  t.true(Math.abs(at - deadline) < 1000, `deadline ${at} vs ${deadline}`);
});

test("an error status from the handler reaches the client with its details and trailers", async (t) => {
  const { client } = await setup(t);
  const { status } = await collect(serverStream(client, "/t.T/Watch", { n: -3 }));
  t.is(status.code, grpc.status.INVALID_ARGUMENT);
  t.is(status.details, "n is -3");
  t.deepEqual(status.metadata.get("why"), ["negative"]);
});

test("a client stream and a bidi stream: every message read, the answer and the echoes", async (t) => {
  const { client } = await setup(t);
  const answer = await new Promise<Msg>((resolve, reject) => {
    const call = client.makeClientStreamRequest(
      "/t.T/Upload",
      json.serialize,
      json.deserialize,
      (err, res) => (err ? reject(err) : resolve(res!)),
    );
    for (let i = 1; i <= 1000; i++) call.write({ n: i });
    call.end();
  });
  t.is(answer.n, 500_500);

  const chat = client.makeBidiStreamRequest("/t.T/Chat", json.serialize, json.deserialize);
  const echoes: number[] = [];
  chat.on("data", (m: Msg) => echoes.push(m.n));
  const ended = new Promise<grpc.StatusObject>((resolve) => chat.on("status", resolve));
  for (let i = 0; i < 100; i++) chat.write({ n: i });
  chat.end();
  t.is((await ended).code, grpc.status.OK);
  t.deepEqual(
    echoes,
    Array.from({ length: 100 }, (_, i) => i * 2),
  );
});

test("a client that cancels: the handler's call is cancelled", async (t) => {
  const { client, seen } = await setup(t);
  const call = serverStream(client, "/t.T/Watch", { n: 1000 });
  call.on("error", () => {});
  await new Promise((resolve) => call.once("data", resolve));
  call.cancel();
  await waitFor(() => seen.cancelled, "the handler's call to be cancelled");
  t.pass();
});

test("a method the listener does not serve is UNIMPLEMENTED, and a message over the limit is refused", async (t) => {
  const { client } = await setup(t, {}, { maxMessageBytes: 1024 });
  const other = await collect(serverStream(client, "/t.O/Ping", { n: 0 }));
  t.is(other.status.code, grpc.status.UNIMPLEMENTED);
  const big = await collect(serverStream(client, "/t.T/Watch", { n: 1, text: "x".repeat(4096) }));
  t.is(big.status.code, grpc.status.RESOURCE_EXHAUSTED);
});

test("while a handler does not read, the thread stops reading the call: the client is held back until it reads again", async (t) => {
  let received = 0;
  const { client, seen } = await setup(t, {
    Upload: (call: grpc.ServerReadableStream<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) => {
      seen.uploadCall = call;
      call.pause();
      call.on("data", () => received++);
      call.on("end", () => callback(null, { n: received }));
    },
  });
  const text = "y".repeat(16 * 1024);
  let written = 0;
  let answered: Msg | undefined;
  const call = client.makeClientStreamRequest("/t.T/Upload", json.serialize, json.deserialize, (err, res) => {
    if (!err) answered = res;
  });
  // Writes as long as the stream takes them: 8 MiB in all if nothing holds it back.
  const pump = () => {
    while (written < 512) {
      written++;
      if (!call.write({ n: written, text })) {
        call.once("drain", pump);
        return;
      }
    }
    call.end();
  };
  pump();
  await waitFor(() => seen.uploadCall !== undefined, "the call");
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.is(received, 0);
  // Held back: the client could not write it all (HTTP/2 windows of ~64 KiB each side, and what waits unread).
  t.true(written < 100, `the client wrote ${written} of 512 messages while the handler did not read`);
  seen.uploadCall!.resume();
  await waitFor(() => answered !== undefined, "the answer", 20_000);
  t.is(answered!.n, 512);
});

test("a listen address in use fails to start, naming -listen-entrypoint", async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as { port: number }).port;
  const server = new grpc.Server();
  server.addService(SERVICE, {});
  const err = await t.throwsAsync(
    EntrypointListener.start({
      server,
      service: SERVICE,
      address: `127.0.0.1:${port}`,
      maxMessageBytes: 1024,
      logger: createLogger("error", new LogSink()),
    }),
  );
  t.regex(err.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(-listen-entrypoint\\).*already in use`));
});

test("the thread ending without close() cancels its calls and is reported once", async (t) => {
  const failures: Error[] = [];
  const { listener, client, seen } = await setup(t, {}, { onFailure: (err) => failures.push(err) });
  const call = serverStream(client, "/t.T/Watch", { n: 1000 });
  call.on("error", () => {});
  await new Promise((resolve) => call.once("data", resolve));
  await (listener as unknown as { worker: import("node:worker_threads").Worker }).worker.terminate();
  await waitFor(() => seen.cancelled && failures.length === 1, "the call cancelled and the failure reported");
  t.regex(failures[0]!.message, /thread exited with code/);
  t.false(listener.serving, "no longer serving: deployments are not given its port");
  // An orderly close reports nothing.
  const other = await setup(t, {}, { onFailure: (err) => failures.push(err) });
  t.true(other.listener.serving);
  // Twice, as a shutdown may: both resolve.
  await Promise.all([other.listener.close(1000), other.listener.close(1000)]);
  t.false(other.listener.serving);
  t.is(failures.length, 1);
});

test("a message that does not deserialize ends the call with INTERNAL, and the handler's stream is told it is over", async (t) => {
  let handlerCancelled = false;
  const { client } = await setup(t, {
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on("data", () => {});
      call.on("cancelled", () => (handlerCancelled = true));
    },
  });
  const raw = (b: Buffer) => b;
  const chat = client.makeBidiStreamRequest("/t.T/Chat", raw, raw);
  chat.on("error", () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => chat.on("status", resolve));
  chat.write(Buffer.from("not json"));
  const s = await status;
  t.is(s.code, grpc.status.INTERNAL);
  t.regex(s.details, /Error deserializing request/);
  await waitFor(() => handlerCancelled, "the handler's stream to be cancelled");
  t.pass();
});

/** Each thread of this process and its nice value (Linux: /proc/self/task/TID/stat, field 19). */
function niceValues(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync("/proc/self/task")) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
      out.set(Number(tid), Number(stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[16]));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

// Serial (ava runs those first, alone): a listener another test starts meanwhile would be a thread at 0.
test.serial(
  "with a nice value, every thread but the calling one runs below it: the listener's thread and the helpers",
  async (t) => {
    if (process.platform !== "linux") {
      t.pass("thread priorities are set on Linux only");
      return;
    }
    const before = niceValues().size;
    const { client } = await setup(t, {}, { nice: 10 });
    const threads = niceValues();
    t.true(threads.size > before, "the listener's thread is one more");
    t.is(threads.get(process.pid), 0, "the calling (main) thread keeps its priority");
    for (const [tid, nice] of threads) if (tid !== process.pid) t.is(nice, 10, `thread ${tid}`);
    // And it serves as before.
    const { status } = await collect(serverStream(client, "/t.T/Watch", { n: 3 }));
    t.is(status.code, grpc.status.OK);
  },
);
