import type * as grpc from "@grpc/grpc-js";
import { AppError } from "../protocol/errors.js";
import { type ClientIdentity, decodeBearer, decodeClientHeaders } from "../protocol/headers.js";
import { negotiate } from "../protocol/negotiate.js";
import type { VersionInfo } from "../protocol/version-info.js";
import type { TokenCache } from "./auth.js";
import { type AuthThrottle, grpcPeerAddress } from "./auth-throttle.js";
import { toStatus } from "./grpc-errors.js";
import type { EntrypointFacts, InventoryRecorder } from "./inventory-recorder.js";
import type { ServerLogger } from "./logger.js";
import { type RpcRule, ruleFor } from "./rpc-table.js";
import type { TokenRecord } from "./store/store.js";
import type { StreamLimits } from "./stream-limits.js";

/** What a handler knows about its caller once the guard let the call through. */
export interface CallContext {
  readonly who: ClientIdentity;
  /** Absent only for "bootstrap" calls. */
  readonly token?: TokenRecord;
  /** The protocol number agreed for the RPC's family. */
  readonly agreed: number;
  /** For entrypoint tokens: the scope the token grants. */
  readonly facts?: EntrypointFacts;
}

type Unary<Req, Res> = (req: Req, ctx: CallContext) => Res | Promise<Res>;
type Stream<Req, Res> = (call: grpc.ServerWritableStream<Req, Res>, ctx: CallContext) => void | Promise<void>;
type Duplex<Req, Res> = (call: grpc.ServerDuplexStream<Req, Res>, ctx: CallContext) => void | Promise<void>;
type ClientStream<Req, Res> = (
  call: grpc.ServerReadableStream<Req, Res>,
  ctx: CallContext,
) => Res | Promise<Res>;

/**
 * The interceptor chain every RPC passes, in this order:
 * 1. the RPC must be in RPC_TABLE;
 * 2. identity headers are decoded (missing/duplicated/malformed → INVALID_ARGUMENT);
 * 3. the protocol family is negotiated (→ FAILED_PRECONDITION; recorded as rejected when the
 *    caller holds a valid token);
 * 4. the token is checked against the table (→ UNAUTHENTICATED / PERMISSION_DENIED), unless the
 *    caller's address is cooling down after too many failed attempts (→ AUTH_THROTTLED, RESOURCE_EXHAUSTED,
 *    before the token is looked at);
 * 5. streaming calls are counted per token and per connection (→ TOO_MANY_STREAMS);
 * 6. api callers are recorded in the inventory (entrypoint handlers record theirs after
 *    validating the registration).
 * Handlers then run, and any error they throw goes through toStatus.
 */
export class Guard {
  /** Open server streams, ended by the server at shutdown. */
  readonly streams = new Set<grpc.ServerWritableStream<unknown, unknown>>();

  constructor(
    private readonly deps: {
      readonly server: VersionInfo;
      readonly tokens: TokenCache;
      readonly recorder: InventoryRecorder;
      readonly logger: ServerLogger;
      readonly throttle: AuthThrottle;
      readonly streamLimits: StreamLimits;
    },
  ) {}

