/**
 * `-listen-entrypoint`: a second gRPC listener for the Entrypoint service, served by a thread of its
 * own (entrypoint-thread.ts). That thread holds the fleet's connections and does their TLS, HTTP/2 and
 * gRPC framing; each call it takes runs here, on the main thread, through the very handler grpc-js
 * runs for a call on `-listen-grpc` (the same guard, limits and services), with a call object that
 * forwards to the thread. The heap that holds 10,000 connections and their streams is the thread's, so
 * its collections no longer stop the loop that answers `versions` and every other operator call.
 */
import { existsSync } from "node:fs";
import { Worker } from "node:worker_threads";
import * as grpc from "@grpc/grpc-js";
import type {
  InterceptingServerListener,
  ServerInterceptingCallInterface,
} from "@grpc/grpc-js/build/src/server-interceptors.js";

type PartialStatus = Parameters<ServerInterceptingCallInterface["sendStatus"]>[0];
type AuthContext = ReturnType<ServerInterceptingCallInterface["getAuthContext"]>;
type ConnectionInfo = ReturnType<ServerInterceptingCallInterface["getConnectionInfo"]>;
import { AppError } from "../protocol/errors.js";
import { bindError } from "./bind-error.js";
import {
  type CallKind,
  type FromThread,
  type Headers,
  LATIN1,
  type ThreadSetup,
  type ToThread,
} from "./entrypoint-thread-wire.js";
import type { ServerLogger } from "./logger.js";
import type { TlsPair } from "./tls.js";

/** grpc-js's record of a registered method (Server's private `handlers` map). */
interface Handler {
  readonly type: "unary" | CallKind;
  readonly path: string;
  serialize(value: unknown): Buffer;
  deserialize(bytes: Buffer): unknown;
}

/** The two methods of grpc-js's Server that run a call through its registered handler. */
interface HandlerRunner {
  _retrieveHandler(path: string): Handler | null;
  _runHandlerForCall(call: ServerInterceptingCallInterface, handler: Handler): boolean;
}

export interface EntrypointListenerOptions {
  /** The server whose registered handlers run the calls. */
  readonly server: grpc.Server;
  /** The service the listener serves (the Entrypoint service). */
  readonly service: grpc.ServiceDefinition;
  readonly address: string;
  readonly tls?: TlsPair;
  readonly maxMessageBytes: number;
  readonly logger: ServerLogger;
  /** The thread's nice value (Linux); 0 leaves it at the process's. */
  readonly nice?: number;
}

export class EntrypointListener {
  private readonly calls = new Map<number, RemoteCall>();
  private out: ToThread[] = [];
  private flushing = false;
  private closed: (() => void) | undefined;
  private exited = false;

  private constructor(
    private readonly worker: Worker,
    private readonly runner: HandlerRunner,
    private readonly logger: ServerLogger,
    readonly port: number,
  ) {}

  static async start(opts: EntrypointListenerOptions): Promise<EntrypointListener> {
    const runner = opts.server as unknown as Partial<HandlerRunner>;
    if (typeof runner._retrieveHandler !== "function" || typeof runner._runHandlerForCall !== "function")
      throw new AppError(
        "INTERNAL",
        "this version of @grpc/grpc-js has no _retrieveHandler/_runHandlerForCall: -listen-entrypoint cannot run its calls",
      );
    const setup: ThreadSetup = {
      address: opts.address,
      ...(opts.tls ? { tls: { cert: opts.tls.cert.toString(), key: opts.tls.key.toString() } } : {}),
      maxMessageBytes: opts.maxMessageBytes,
      methods: Object.entries(opts.service).map(([name, m]) => ({
        name,
        path: m.path,
        kind: m.requestStream ? (m.responseStream ? "bidi" : "clientStream") : "serverStream",
      })),
      nice: opts.nice ?? 0,
    };
    if (Object.values(opts.service).some((m) => !m.requestStream && !m.responseStream))
      throw new AppError("INTERNAL", "-listen-entrypoint serves streaming methods only");
    const worker = threadWorker(setup);
    let onMessage: (batch: FromThread[]) => void = () => {};
    let onError: (err: Error) => void = () => {};
    let onExit: (code: number) => void = () => {};
    const first = await new Promise<FromThread>((resolve, reject) => {
      onMessage = (batch) => resolve(batch[0]!);
      onError = reject;
      onExit = (code) => reject(new Error(`the entrypoint listener's thread exited (${code})`));
      worker.once("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
    }).finally(() => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    });
    if (first.op !== "listening") {
      await worker.terminate();
      const message = first.op === "failed" ? first.message : `unexpected ${first.op}`;
      throw bindError(
        Object.assign(new Error(message), first.op === "failed" && first.code ? { code: first.code } : {}),
        opts.address,
        "-listen-entrypoint",
      );
    }
    const listener = new EntrypointListener(worker, runner as HandlerRunner, opts.logger, first.port);
    worker.on("message", (batch: FromThread[]) => listener.received(batch));
    worker.on("error", (err) => opts.logger.error({ err }, "the entrypoint listener's thread failed"));
    worker.on("exit", () => listener.gone());
    return listener;
  }

