import type { EntrypointConfigRequest } from "../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest } from "../gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse__Output } from "../gen/waypoint/v1/EntrypointExecResponse.js";
import type { EntrypointLogBatch } from "../gen/waypoint/v1/EntrypointLogBatch.js";
import type { EntrypointTunnelRequest } from "../gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { EntrypointTunnelResponse__Output } from "../gen/waypoint/v1/EntrypointTunnelResponse.js";
import { AppError } from "../protocol/errors.js";
import { type ClientIdentity, encodeClientHeaders, HEADERS } from "../protocol/headers.js";
import {
  decodeConfigResponse,
  decodeExecResponse,
  decodeLogsResponse,
  decodeTunnelResponse,
  encodeConfigRequest,
  encodeExecRequest,
  encodeLogBatch,
  encodeTunnelRequest,
} from "./entrypoint-wire.js";
import { fromServiceError, STATUS } from "./errors.js";
import { type CallStatus, type H2Call, H2Channel } from "./grpc-h2.js";
import type { ConnectionSettings } from "./settings.js";

/** Largest message the entrypoint accepts (the server's own limit is 4 MiB). */
const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

/** A call in progress that the caller may abandon. */
export interface EntrypointCall {
  cancel(): void;
}

/** The log stream: write batches with backpressure; `end` finishes the call cleanly. */
export interface LogStream extends EntrypointCall {
  /** False when the caller should wait for `onDrain` before writing again. */
  write(batch: EntrypointLogBatch): boolean;
  end(): void;
}

/** One exec session's stream from the entrypoint's side. */
export interface ExecStream extends EntrypointCall {
  write(req: EntrypointExecRequest): boolean;
  end(): void;
}

/** One URL-service request's stream from the entrypoint's side. */
export interface TunnelStream extends EntrypointCall {
  /** False when the caller should wait for onDrain; `done` runs once the message has left. */
  write(req: EntrypointTunnelRequest, done?: () => void): boolean;
  /** Stops taking the server's messages until `resume` (the server is held back meanwhile). */
  pause(): void;
  resume(): void;
  end(): void;
}

/** The connection's own timing; the defaults suit production. */
export interface EntrypointChannelOptions {
  /** How long establishing a connection may take (default 20 s). */
  readonly connectTimeoutMs?: number;
  /** Keepalive ping interval while calls are open (default 30 s; 0 turns it off)… */
  readonly keepaliveMs?: number;
  /** …and how long a ping may go unanswered before the connection is dropped (default 20 s). */
  readonly keepaliveTimeoutMs?: number;
}

/**
 * The Entrypoint service only (DESIGN §9): the config stream, the log client
 * stream and exec sessions, with the same identity headers, token and TLS as
 * `Connection`, on a small gRPC client of its own (src/client/grpc-h2.ts)
 * instead of grpc-js, which keeps the entrypoint's memory low. Every failure
 * reaches the callbacks as an AppError; a call the caller cancelled ends
 * without one.
 */
export class EntrypointConnection {
  readonly address: string;
  private readonly tls: boolean;
  private readonly channel: H2Channel;

  constructor(
    readonly settings: ConnectionSettings,
    readonly identity: ClientIdentity,
    options: EntrypointChannelOptions = {},
  ) {
    this.address = settings.address;
    this.tls = settings.tls;
    const headers = encodeClientHeaders(identity);
    if (settings.token) headers[HEADERS.authorization] = `Bearer ${settings.token}`;
    this.channel = new H2Channel(settings, headers, {
      maxMessageBytes: MAX_RECEIVE_MESSAGE_BYTES,
      ...options,
    });
  }

  private error(s: CallStatus): AppError {
    return fromServiceError(s, this.address, undefined, this.tls);
  }

  /**
   * Registers the instance and follows its configuration and exec notices.
   * `onEnd` gets undefined when the server ended the stream cleanly.
   */
  config(
    req: EntrypointConfigRequest,
    onMessage: (m: EntrypointConfigResponse__Output) => void,
    onEnd: (err?: AppError) => void,
  ): EntrypointCall {
    const call = this.open("EntrypointConfig", decodeConfigResponse, onMessage, () => {}, onEnd);
    call.write(encodeConfigRequest(req));
    call.end();
    return { cancel: call.cancel };
  }

  /** Opens the log stream; `onEnd` runs once when the call is over (undefined: it ended cleanly). */
  logs(onDrain: () => void, onEnd: (err?: AppError) => void): LogStream {
    const call = this.open("EntrypointLogs", decodeLogsResponse, () => {}, onDrain, onEnd);
    return {
      write: (batch: EntrypointLogBatch) => (call.ended ? true : call.write(encodeLogBatch(batch))),
      end: call.end,
      cancel: call.cancel,
    };
  }

  /** Opens one exec session. */
  exec(
    onMessage: (m: EntrypointExecResponse__Output) => void,
    onDrain: () => void,
    onEnd: (err?: AppError) => void,
  ): ExecStream {
    const call = this.open("EntrypointExec", decodeExecResponse, onMessage, onDrain, onEnd);
    return {
      write: (req: EntrypointExecRequest) => (call.ended ? true : call.write(encodeExecRequest(req))),
      end: call.end,
      cancel: call.cancel,
    };
  }

  /** Opens one tunnel for a request the URL service took. */
  tunnel(
    onMessage: (m: EntrypointTunnelResponse__Output) => void,
    onDrain: () => void,
    onEnd: (err?: AppError) => void,
  ): TunnelStream {
    const call = this.open("EntrypointTunnel", decodeTunnelResponse, onMessage, onDrain, onEnd);
    return {
      write: (req: EntrypointTunnelRequest, done?: () => void) => {
        if (!call.ended) return call.write(encodeTunnelRequest(req), done);
        if (done) queueMicrotask(done);
        return true;
      },
      pause: call.pause,
      resume: call.resume,
      end: call.end,
      cancel: call.cancel,
    };
  }

  /**
   * One call of the Entrypoint service. A message that does not decode ends
   * the call with INTERNAL; an exception thrown by `onMessage` is the
   * caller's and is not caught here.
   */
  private open<T>(
    method: string,
    decode: (b: Buffer) => T,
    onMessage: (m: T) => void,
    onDrain: () => void,
    onEnd: (err?: AppError) => void,
  ): H2Call {
    let call: H2Call | undefined;
    let failed: AppError | undefined;
    let cancelled = false;
    call = this.channel.call(`/waypoint.v1.Entrypoint/${method}`, {
      onMessage: (bytes) => {
        if (failed) return;
        let m: T;
        try {
          m = decode(bytes);
        } catch (err) {
          failed = new AppError(
            "INTERNAL",
            `the server at ${this.address} sent a ${method} message this entrypoint cannot read: ${(err as Error).message}`,
          );
          call?.cancel();
          return;
        }
        onMessage(m);
      },
      onDrain,
      onEnd: (s) => {
        if (failed) onEnd(failed);
        else if (s.code === STATUS.OK || (cancelled && s.code === STATUS.CANCELLED)) onEnd();
        else onEnd(this.error(s));
      },
    });
    const inner = call;
    return {
      write: inner.write,
      pause: inner.pause,
      resume: inner.resume,
      end: inner.end,
      cancel: () => {
        cancelled = true;
        inner.cancel();
      },
      get ended() {
        return inner.ended;
      },
    };
  }

  close(): void {
    this.channel.close();
  }
}
