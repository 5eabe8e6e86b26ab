import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from "node:http2";
import { NO_HTTP2, STATUS } from "./errors.js";

/**
 * A gRPC client for streaming calls on node:http2 (the gRPC over HTTP/2
 * protocol: length-prefixed messages, status in the trailers), for the
 * entrypoint, which must stay small beside every app (ARCHITECTURE "The
 * entrypoint's transport"). One HTTP/2 connection carries every call; a
 * call made after it broke opens a new one. Keepalive pings find a server
 * that stopped answering.
 */

/** What a failed call reports: the shape `fromServiceError` reads (as a grpc-js ServiceError). */
export interface CallStatus {
  readonly code: number;
  readonly details: string;
  readonly metadata: { get(key: string): string[] };
}

export interface H2Target {
  /** host:port, or [v6]:port. */
  readonly address: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
}

export interface H2Options {
  /** Largest message accepted from the server. */
  readonly maxMessageBytes: number;
  /** How long a connection may take to be established. */
  readonly connectTimeoutMs?: number;
  /** A ping this often while calls are open… */
  readonly keepaliveMs?: number;
  /** …must be answered within this. */
  readonly keepaliveTimeoutMs?: number;
}

export interface H2CallEvents {
  onMessage(message: Buffer): void;
  onDrain(): void;
  /** Once: status 0 for a call that ended well. */
  onEnd(status: CallStatus): void;
}

export interface H2Call {
  /**
   * Sends one message; false when the caller should wait for onDrain. `done` runs once the message
   * has left this side (or the call is over).
   */
  write(message: Uint8Array, done?: () => void): boolean;
  /** Stops reading the server's messages (HTTP/2 flow control then holds the server back)… */
  pause(): void;
  /** …and reads them again. */
  resume(): void;
  /** Half-closes: no more messages from this side. */
  end(): void;
  /** Abandons the call (the server sees it cancelled); onEnd gets CANCELLED. */
  cancel(): void;
  readonly ended: boolean;
}

function metadataOf(headers: IncomingHttpHeaders | undefined): CallStatus["metadata"] {
  return {
    get: (key) => {
      const v = headers?.[key];
      if (v === undefined) return [];
      return Array.isArray(v) ? v : [String(v)];
    },
  };
}

function status(code: number, details: string, headers?: IncomingHttpHeaders): CallStatus {
  return { code, details, metadata: metadataOf(headers) };
}

/** grpc-message is percent-encoded UTF-8. */
function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const text = Array.isArray(raw) ? raw.join(",") : (raw ?? "");
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Sessions whose server sent its HTTP/2 SETTINGS: it speaks HTTP/2 (and TLS, when asked for). */
const spokeHttp2 = new WeakSet<ClientHttp2Session>();

/** An HTTP status without a gRPC status, mapped as the gRPC spec says. */
function fromHttpStatus(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return STATUS.INTERNAL;
    case 401:
      return STATUS.UNAUTHENTICATED;
    case 403:
      return STATUS.PERMISSION_DENIED;
    case 404:
      return STATUS.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return STATUS.UNAVAILABLE;
    default:
      return STATUS.UNKNOWN;
  }
}

/** A call that ended before it began: writes are dropped, their `done` still runs. */
function closedCall(): H2Call {
  return {
    write: (_message, done) => {
      if (done) queueMicrotask(done);
      return true;
    },
    pause: () => {},
    resume: () => {},
    end: () => {},
    cancel: () => {},
    ended: true,
  };
}

export class H2Channel {
  private session: ClientHttp2Session | undefined;
  private keepalive: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly authority: string;

  constructor(
    private readonly target: H2Target,
    /** Sent with every call (identity headers, authorization). */
    private readonly headers: Readonly<Record<string, string>>,
    private readonly options: H2Options,
  ) {
    this.authority = `${target.tls ? "https" : "http"}://${target.address}`;
  }