  /** Stops taking calls and waits for those in flight (ended by the server first), at most graceMs. */
  close(graceMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    const done = new Promise<void>((resolve) => (this.closed = resolve));
    this.send({ op: "shutdown", graceMs });
    const timer = setTimeout(() => void this.worker.terminate(), graceMs + 2_000);
    return done.then(async () => {
      clearTimeout(timer);
      await this.worker.terminate();
    });
  }

  send(op: ToThread): void {
    this.out.push(op);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => {
        this.flushing = false;
        const batch = this.out;
        this.out = [];
        if (batch.length > 0 && !this.exited) this.worker.postMessage(batch);
      });
    }
  }

  forget(id: number): void {
    this.calls.delete(id);
  }

  private received(batch: FromThread[]): void {
    for (const m of batch) {
      switch (m.op) {
        case "open": {
          const handler = this.runner._retrieveHandler(m.path);
          if (!handler) {
            this.send({ op: "status", id: m.id, code: grpc.status.UNIMPLEMENTED, details: `no handler for ${m.path}`, headers: null });
            break;
          }
          const call = new RemoteCall(this, m.id, handler, m);
          this.calls.set(m.id, call);
          this.runner._runHandlerForCall(call, handler);
          break;
        }
        case "message":
          this.calls.get(m.id)?.message(m.data);
          break;
        case "halfClose":
          this.calls.get(m.id)?.halfClose();
          break;
        case "cancel":
          this.calls.get(m.id)?.cancel();
          break;
        case "written":
          this.calls.get(m.id)?.written();
          break;
        case "closed":
          this.closed?.();
          break;
        default:
          break;
      }
    }
  }

  private gone(): void {
    this.exited = true;
    for (const call of [...this.calls.values()]) call.cancel();
    this.closed?.();
  }
}

const HALF_CLOSE = Symbol("half-close");

/**
 * A call taken by the listener's thread, in the shape grpc-js's handlers drive
 * (`ServerInterceptingCallInterface`): messages are deserialized and answers serialized here with the
 * method's own functions, as grpc-js does for a call on its own listener.
 */
class RemoteCall implements ServerInterceptingCallInterface {
  private listener: InterceptingServerListener | undefined;
  private readonly queue: (string | typeof HALF_CLOSE)[] = [];
  private readPending = false;
  /** Whether the thread was told to stop reading the call. */
  private paused = false;
  private ended = false;
  private cancelled = false;
  private readonly writeCallbacks: (() => void)[] = [];
  private readonly metadata: grpc.Metadata;

  constructor(
    private readonly link: EntrypointListener,
    private readonly id: number,
    private readonly handler: Handler,
    private readonly open: Extract<FromThread, { op: "open" }>,
  ) {
    this.metadata = grpc.Metadata.fromHttp2Headers(open.headers);
    if (open.request !== undefined) this.queue.push(open.request, HALF_CLOSE);
  }

  start(listener: InterceptingServerListener): void {
    this.listener = listener;
    listener.onReceiveMetadata(this.metadata);
  }

