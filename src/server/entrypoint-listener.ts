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
  BatchReader,
  BatchWriter,
  type CallKind,
  type Control,
  type Headers,
  Op,
  type OpenInfo,
  type OpKind,
  type StatusInfo,
  type ThreadSetup,
} from "./entrypoint-thread-wire.js";
import { type ServerLogger, scrubTokens } from "./logger.js";
import { niceOtherThreads } from "./thread-priority.js";
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
  /**
   * The nice value (Linux) of the listener's thread and of the process's other helper threads (V8's
   * and libuv's): above 0, the calling thread, which answers operators, goes first. 0 changes nothing.
   */
  readonly nice?: number;
  /** The thread ended without close(): entrypoints can no longer connect through the listener. */
  readonly onFailure?: (err: Error) => void;
}

export class EntrypointListener {
  private readonly calls = new Map<number, RemoteCall>();
  private readonly out = new BatchWriter();
  private scheduled = false;
  private closed: (() => void) | undefined;
  private exited = false;
  /** close() was called: the thread's end is expected. */
  private closing = false;
  private closeDone: Promise<void> | undefined;
  /** The batch being read, a slice a turn. */
  private reading: BatchReader | undefined;

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
    if (Object.values(opts.service).some((m) => !m.requestStream && !m.responseStream))
      throw new AppError("INTERNAL", "-listen-entrypoint serves streaming methods only");
    const setup: ThreadSetup = {
      address: opts.address,
      ...(opts.tls ? { tls: { cert: opts.tls.cert.toString(), key: opts.tls.key.toString() } } : {}),
      maxMessageBytes: opts.maxMessageBytes,
      methods: Object.entries(opts.service).map(([name, m]) => ({
        name,
        path: m.path,
        kind: m.requestStream ? (m.responseStream ? "bidi" : "clientStream") : "serverStream",
      })),
    };
    const worker = threadWorker(setup);
    let onMessage: (m: Control) => void = () => {};
    let onError: (err: Error) => void = () => {};
    let onExit: (code: number) => void = () => {};
    const first = await new Promise<Control>((resolve, reject) => {
      onMessage = (m) => (m.t === "log" ? logFromThread(opts.logger, m) : resolve(m));
      onError = reject;
      onExit = (code) => reject(new Error(`the entrypoint listener's thread exited (${code})`));
      worker.on("message", onMessage);
      worker.once("error", onError);
      worker.once("exit", onExit);
    }).finally(() => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
    });
    if (first.t !== "listening") {
      await worker.terminate();
      const message = first.t === "failed" ? first.message : `unexpected ${first.t}`;
      throw bindError(
        Object.assign(new Error(message), first.t === "failed" && first.code ? { code: first.code } : {}),
        opts.address,
        "-listen-entrypoint",
      );
    }
    const listener = new EntrypointListener(worker, runner as HandlerRunner, opts.logger, first.port);
    let failure: Error | undefined;
    worker.on("message", (m: Control) => listener.received(m));
    worker.on("error", (err) => (failure = err));
    worker.on("exit", (code) => {
      const unexpected = !listener.closing;
      listener.gone();
      if (unexpected)
        opts.onFailure?.(failure ?? new Error(`the entrypoint listener's thread exited with code ${code}`));
    });
    // The listener's thread, and V8's and libuv's helper threads, below this one.
    if ((opts.nice ?? 0) > 0) {
      const lowered = niceOtherThreads(opts.nice!);
      opts.logger.debug({ threads: lowered, nice: opts.nice }, "other threads run below the main thread");
    }
    return listener;
  }

  /** Whether the thread serves: false once it ended, or was asked to. */
  get serving(): boolean {
    return !this.exited && !this.closing;
  }

  /**
   * Stops taking calls, waits for those in flight to end (the server ends its streams meanwhile), at most
   * graceMs, then ends the thread. Idempotent.
   */
  close(graceMs: number): Promise<void> {
    this.closing = true;
    this.closeDone ??= this.exited
      ? Promise.resolve()
      : (async () => {
          const done = new Promise<void>((resolve) => (this.closed = resolve));
          this.flush();
          this.worker.postMessage({ t: "shutdown", graceMs } satisfies Control);
          const timer = setTimeout(() => void this.worker.terminate(), graceMs + 2_000);
          await done;
          clearTimeout(timer);
          await this.worker.terminate();
        })();
    return this.closeDone;
  }

  send(kind: OpKind, id: number, payload?: Uint8Array | string): void {
    this.out.op(kind, id, payload);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  forget(id: number): void {
    this.calls.delete(id);
  }

  private flush(): void {
    this.scheduled = false;
    if (this.out.empty || this.exited) return;
    const { buffer, length } = this.out.take();
    this.worker.postMessage({ t: "batch", buffer, length } satisfies Control, [buffer]);
  }

  private received(m: Control): void {
    if (m.t === "log") {
      logFromThread(this.logger, m);
      return;
    }
    if (m.t === "closed") {
      this.closed?.();
      return;
    }
    if (m.t !== "batch") return;
    this.reading = new BatchReader(m.buffer, m.length);
    this.readSome();
  }

  /**
   * Reads the batch for at most SLICE_MS a turn: a batch holds what the thread took from the whole fleet
   * while the last one was read, and read in one go it would hold up every other call on this loop.
   * Once it is read, the thread may send what it gathered meanwhile (one batch at a time: that is the
   * back-pressure between the threads).
   */
  private readSome(): void {
    const reading = this.reading;
    if (!reading || this.exited) return;
    const until = performance.now() + SLICE_MS;
    reading.read(this.operation, () => performance.now() < until);
    if (!reading.done) {
      setImmediate(() => this.readSome());
      return;
    }
    this.reading = undefined;
    if (!this.exited) this.worker.postMessage({ t: "ack" } satisfies Control);
  }

  private readonly operation = (kind: OpKind, id: number, payload: Buffer): void => {
    if (this.exited) return;
    if (kind === Op.Open) {
      const info = JSON.parse(payload.toString()) as OpenInfo;
      const handler = this.runner._retrieveHandler(info.path);
      if (!handler) {
        const status: StatusInfo = {
          code: grpc.status.UNIMPLEMENTED,
          details: `no handler for ${info.path}`,
          headers: null,
        };
        this.send(Op.Status, id, JSON.stringify(status));
        return;
      }
      const call = new RemoteCall(this, id, handler, info);
      this.calls.set(id, call);
      this.runner._runHandlerForCall(call, handler);
      return;
    }
    const call = this.calls.get(id);
    if (!call) return;
    if (kind === Op.Message) call.message(payload);
    else if (kind === Op.HalfClose) call.halfClose();
    else if (kind === Op.Cancel) call.cancel();
    else if (kind === Op.Written) call.written();
  };

  private gone(): void {
    this.exited = true;
    this.reading = undefined;
    for (const call of [...this.calls.values()]) call.cancel();
    this.closed?.();
  }
}

