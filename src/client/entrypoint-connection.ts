import type * as grpc from "@grpc/grpc-js";
import { loadWaypointProto } from "../gen/load.js";
import type { EntrypointClient } from "../gen/waypoint/v1/Entrypoint.js";
import type { EntrypointConfigRequest } from "../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest } from "../gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse__Output } from "../gen/waypoint/v1/EntrypointExecResponse.js";
import type { EntrypointLogBatch } from "../gen/waypoint/v1/EntrypointLogBatch.js";
import type { AppError } from "../protocol/errors.js";
import { type ClientIdentity, encodeClientHeaders } from "../protocol/headers.js";
import { fromServiceError } from "./errors.js";
import { callMetadata, channelCredentials, MAX_RECEIVE_MESSAGE_BYTES } from "./grpc-call.js";
import type { ConnectionSettings } from "./settings.js";

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

/** Reconnection pacing of the channel itself (grpc-js's own subchannel backoff). */
export interface EntrypointChannelOptions {
  readonly reconnectBaseMs?: number;
  readonly reconnectMaxMs?: number;
}

/**
 * The Entrypoint service only (DESIGN §9): the config stream, the log client
 * stream and exec sessions, with the same identity headers, token and TLS as
 * `Connection`. Every failure reaches the callbacks as an AppError; a call the
 * caller cancelled ends without one.
 */
export class EntrypointConnection {
  readonly address: string;
  private readonly client: EntrypointClient;
  private readonly headers: Record<string, string>;

  constructor(
    readonly settings: ConnectionSettings,
    readonly identity: ClientIdentity,
    options: EntrypointChannelOptions = {},
  ) {
    this.address = settings.address;
    const { grpc: proto } = loadWaypointProto();
    this.client = new proto.waypoint.v1.Entrypoint(settings.address, channelCredentials(settings), {
      "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
      ...(options.reconnectBaseMs ? { "grpc.initial_reconnect_backoff_ms": options.reconnectBaseMs } : {}),
      ...(options.reconnectMaxMs ? { "grpc.max_reconnect_backoff_ms": options.reconnectMaxMs } : {}),
    });
    this.headers = encodeClientHeaders(identity);
  }

  private metadata(): grpc.Metadata {
    return callMetadata(this.headers, this.settings.token);
  }

  private error(err: unknown): AppError {
    return fromServiceError(err, this.address);
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
    const call = this.client.EntrypointConfig(req, this.metadata());
    return this.follow(call, onMessage, onEnd);
  }

  /** Opens the log stream; `onEnd` runs once when the call is over (undefined: it ended cleanly). */
  logs(onDrain: () => void, onEnd: (err?: AppError) => void): LogStream {
    let cancelled = false;
    let ended = false;
    const end = (err?: AppError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    const call = this.client.EntrypointLogs(this.metadata(), (err) => {
      if (err && !(cancelled && isCancelled(err))) end(this.error(err));
      else end();
    });
    call.on("drain", onDrain);
    // A failed write also reaches the callback; this keeps it from being an unhandled 'error'.
    call.on("error", () => {});
    return {
      write: (batch) => (ended || call.writableEnded ? true : call.write(batch)),
      end: () => {
        if (!call.writableEnded) call.end();
      },
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  /** Opens one exec session. */
  exec(
    onMessage: (m: EntrypointExecResponse__Output) => void,
    onDrain: () => void,
    onEnd: (err?: AppError) => void,
  ): ExecStream {
    const call = this.client.EntrypointExec(this.metadata());
    call.on("drain", onDrain);
    const handle = this.follow(call, onMessage, onEnd);
    return {
      write: (req) => (call.writableEnded || call.destroyed ? true : call.write(req)),
      end: () => {
        if (!call.writableEnded) call.end();
      },
      cancel: handle.cancel,
    };
  }

  private follow<T>(
    call: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<never, T>,
    onData: (v: T) => void,
    onEnd: (err?: AppError) => void,
  ): EntrypointCall {
    let cancelled = false;
    let ended = false;
    const end = (err?: AppError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on("data", onData);
    call.on("error", (err: grpc.ServiceError) => {
      if (cancelled && isCancelled(err)) end();
      else end(this.error(err));
    });
    call.on("end", () => end());
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.client.close();
  }
}

function isCancelled(err: { code?: number }): boolean {
  // grpc status CANCELLED, without importing grpc-js's values at run time for one number.
  return err.code === 1;
}