  private connection(): ClientHttp2Session {
    const live = this.session;
    if (live && !live.closed && !live.destroyed) return live;
    const session = connect(
      this.authority,
      this.target.tls
        ? {
            ALPNProtocols: ["h2"],
            ...(this.target.tlsSkipVerify
              ? { rejectUnauthorized: false, checkServerIdentity: () => undefined }
              : {}),
          }
        : {},
    );
    this.session = session;
    // Failures reach each call through its stream; this keeps one from being an unhandled 'error'.
    session.on("error", () => {});
    const connectTimer = setTimeout(() => {
      const err = Object.assign(new Error("ETIMEDOUT: no HTTP/2 connection within the connect timeout"), {
        code: "ETIMEDOUT",
      });
      session.destroy(err);
    }, this.options.connectTimeoutMs ?? 20_000);
    // Connected means the server spoke HTTP/2 (its SETTINGS arrived), not just that TCP accepted.
    session.once("remoteSettings", () => {
      clearTimeout(connectTimer);
      spokeHttp2.add(session);
    });
    session.once("close", () => {
      clearTimeout(connectTimer);
      if (this.session === session) {
        this.session = undefined;
        this.stopKeepalive();
      }
    });
    this.startKeepalive();
    return session;
  }

  private startKeepalive(): void {
    this.stopKeepalive();
    const every = this.options.keepaliveMs ?? 30_000;
    if (every <= 0) return;
    this.keepalive = setInterval(() => {
      const session = this.session;
      if (!session || session.destroyed || !session.socket) return;
      let answered = false;
      const timer = setTimeout(() => {
        if (!answered)
          session.destroy(
            Object.assign(new Error("keepalive ping unanswered: the server stopped responding"), {
              code: "ETIMEDOUT",
            }),
          );
      }, this.options.keepaliveTimeoutMs ?? 20_000);
      timer.unref();
      session.ping((err) => {
        answered = true;
        clearTimeout(timer);
        if (err && !session.destroyed) session.destroy(err);
      });
    }, every);
    this.keepalive.unref();
  }