/** How long one turn of the main loop reads the thread's batch before it lets other work run. */
const SLICE_MS = 10;

/** Unread bytes of a call past which the thread stops reading it. */
const PAUSE_BYTES = 64 * 1024;

const HALF_CLOSE = Symbol("half-close");

/**
 * A call taken by the listener's thread, in the shape grpc-js's handlers drive
 * (`ServerInterceptingCallInterface`): messages are deserialized and answers serialized here with the
 * method's own functions, as grpc-js does for a call on its own listener.
 */
class RemoteCall implements ServerInterceptingCallInterface {
  private listener: InterceptingServerListener | undefined;
  /**
   * Messages not yet read: a view into the thread's batch while the batch is being read, then a latin1
   * string (in V8's heap, not pinning the batch's buffer).
   */
  private readonly queue: (Buffer | string | typeof HALF_CLOSE)[] = [];
  /** The bytes of the messages in `queue`. */
  private queuedBytes = 0;
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
    private readonly open: OpenInfo,
  ) {
    this.metadata = grpc.Metadata.fromHttp2Headers(open.headers);
  }

  start(listener: InterceptingServerListener): void {
    this.listener = listener;
    listener.onReceiveMetadata(this.metadata);
  }

  sendMetadata(metadata: grpc.Metadata): void {
    if (this.ended) return;
    this.link.send(Op.Metadata, this.id, JSON.stringify(metadata.toHttp2Headers() as Headers));
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.ended || this.cancelled) return;
    let bytes: Buffer;
    try {
      bytes = this.handler.serialize(message);
    } catch (err) {
      this.internalError("serializing response", err);
      return;
    }
    this.writeCallbacks.push(callback);
    this.link.send(Op.Write, this.id, bytes);
  }

  /** Ends the call as grpc-js does when a message cannot be (de)serialized. */
  private internalError(doing: string, err: unknown): void {
    this.sendStatus({ code: grpc.status.INTERNAL, details: `Error ${doing}: ${(err as Error).message}` });
  }

  sendStatus(status: PartialStatus): void {
    if (this.ended) return;
    this.ended = true;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.link.forget(this.id);
    if (!this.cancelled) {
      const info: StatusInfo = {
        code: status.code,
        details: status.details,
        headers: status.metadata ? (status.metadata.toHttp2Headers() as Headers) : null,
      };
      this.link.send(Op.Status, this.id, JSON.stringify(info));
    }
    // As grpc-js does once a call has its status: the handler's stream is told the call is over
    // (cancelled, then destroyed), so that whatever waits on it lets go.
    this.notifyCancel();
  }

  startRead(): void {
    if (this.ended || this.cancelled) return;
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
    // grpc-js's peer is "<address>:<port>", or "unknown".
    const at = this.open.peer.lastIndexOf(":");
    const port = Number(this.open.peer.slice(at + 1));
    if (at < 0 || !Number.isInteger(port)) return {} as ConnectionInfo;
    return { remoteAddress: this.open.peer.slice(0, at), remotePort: port } as ConnectionInfo;
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface["getMetricsRecorder"]> {
    return NO_METRICS;
  }

  /** `data` is a view into the thread's batch, valid while the batch is being read. */
  message(data: Buffer): void {
    if (this.ended || this.cancelled) return;
    this.queue.push(data);
    this.queuedBytes += data.length;
    this.deliver();
    // Still waiting after this turn's reads (it is the last in the queue): copied out of the batch.
    const last = this.queue.length - 1;
    if (last >= 0 && this.queue[last] === data) this.queue[last] = data.toString("latin1");
  }

  halfClose(): void {
    if (this.ended || this.cancelled) return;
    this.queue.push(HALF_CLOSE);
    this.deliver();
  }

  written(): void {
    this.writeCallbacks.shift()?.();
  }

  /** The call is gone on the thread's side (the client cancelled, or its connection ended). */
  cancel(): void {
    if (this.cancelled) return;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.link.forget(this.id);
    this.notifyCancel();
  }

  private notifyCancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    process.nextTick(() => this.listener?.onCancel());
  }

  private deliver(): void {
    while (this.readPending && this.listener && this.queue.length > 0 && !this.cancelled && !this.ended) {
      this.readPending = false;
      const next = this.queue.shift()!;
      if (next === HALF_CLOSE) {
        this.listener.onReceiveHalfClose();
        continue;
      }
      this.queuedBytes -= next.length;
      let message: unknown;
      try {
        // From a copy, not the batch: bytes fields are views into what they are decoded from, and a
        // handler may keep them (an exec session's output waiting for a slow CLI) far longer than the batch.
        message = this.handler.deserialize(
          typeof next === "string" ? Buffer.from(next, "latin1") : Buffer.from(next),
        );
      } catch (err) {
        this.internalError("deserializing request", err);
        return;
      }
      this.listener.onReceiveMessage(message);
    }
    // Enough waits unread: the rest stays with the client (HTTP/2's window) until the call reads again.
    // Less than that keeps a call that reads steadily from being paused between two of its messages
    // in one batch (grpc-js asks for the next message a tick after the last).
    const full = this.queuedBytes >= PAUSE_BYTES && !this.readPending;
    // A server stream's one request is never paused for: there is nothing more to hold back.
    if (full && !this.paused && this.handler.type !== "serverStream") {
      this.paused = true;
      this.link.send(Op.Pause, this.id);
    } else if (!full && this.paused) {
      this.paused = false;
      this.link.send(Op.Resume, this.id);
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

/** A line of grpc-js's log in the thread, into the server's log (tokens scrubbed, as for its own). */
function logFromThread(logger: ServerLogger, m: Extract<Control, { t: "log" }>): void {
  logger[m.level]({ source: "grpc", listener: "-listen-entrypoint" }, scrubTokens(m.text));
}

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
