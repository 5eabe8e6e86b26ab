import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { AppError, type GrpcStatusName } from "../protocol/errors.js";
import { decodeBearer } from "../protocol/headers.js";
import type { TokenKind } from "../protocol/tokens.js";
import type { VersionInfo } from "../protocol/version-info.js";
import type { TokenCache } from "./auth.js";
import type { AuthThrottle } from "./auth-throttle.js";
import { httpLimits } from "./http-limits.js";
import type { ServerLogger } from "./logger.js";
import type { SnapshotMeta } from "./snapshot/types.js";
import type { ArchiveSink, SnapshotControl } from "./snapshot-control.js";
import type { TokenRecord } from "./store/store.js";

const ENDPOINTS = ["/healthz", "/v1/snapshot"];

/** Who may use /v1/snapshot (DESIGN §7–§8): the same rule as the snapshot RPCs in RPC_TABLE. */
const SNAPSHOT_ACCESS: readonly TokenKind[] = ["management"];

/** The header carrying the state index a snapshot holds (GET) or the server serves after a restore (PUT). */
export const INDEX_HEADER = "x-waypoint-index";

const HTTP_STATUS: Record<GrpcStatusName, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  // Only STORAGE_FULL has this status: 507 Insufficient Storage (RFC 4918), which says it to HTTP clients.
  RESOURCE_EXHAUSTED: 507,
  INTERNAL: 500,
  UNAVAILABLE: 503,
};

export interface HttpDeps {
  readonly versionInfo: VersionInfo;
  readonly stateIndex: () => number;
  readonly draining: () => boolean;
  /** The guard's cache: HTTP and gRPC accept exactly the same tokens. */
  readonly tokens: TokenCache;
  /** The guard's throttle of failed authentications: one budget per address for both listeners. */
  readonly throttle: AuthThrottle;
  readonly snapshots: SnapshotControl;
  readonly logger: ServerLogger;
  /** With -tls-cert-file and -tls-key-file: the listener serves HTTPS with the gRPC listener's certificate. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
  /** The request head's time and size limits (http-limits.ts); the body has none. */
  readonly headersTimeoutMs: number;
  readonly maxHeaderBytes: number;
}

/**
 * The HTTP listener (HTTPS when the server has a TLS certificate):
 * - `/healthz` for load balancers and supervisors: 200 while the server serves, 503 once shutdown
 *   has begun;
 * - `/v1/snapshot` (management token as `Authorization: Bearer …`): GET streams a snapshot archive
 *   with its state index in X-Waypoint-Index; PUT restores the request body live, or stages it with
 *   `?stage`. Errors are JSON `{"error", "code", "hint"}`.
 */
export function createHttpServer(deps: HttpDeps): Server {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    // A malformed request target must be a 400, never an exception that ends the process.
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      sendJson(res, 400, { error: "malformed request target" });
      return;
    }
    if (url.pathname === "/healthz") {
      health(req, res, deps);
      return;
    }
    if (url.pathname === "/v1/snapshot") {
      snapshotEndpoint(req, res, url, deps).catch((err: unknown) => {
        if (res.headersSent) res.destroy();
        else {
          // A body not read to its end (a refused or stalled upload): answer, then close the connection
          // rather than wait for the rest.
          if (!req.complete) res.setHeader("connection", "close");
          sendError(res, err, deps.logger, `${req.method} ${url.pathname}`);
        }
      });
      return;
    }
    sendJson(res, 404, { error: `no such endpoint ${url.pathname}`, endpoints: ENDPOINTS });
  };
  const limits = httpLimits(deps.headersTimeoutMs, deps.maxHeaderBytes);
  return deps.tls
    ? createHttpsServer({ ...limits, cert: deps.tls.cert, key: deps.tls.key }, handler)
    : createServer(limits, handler);
}

function health(req: IncomingMessage, res: ServerResponse, deps: HttpDeps): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD" }).end();
    return;
  }
  const draining = deps.draining();
  const body = JSON.stringify({
    status: draining ? "shutting-down" : "ok",
    version: deps.versionInfo.version,
    emulated: deps.versionInfo.emulated,
    index: deps.stateIndex(),
  });
  res.writeHead(draining ? 503 : 200, {
    "content-type": "application/json",
    "cache-control": "no-store",
  });
  res.end(req.method === "HEAD" ? undefined : `${body}\n`);
}

async function snapshotEndpoint(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  d: HttpDeps,
): Promise<void> {
  const route = `${req.method} ${url.pathname}`;
  if (req.method !== "GET" && req.method !== "PUT") {
    sendJson(
      res,
      405,
      {
        error: `${req.method} is not allowed on /v1/snapshot`,
        hint: "GET takes a snapshot; PUT restores one (add ?stage to stage it for the next start).",
      },
      { allow: "GET, PUT" },
    );
    return;
  }
  if (d.draining()) throw new AppError("UNAVAILABLE", "the server is shutting down");
  const token = authorize(req, res, route, d.tokens, d.throttle);
  if (req.method === "GET") await takeOverHttp(res, d, token);
  else await restoreOverHttp(req, res, url, d, token);
}