  private stopKeepalive(): void {
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  /** Starts a call of `path` ("/package.Service/Method"). */
  call(path: string, events: H2CallEvents): H2Call {
    let ended = false;
    let cancelled = false;
    const finish = (s: CallStatus) => {
      if (ended) return;
      ended = true;
      events.onEnd(s);
    };
    if (this.closed) {
      queueMicrotask(() => finish(status(STATUS.CANCELLED, "the channel is closed")));
      return closedCall();
    }
    let stream: ClientHttp2Stream;
    let session: ClientHttp2Session;
    try {
      session = this.connection();
      stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: "POST",
        [constants.HTTP2_HEADER_PATH]: path,
        [constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
        [constants.HTTP2_HEADER_TE]: "trailers",
        ...this.headers,
      });
    } catch (err) {
      queueMicrotask(() => finish(status(STATUS.UNAVAILABLE, (err as Error).message)));
      return closedCall();
    }
    let responseHeaders: (IncomingHttpHeaders & IncomingHttpStatusHeader) | undefined;
    let trailers: IncomingHttpHeaders | undefined;
    stream.on("response", (headers) => {
      responseHeaders = headers;
      const http = Number(headers[constants.HTTP2_HEADER_STATUS]);
      const type = String(headers[constants.HTTP2_HEADER_CONTENT_TYPE] ?? "");
      if (headers["grpc-status"] !== undefined) {
        // Trailers-only: the call is over before any message.
        trailers = headers;
      } else if (http !== 200 || !type.startsWith("application/grpc")) {
        finish(
          status(
            http !== 200 ? fromHttpStatus(http) : STATUS.UNKNOWN,
            `the server answered HTTP ${http}${type ? ` (${type})` : ""}, not gRPC`,
          ),
        );
        stream.close(constants.NGHTTP2_CANCEL);
      }
    });
    // Set while the caller has paused reading; see the trailers below.
    let paused = false;
    stream.on("trailers", (headers) => {
      trailers = headers;
      // The server has ended the call while this side is not reading: what it sent is not wanted any
      // more (a tunnel whose client went away), and waiting for it to be read would hold the call open.
      if (paused && !cancelled && finishWithTrailers() && !stream.closed && !stream.destroyed)
        stream.close(constants.NGHTTP2_NO_ERROR);
    });

    // Length-prefixed messages: 1 byte compressed flag, 4 bytes big-endian length, the message.
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const max = this.options.maxMessageBytes;
    stream.on("data", (data: Buffer) => {
      if (ended) return;
      pending.push(data);
      pendingBytes += data.length;
      while (pendingBytes >= 5) {
        const head = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
        if (head[0] !== 0) {
          finish(
            status(
              STATUS.INTERNAL,
              "the server sent a compressed message, which this client did not ask for",
            ),
          );
          stream.close(constants.NGHTTP2_CANCEL);
          return;
        }
        const length = head.readUInt32BE(1);
        if (length > max) {
          finish(
            status(STATUS.RESOURCE_EXHAUSTED, `the server sent a message of ${length} bytes (limit ${max})`),
          );
          stream.close(constants.NGHTTP2_CANCEL);
          return;
        }
        if (head.length < 5 + length) {
          pending = [head];
          return;
        }
        const message = head.subarray(5, 5 + length);
        const rest = head.subarray(5 + length);
        pending = rest.length > 0 ? [rest] : [];
        pendingBytes = rest.length;
        events.onMessage(message);
        if (ended) return;
      }
    });
    stream.on("drain", () => {
      if (!ended) events.onDrain();
    });
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (cancelled) finish(status(STATUS.CANCELLED, "cancelled"));
      // The details keep the errno (ECONNREFUSED…) for the message the user sees.
      else finish(status(STATUS.UNAVAILABLE, `${err.code ? `${err.code}: ` : ""}${err.message}`));
    });
    const finishWithTrailers = (): boolean => {
      if (trailers?.["grpc-status"] === undefined) return false;
      const code = Number(trailers["grpc-status"]);
      finish(
        status(
          Number.isInteger(code) ? code : STATUS.UNKNOWN,
          decodeGrpcMessage(trailers["grpc-message"]),
          trailers,
        ),
      );
      return true;
    };
    // The server's side ended and every message was read: with its status the call is over, even while
    // this side could still write (a bidi call the server finished), and the stream is let go.
    stream.on("end", () => {
      if (cancelled || !finishWithTrailers()) return;
      // Our side ends too (END_STREAM), and the stream closes on its own. Not RST_STREAM: a peer counts
      // resets and drops a connection that sends many (Node's HTTP/2 allows about 1000), and a URL
      // service request is one call.
      if (!stream.writableEnded && !stream.destroyed) stream.end();
    });
    stream.on("close", () => {
      if (cancelled) return finish(status(STATUS.CANCELLED, "cancelled"));
      if (finishWithTrailers()) return;
      if (pendingBytes > 0)
        return finish(status(STATUS.INTERNAL, "the server's stream ended inside a message"));
      const rst = stream.rstCode;
      finish(
        status(
          STATUS.UNAVAILABLE,
          responseHeaders
            ? `the stream closed without a status (HTTP/2 code ${rst ?? 0})`
            : spokeHttp2.has(session)
              ? `the connection closed before the server answered (HTTP/2 code ${rst ?? 0})`
              : `${NO_HTTP2} (HTTP/2 code ${rst ?? 0})`,
        ),
      );
    });

    const call: H2Call = {
      write: (message, done) => {
        if (ended || stream.writableEnded || stream.destroyed) {
          if (done) queueMicrotask(done);
          return true;
        }
        const prefix = Buffer.allocUnsafe(5);
        prefix[0] = 0;
        prefix.writeUInt32BE(message.length, 1);
        stream.write(prefix);
        return done ? stream.write(message, () => done()) : stream.write(message);
      },
      pause: () => {
        paused = true;
        stream.pause();
      },
      resume: () => {
        paused = false;
        stream.resume();
      },
      end: () => {
        if (!stream.writableEnded && !stream.destroyed) stream.end();
      },
      cancel: () => {
        if (ended) return;
        cancelled = true;
        stream.close(constants.NGHTTP2_CANCEL);
      },
      get ended() {
        return ended;
      },
    };
    return call;
  }

  /** Closes the connection and every call on it; later calls fail as cancelled. */
  close(): void {
    this.closed = true;
    this.stopKeepalive();
    this.session?.destroy();
    this.session = undefined;
  }
}
