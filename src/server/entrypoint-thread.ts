/**
 * The entrypoint listener's thread (`-listen-entrypoint`). It is transport only: TLS, HTTP/2 and gRPC's
 * framing for the Entrypoint service, with no state and no logic of its own. Each call it takes is
 * handed to the main thread as bytes (entrypoint-listener.ts), where the same handlers as on
 * `-listen-grpc` run it; what they answer comes back as bytes. The fleet's connections, and the
 * collections of the heap that holds them, so stay off the loop that answers operators.
 */
import * as grpc from "@grpc/grpc-js";
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { parentPort, workerData } from "node:worker_threads";
import { type FromThread, LATIN1, type ThreadSetup, type ToThread } from "./entrypoint-thread-wire.js";

type AnyCall =
  | grpc.ServerWritableStream<Buffer, Buffer>
  | grpc.ServerReadableStream<Buffer, Buffer>
  | grpc.ServerDuplexStream<Buffer, Buffer>;

interface Open {
  readonly call: AnyCall;
  readonly kind: "serverStream" | "clientStream" | "bidi";
  /** A client stream's answer, kept until its status. */
  answer?: Buffer;
  callback?: grpc.sendUnaryData<Buffer>;
  done: boolean;
}

const port = parentPort;
if (!port) throw new Error("entrypoint-thread.ts runs as a worker thread of the server");
const setup = workerData as ThreadSetup;

// Operators' calls on the main thread go first: this thread's work has its own back-pressure (HTTP/2
// windows, the log credit), theirs has none. Linux: a thread's nice value is per thread.
lowerPriority(setup.nice);

const calls = new Map<number, Open>();
let nextId = 1;
let out: FromThread[] = [];
let flushing = false;
const send = (op: FromThread) => {
  out.push(op);
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
};
function flush(): void {
  flushing = false;
  const batch = out;
  out = [];
  if (batch.length > 0) port!.postMessage(batch);
}

const identity = (b: Buffer) => b;
const server = new grpc.Server({
  "grpc.max_receive_message_length": setup.maxMessageBytes,
  "grpc.max_send_message_length": setup.maxMessageBytes,
});
const service: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
const handlers: grpc.UntypedServiceImplementation = {};
for (const m of setup.methods) {
  service[m.name] = {
    path: m.path,
    requestStream: m.kind !== "serverStream",
    responseStream: m.kind !== "clientStream",
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
  handlers[m.name] =
    m.kind === "clientStream"
      ? (call: grpc.ServerReadableStream<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
          opened(call, m.kind, m.path, callback)
      : (call: grpc.ServerWritableStream<Buffer, Buffer> | grpc.ServerDuplexStream<Buffer, Buffer>) =>
          opened(call, m.kind, m.path);
}
server.addService(service as grpc.ServiceDefinition, handlers);

function opened(call: AnyCall, kind: Open["kind"], path: string, callback?: grpc.sendUnaryData<Buffer>): void {
  const id = nextId++;
  const open: Open = { call, kind, done: false, ...(callback ? { callback } : {}) };
  calls.set(id, open);
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  send({
    op: "open",
    id,
    path,
    headers: call.metadata.toHttp2Headers() as Record<string, string | string[]>,
    peer: call.getPeer(),
    deadline: Number.isFinite(at) ? at : null,
    host: call.getHost(),
    ...("request" in call && kind === "serverStream" ? { request: (call.request as Buffer).toString(LATIN1) } : {}),
  });
  const gone = () => {
    if (open.done) return;
    open.done = true;
    calls.delete(id);
    send({ op: "cancel", id });
  };
  call.on("cancelled", gone);
  call.on("error", () => {});
  if (kind !== "serverStream") {
    const readable = call as grpc.ServerReadableStream<Buffer, Buffer>;
    readable.on("data", (b: Buffer) => send({ op: "message", id, data: b.toString(LATIN1) }));
    readable.on("end", () => send({ op: "halfClose", id }));
  }
}

function finish(id: number, o: Open, code: number, details: string, headers: Record<string, string | string[]> | null): void {
  o.done = true;
  calls.delete(id);
  const metadata = headers ? grpc.Metadata.fromHttp2Headers(headers) : new grpc.Metadata();
  if (o.kind === "clientStream") {
    if (code === grpc.status.OK) o.callback!(null, o.answer ?? Buffer.alloc(0), metadata);
    else o.callback!({ code, details, metadata });
    return;
  }
  const w = o.call as grpc.ServerWritableStream<Buffer, Buffer>;
  // grpc-js turns an "error" event on a server stream into its status, after what was written.
  if (code === grpc.status.OK) w.end(metadata);
  else w.emit("error", { code, details, metadata });
}

port.on("message", (batch: ToThread[]) => {
  for (const m of batch) {
    if (m.op === "shutdown") {
      shutdown(m.graceMs);
      continue;
    }
    const o = calls.get(m.id);
    if (!o) {
      // A write to a call that is gone still completes: the main side waits for it.
      if (m.op === "write") send({ op: "written", id: m.id });
      continue;
    }
    switch (m.op) {
      case "write": {
        const data = Buffer.from(m.data, LATIN1);
        if (o.kind === "clientStream") {
          o.answer = data;
          send({ op: "written", id: m.id });
        } else (o.call as grpc.ServerWritableStream<Buffer, Buffer>).write(data, () => send({ op: "written", id: m.id }));
        break;
      }
      case "metadata":
        o.call.sendMetadata(grpc.Metadata.fromHttp2Headers(m.headers));
        break;
      case "status":
        finish(m.id, o, m.code, m.details, m.headers);
        break;
      case "pause":
        (o.call as grpc.ServerReadableStream<Buffer, Buffer>).pause();
        break;
      case "resume":
        (o.call as grpc.ServerReadableStream<Buffer, Buffer>).resume();
        break;
    }
  }
});

function shutdown(graceMs: number): void {
  const timer = setTimeout(() => server.forceShutdown(), graceMs);
  server.tryShutdown(() => {
    clearTimeout(timer);
    flush();
    port!.postMessage([{ op: "closed" }] satisfies FromThread[]);
  });
}

const credentials = setup.tls
  ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(setup.tls.cert), private_key: Buffer.from(setup.tls.key) }], false)
  : grpc.ServerCredentials.createInsecure();
server.bindAsync(setup.address, credentials, (err, bound) => {
  if (err) port!.postMessage([{ op: "failed", message: err.message, code: (err as NodeJS.ErrnoException).code ?? "" }] satisfies FromThread[]);
  else port!.postMessage([{ op: "listening", port: bound }] satisfies FromThread[]);
});

function lowerPriority(nice: number): void {
  if (nice === 0 || process.platform !== "linux") return;
  try {
    // /proc/thread-self is "<pid>/task/<tid>": setpriority on a thread id sets that thread's nice value.
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // Best effort: the listener works the same at the process's priority.
  }
}