function authorize(
  req: IncomingMessage,
  res: ServerResponse,
  route: string,
  tokens: TokenCache,
  throttle: AuthThrottle,
): TokenRecord {
  const unauthenticated = (message: string) =>
    new AppError("UNAUTHENTICATED", message, {
      hint: "Send `Authorization: Bearer <token>` with a management token (`waypoint token new -kind=management`).",
    });
  const address = req.socket.remoteAddress ?? "unknown";
  if (req.headersDistinct.authorization === undefined) throw unauthenticated(`${route} needs a token`);
  // As in the gRPC guard: a valid token always passes; an unknown one from an address cooling down is
  // refused uncounted, and the answer (429) says when to come back.
  const refuseIfCooling = () => {
    const wait = throttle.retryAfter(address);
    if (wait !== undefined) res.setHeader("retry-after", String(wait));
    throttle.check(address);
  };
  const presented = (req.headersDistinct.authorization ?? []).join(",");
  let secret: string | undefined;
  try {
    secret = decodeBearer((name) => req.headersDistinct[name] ?? []);
  } catch (err) {
    refuseIfCooling();
    throttle.failed(address, presented);
    throw unauthenticated(
      err instanceof AppError ? err.message.replace(/^metadata header/, "header") : String(err),
    );
  }
  if (secret === undefined) throw unauthenticated(`${route} needs a token`);
  const token = tokens.lookup(secret);
  if (!token) {
    refuseIfCooling();
    throttle.failed(address, presented);
    throw unauthenticated("the token is not valid on this server");
  }
  if (!SNAPSHOT_ACCESS.includes(token.kind)) {
    throw new AppError("PERMISSION_DENIED", `a ${token.kind} token may not use ${route}`, {
      hint: "Snapshots and restores need a management token (`waypoint token new -kind=management`).",
    });
  }
  return token;
}

/** GET: headers (with the index) go out once the copy is made, then the archive as the body. */
async function takeOverHttp(res: ServerResponse, d: HttpDeps, token: TokenRecord): Promise<void> {
  const gone = new AbortController();
  const onClose = () => {
    if (!res.writableFinished) gone.abort();
  };
  res.on("close", onClose);
  try {
    await d.snapshots.take(httpSink(res), gone.signal, token.id);
    res.end();
  } catch (err) {
    if (gone.signal.aborted) {
      d.logger.info({ by: token.id }, "snapshot download abandoned by the client");
      return;
    }
    if (!res.headersSent) throw err;
    // The body is cut short without the final chunk, so no client mistakes it for a whole archive.
    d.logger.error({ err, by: token.id }, "snapshot failed after its headers were sent; connection closed");
    res.destroy();
  } finally {
    res.off("close", onClose);
  }
}

function httpSink(res: ServerResponse): ArchiveSink {
  return {
    meta: (meta: SnapshotMeta) => {
      res.writeHead(200, {
        "content-type": "application/gzip",
        "cache-control": "no-store",
        [INDEX_HEADER]: String(meta.index),
      });
    },
    // HTTP has no side channel for progress.
    progress: () => {},
    data: (chunk) => res.write(chunk),
    drained: () =>
      new Promise((resolve, reject) => {
        if (res.destroyed) {
          reject(new AppError("UNAVAILABLE", "the client closed the connection"));
          return;
        }
        const done = (err?: AppError) => {
          res.off("drain", onDrain);
          res.off("close", onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new AppError("UNAVAILABLE", "the client closed the connection"));
        res.on("drain", onDrain);
        res.on("close", onClose);
      }),
  };
}

/** PUT: the request body is the archive; live by default, staged with `?stage`. */
async function restoreOverHttp(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  d: HttpDeps,
  token: TokenRecord,
): Promise<void> {
  const stage = stageRequested(url);
  try {
    if (stage) {
      const staged = await d.snapshots.stage(req, token.id);
      sendJson(res, 200, { mode: "stage", meta: staged.meta, path: staged.path }, indexHeader(d));
      return;
    }
    const r = await d.snapshots.live(req, token.id);
    sendJson(
      res,
      200,
      { mode: "live", meta: r.meta, keptAs: r.keptAs, previousIndex: r.previousIndex, index: r.index },
      indexHeader(d),
    );
  } catch (err) {
    // The upload broke off: the restore failed and changed nothing, and nobody is left to tell.
    if (req.errored || res.destroyed) {
      d.logger.info({ by: token.id, err }, "restore upload abandoned by the client; nothing was changed");
      return;
    }
    throw err;
  }
}

/** `?stage`, `?stage=1` and `?stage=true` stage; `?stage=0` / `?stage=false` or no parameter restore live. */
function stageRequested(url: URL): boolean {
  const value = url.searchParams.get("stage");
  if (value === null) return false;
  if (["", "1", "true"].includes(value)) return true;
  if (["0", "false"].includes(value)) return false;
  throw new AppError("INVALID_ARGUMENT", `?stage=${value}: expected ?stage, ?stage=true or ?stage=false`);
}

function indexHeader(d: HttpDeps): Record<string, string> {
  return { [INDEX_HEADER]: String(d.stateIndex()) };
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}

/**
 * The HTTP twin of toStatus: AppErrors go out with their message, code and hint; anything else is
 * logged in full and the client gets only a reference.
 */
function sendError(res: ServerResponse, err: unknown, logger: ServerLogger, route: string): void {
  if (err instanceof AppError && err.code !== "INTERNAL") {
    logger.debug({ route, code: err.code, msg: err.message }, "request refused");
    const status =
      err.code === "AUTH_THROTTLED" ? 429 : err.code === "UPLOAD_STALLED" ? 408 : HTTP_STATUS[err.grpcStatus];
    sendJson(
      res,
      status,
      { error: err.message, code: err.code, hint: err.hint },
      status === 401 ? { "www-authenticate": "Bearer" } : {},
    );
    return;
  }
  const ref = randomBytes(6).toString("hex");
  logger.error({ route, err, ref }, "internal error");
  sendJson(res, 500, {
    error: `internal error (ref ${ref})`,
    code: "INTERNAL",
    hint: `This is a bug; the server log has the details under ref=${ref}.`,
  });
}