  sendMetadata(metadata: grpc.Metadata): void {
    if (this.ended) return;
    this.link.send({ op: "metadata", id: this.id, headers: metadata.toHttp2Headers() as Headers });
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.ended || this.cancelled) return;
    let bytes: Buffer;
    try {
      bytes = this.handler.serialize(message);
    } catch (err) {
      this.sendStatus({ code: grpc.status.INTERNAL, details: "Error serializing response" });
      return;
    }
    this.writeCallbacks.push(callback);
    this.link.send({ op: "write", id: this.id, data: bytes.toString(LATIN1) });
  }

  sendStatus(status: PartialStatus): void {
    if (this.ended) return;
    this.ended = true;
    this.link.forget(this.id);
    if (this.cancelled) return;
    this.link.send({
      op: "status",
      id: this.id,
      code: status.code,
      details: status.details,
      headers: status.metadata ? (status.metadata.toHttp2Headers() as Headers) : null,
    });
  }

  startRead(): void {
    this.readPending = true;
    this.deliver();
  }

  getPeer(): string {
    return this.open.peer;
  }

  getDeadline(): grpc.Deadline {
    return this.open.deadline ?? Number.POSITIVE_INFINITY;
  }

  getHost(): string {
    return this.open.host;
  }

  getAuthContext(): AuthContext {
    return {};
  }

  getConnectionInfo(): ConnectionInfo {
    const at = this.open.peer.lastIndexOf(":");
    return { remoteAddress: this.open.peer.slice(0, at), remotePort: Number(this.open.peer.slice(at + 1)) } as ConnectionInfo;
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]> {
    return NO_METRICS;
  }

  message(data: string): void {
    if (this.ended || this.cancelled) return;
    this.queue.push(data);
    this.deliver();
  }

  halfClose(): void {
    if (this.ended || this.cancelled) return;
    this.queue.push(HALF_CLOSE);
    this.deliver();
  }

  written(): void {
    this.writeCallbacks.shift()?.();
  }

  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.queue.length = 0;
    this.link.forget(this.id);
    this.listener?.onCancel();
  }

  private deliver(): void {
    while (this.readPending && this.listener && this.queue.length > 0 && !this.cancelled) {
      this.readPending = false;
      const next = this.queue.shift()!;
      if (next === HALF_CLOSE) {
        this.listener.onReceiveHalfClose();
        continue;
      }
      let message: unknown;
      try {
        message = this.handler.deserialize(Buffer.from(next, LATIN1));
      } catch (err) {
        this.sendStatus({ code: grpc.status.INTERNAL, details: `Error deserializing request: ${(err as Error).message}` });
        return;
      }
      this.listener.onReceiveMessage(message);
    }
    // One message waiting unread is enough: the rest stays with the client (HTTP/2's window).
    const waiting = this.queue.length > 0 && !this.readPending;
    if (waiting && !this.paused && this.open.request === undefined) {
      this.paused = true;
      this.link.send({ op: "pause", id: this.id });
    } else if (!waiting && this.paused) {
      this.paused = false;
      this.link.send({ op: "resume", id: this.id });
    }
  }
}

const NO_METRICS = {
  recordRequestCostMetric() {},
  recordUtilizationMetric() {},
  recordNamedMetric() {},
  recordCpuUtilizationMetric() {},
  recordMemoryUtilizationMetric() {},
  recordApplicationUtilizationMetric() {},
  recordQpsMetric() {},
  recordEpsMetric() {},
} as unknown as ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]>;

/**
 * The thread, from its script: built (.js, beside this module; the CLI bundle puts it at server/), or
 * from source, where tsx's loader is registered in the thread first (a worker does not inherit the
 * `--import` hooks of the thread that made it).
 */
function threadWorker(setup: ThreadSetup): Worker {
  const built = new URL("../server/entrypoint-thread.js", import.meta.url);
  if (existsSync(built)) return new Worker(built, { workerData: setup });
  const source = new URL("../server/entrypoint-thread.ts", import.meta.url).href;
  const tsx = import.meta.resolve("tsx/esm/api");
  return new Worker(
    `import(${JSON.stringify(tsx)}).then((m) => m.register()).then(() => import(${JSON.stringify(source)}));`,
    { eval: true, workerData: setup },
  );
}