  /** `peer` is grpc-js's "<address>:<port>" of the caller's connection. */
  check(path: string, metadata: grpc.Metadata, peer: string): CallContext {
    const rule = ruleFor(path);
    if (!rule) throw new AppError("INTERNAL", `RPC ${path} is not in the access table`);
    const get = (name: string) => sentValues(metadata, name);
    const who = decodeClientHeaders(get);
    if ((rule.family === "entrypoint") !== (who.kind === "entrypoint")) {
      throw new AppError(
        "INVALID_HEADER",
        `client-kind ${who.kind} cannot call ${path}: only entrypoints use the entrypoint protocol family`,
      );
    }
    const n = negotiate(
      rule.family,
      {
        range: who[rule.family],
        version: who.version,
        label: who.kind === "cli" || who.kind === "ui" ? "client" : who.kind,
      },
      { range: this.deps.server[rule.family], version: this.deps.server.version, label: "server" },
    );
    if (!n.ok) {
      // Everyone gets the message naming both ranges, but only callers holding a valid token are
      // recorded: otherwise anyone who reaches the port could fill the rejected list with made-up ids.
      if (this.holdsValidToken(get)) this.deps.recorder.rejected(who, n.error.message);
      throw n.error;
    }
    const token = this.authorize(rule, path, get, grpcPeerAddress(peer));
    const facts = token?.kind === "entrypoint" ? scopeOf(token) : undefined;
    // Only authenticated callers are recorded (a bootstrap call has no token: anyone could claim any
    // id and version). Entrypoint handlers record theirs once they have checked the deployment and
    // instance it claims (see services/entrypoint-service.ts): a refused entrypoint is never listed.
    if (rule.family === "api" && token) this.deps.recorder.seen(who, facts);
    if (this.deps.logger.isLevelEnabled("debug")) {
      this.deps.logger.debug(
        {
          rpc: path,
          kind: who.kind,
          id: who.id,
          version: who.version,
          tokenId: token?.id,
          emulated: who.emulated,
        },
        "call",
      );
    }
    return { who, agreed: n.agreed, ...(token ? { token } : {}), ...(facts ? { facts } : {}) };
  }

  private holdsValidToken(get: (name: string) => unknown[]): boolean {
    try {
      const secret = decodeBearer(get);
      return secret !== undefined && this.deps.tokens.lookup(secret) !== undefined;
    } catch {
      return false;
    }
  }

  private authorize(
    rule: RpcRule,
    path: string,
    get: (name: string) => unknown[],
    address: string,
  ): TokenRecord | undefined {
    if (rule.access === "bootstrap") return undefined;
    if (get("authorization").length === 0) throw new AppError("UNAUTHENTICATED", `${path} needs a token`);
    // A valid token always passes; an unknown one from an address cooling down is refused uncounted.
    const presented = get("authorization").map(String).join(",");
    let secret: string | undefined;
    try {
      secret = decodeBearer(get);
    } catch (err) {
      this.deps.throttle.check(address);
      this.deps.throttle.failed(address, presented);
      throw err;
    }
    if (secret === undefined) throw new AppError("UNAUTHENTICATED", `${path} needs a token`);
    const token = this.deps.tokens.lookup(secret);
    if (!token) {
      this.deps.throttle.check(address);
      this.deps.throttle.failed(address, presented);
      throw new AppError("UNAUTHENTICATED", "the token is not valid on this server", {
        hint: "It may belong to another server, or have been replaced by a restore: check -server-addr / the context, or get a new token with `waypoint token new`.",
      });
    }
    if (rule.access === "public" || !rule.access.includes(token.kind)) {
      const article = token.kind === "entrypoint" ? "an" : "a";
      throw new AppError("PERMISSION_DENIED", `${article} ${token.kind} token may not call ${path}`);
    }
    return token;
  }

  unary<Req, Res>(handler: Unary<Req, Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => this.answer(call, callback, (ctx) => handler(call.request, ctx), false);
  }

  /**
   * A client-streaming RPC: the same checks as `unary`, made on the metadata before the handler
   * reads a single message, so a refused caller's upload is never consumed. The handler reads
   * `call` and returns the one response; whatever it throws goes through toStatus.
   */
  clientStream<Req, Res>(handler: ClientStream<Req, Res>): grpc.handleClientStreamingCall<Req, Res> {
    return (call, callback) => this.answer(call, callback, (ctx) => handler(call, ctx), call);
  }

  /**
   * Runs the checks, then `respond`, and answers with its result or its error (through toStatus).
   * A client stream (`counted`) holds one of its token's and connection's streams until it ends.
   */
  private answer<Res>(
    call: { getPath(): string; getPeer(): string; metadata: grpc.Metadata },
    callback: grpc.sendUnaryData<Res>,
    respond: (ctx: CallContext) => Res | Promise<Res>,
    counted: false | NodeJS.EventEmitter,
  ): void {
    const path = call.getPath();
    let release = () => {};
    const done: grpc.sendUnaryData<Res> = (err, res) => {
      release();
      callback(err, res);
    };
    let result: Res | Promise<Res>;
    try {
      const rule = ruleFor(path);
      const peer = call.getPeer();
      const ctx = rule?.access === "public" ? publicContext() : this.check(path, call.metadata, peer);
      if (counted) {
        release = this.deps.streamLimits.acquire(perTokenId(path, ctx.token?.id), peer);
        counted.once("cancelled", release);
        counted.once("close", release);
      }
      result = respond(ctx);
    } catch (err) {
      done(toStatus(err, this.deps.logger, path));
      return;
    }
    Promise.resolve(result).then(
      (res) => done(null, res),
      (err: unknown) => done(toStatus(err, this.deps.logger, path)),
    );
  }

