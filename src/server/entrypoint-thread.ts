/**
 * The entrypoint listener's thread (`-listen-entrypoint`). It is transport only: TLS, HTTP/2 and gRPC's
 * framing for the Entrypoint service, with no state and no logic of its own. Each call it takes is
 * handed to the main thread as bytes (entrypoint-listener.ts), where the same handlers as on
 * `-listen-grpc` run it; what they answer comes back as bytes. The fleet's connections, and the
 * collections of the heap that holds them, so stay off the loop that answers operators.
 */
import { parentPort, workerData } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import {
  BatchReader,
  BatchWriter,
  type CallKind,
  type Control,
  type Headers,
  Op,
  type OpenInfo,
  type StatusInfo,
  type ThreadSetup,
} from "./entrypoint-thread-wire.js";

type AnyCall =
  | grpc.ServerWritableStream<Buffer, Buffer>
  | grpc.ServerReadableStream<Buffer, Buffer>
  | grpc.ServerDuplexStream<Buffer, Buffer>;

interface Open {
  readonly call: AnyCall;
  readonly kind: CallKind;
  /** A client stream's answer, kept until its status. */
  answer?: Buffer;
  callback?: grpc.sendUnaryData<Buffer>;
}

const port = parentPort;
if (!port) throw new Error("entrypoint-thread.ts runs as a worker thread of the server");
const setup = workerData as ThreadSetup;

// grpc-js's log goes to the server's log, through the main thread (as its own does there).
const logLine =
  (level: "warn" | "debug" | "trace") =>
  (...args: unknown[]) =>
    post({ t: "log", level, text: args.map(String).join(" ") });
grpc.setLogger({ error: logLine("warn"), info: logLine("debug"), debug: logLine("trace") });

const calls = new Map<number, Open>();
let lastId = 0;
/** A call id (the wire's 32 bits), not one in use: a long-lived server takes billions of calls (URL tunnels). */
function newId(): number {
  do lastId = lastId >= 0xffff_ffff ? 1 : lastId + 1;
  while (calls.has(lastId));
  return lastId;
}
const out = new BatchWriter();
let scheduled = false;
/** A batch the main thread has not taken yet: the next waits (and grows) until it has. */
let inFlight = false;
const post = (m: Control, transfer?: ArrayBuffer[]) => port!.postMessage(m, transfer ?? []);
function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(flush);
}
function flush(): void {
  scheduled = false;
  if (inFlight || out.empty) return;
  inFlight = true;
  const { buffer, length } = out.take();
  post({ t: "batch", buffer, length }, [buffer]);
}
const send = (kind: Parameters<BatchWriter["op"]>[0], id: number, payload?: Uint8Array | string) => {
  out.op(kind, id, payload);
  schedule();
};

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

function opened(
  call: AnyCall,
  kind: Open["kind"],
  path: string,
  callback?: grpc.sendUnaryData<Buffer>,
): void {
  const id = newId();
  const open: Open = { call, kind, ...(callback ? { callback } : {}) };
  calls.set(id, open);
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  const info: OpenInfo = {
    path,
    headers: call.metadata.toHttp2Headers() as Headers,
    peer: call.getPeer(),
    deadline: Number.isFinite(at) ? at : null,
    host: call.getHost(),
  };
  send(Op.Open, id, JSON.stringify(info));
  if (kind === "serverStream") {
    send(Op.Message, id, (call as grpc.ServerWritableStream<Buffer, Buffer>).request);
    send(Op.HalfClose, id);
  }
  call.on("cancelled", () => {
    if (calls.delete(id)) send(Op.Cancel, id);
  });
  call.on("error", () => {});
  if (kind !== "serverStream") {
    const readable = call as grpc.ServerReadableStream<Buffer, Buffer>;
    // Nothing more once the call has its status.
    readable.on("data", (b: Buffer) => calls.has(id) && send(Op.Message, id, b));
    readable.on("end", () => calls.has(id) && send(Op.HalfClose, id));
  }
}

function finish(id: number, o: Open, status: StatusInfo): void {
  calls.delete(id);
  const metadata = status.headers ? grpc.Metadata.fromHttp2Headers(status.headers) : new grpc.Metadata();
  const { code, details } = status;
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

port.on("message", (m: Control) => {
  switch (m.t) {
    case "batch":
      new BatchReader(m.buffer, m.length).read(operation);
      break;
    case "ack":
      inFlight = false;
      flush();
      break;
    case "shutdown":
      shutdown(m.graceMs);
      break;
    default:
      break;
  }
});

function operation(kind: number, id: number, payload: Buffer): void {
  const o = calls.get(id);
  if (!o) {
    // A write to a call that is gone still completes: the main side counts its writes.
    if (kind === Op.Write) send(Op.Written, id);
    return;
  }
  switch (kind) {
    case Op.Write:
      if (o.kind === "clientStream") {
        o.answer = Buffer.from(payload);
        send(Op.Written, id);
      } else (o.call as grpc.ServerWritableStream<Buffer, Buffer>).write(payload, () => send(Op.Written, id));
      break;
    case Op.Metadata:
      o.call.sendMetadata(grpc.Metadata.fromHttp2Headers(JSON.parse(payload.toString()) as Headers));
      break;
    case Op.Status:
      finish(id, o, JSON.parse(payload.toString()) as StatusInfo);
      break;
    case Op.Pause:
      (o.call as grpc.ServerReadableStream<Buffer, Buffer>).pause();
      break;
    case Op.Resume:
      (o.call as grpc.ServerReadableStream<Buffer, Buffer>).resume();
      break;
  }
}

function shutdown(graceMs: number): void {
  const timer = setTimeout(() => server.forceShutdown(), graceMs);
  server.tryShutdown(() => {
    clearTimeout(timer);
    post({ t: "closed" });
  });
}

const credentials = setup.tls
  ? grpc.ServerCredentials.createSsl(
      null,
      [{ cert_chain: Buffer.from(setup.tls.cert), private_key: Buffer.from(setup.tls.key) }],
      false,
    )
  : grpc.ServerCredentials.createInsecure();
server.bindAsync(setup.address, credentials, (err, bound) => {
  if (err) post({ t: "failed", message: err.message, code: (err as NodeJS.ErrnoException).code ?? "" });
  else post({ t: "listening", port: bound });
});