  /**
   * A server-streaming RPC. By default the stream is long-lived (WatchState, EntrypointConfig) and
   * listed in `streams`, which shutdown ends; `endAtShutdown: false` is for finite streams that must
   * not be cut short with status OK (TakeSnapshot): shutdown lets them finish within its grace period.
   */
  serverStream<Req, Res>(
    handler: Stream<Req, Res>,
    opts: { readonly endAtShutdown?: boolean } = {},
  ): grpc.handleServerStreamingCall<Req, Res> {
    return (call) => this.stream(call, opts.endAtShutdown ?? true, (ctx) => handler(call, ctx));
  }

  /**
   * A bidirectional stream (Exec, EntrypointExec): the same checks, made on the metadata before the
   * handler reads a message; listed in `streams`, which shutdown ends.
   */
  bidiStream<Req, Res>(handler: Duplex<Req, Res>): grpc.handleBidiStreamingCall<Req, Res> {
    return (call) => this.stream(call, true, (ctx) => handler(call, ctx));
  }

  private stream(
    call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>,
    endAtShutdown: boolean,
    run: (ctx: CallContext) => void | Promise<void>,
  ): void {
    const path = call.getPath();
    const stream = call as grpc.ServerWritableStream<unknown, unknown>;
    let release = () => {};
    const fail = (err: unknown) => {
      release();
      this.streams.delete(stream);
      // grpc-js turns an "error" event on a server stream into the call's final status.
      if (!call.cancelled && !call.writableEnded) call.emit("error", toStatus(err, this.deps.logger, path));
    };
    try {
      const peer = call.getPeer();
      const ctx = this.check(path, call.metadata, peer);
      release = this.deps.streamLimits.acquire(perTokenId(path, ctx.token?.id), peer);
      if (endAtShutdown) this.streams.add(stream);
      const forget = () => {
        release();
        this.streams.delete(stream);
      };
      call.on("cancelled", forget);
      call.on("finish", forget);
      call.on("close", forget);
      Promise.resolve(run(ctx)).catch(fail);
    } catch (err) {
      fail(err);
    }
  }
}

/**
 * Every value the caller sent for header `name`. Node's HTTP/2 layer joins a
 * header sent more than once into one "a, b" string before grpc-js sees it,
 * so without splitting it again a duplicated header looks like one value
 * (and `client-api-protocol: 1` sent twice arrives as "1, 1", a valid range).
 * No valid identity header value or bearer token contains ", ".
 */
function sentValues(metadata: grpc.Metadata, name: string): unknown[] {
  return metadata.get(name).flatMap((v): unknown[] => (typeof v === "string" ? v.split(", ") : [v]));
}

function scopeOf(token: TokenRecord): EntrypointFacts {
  return {
    ...(token.app ? { app: token.app } : {}),
    ...(token.deployment ? { deployment: token.deployment } : {}),
  };
}

/** GetVersionInfo runs without identity; its handler ignores the context. */
function publicContext(): CallContext {
  return PUBLIC_CONTEXT;
}

const PUBLIC_CONTEXT = Object.freeze({}) as CallContext;

/**
 * The token a streaming call counts against. URL-service tunnels count per connection only: anyone on
 * the network can cause them (each is a request to an app), the entrypoint caps them itself
 * (WAYPOINT_CEB_URL_MAX_REQUESTS), and counting them per deployment token would let public traffic to
 * some instances refuse their siblings' config and log streams.
 */
function perTokenId(path: string, tokenId: string | undefined): string | undefined {
  return path.endsWith("/EntrypointTunnel") ? undefined : tokenId;
}
