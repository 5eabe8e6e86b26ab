import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { EntrypointTunnelRequest__Output } from "../../gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { HttpHeader } from "../../gen/waypoint/v1/HttpHeader.js";
import { bindError } from "../bind-error.js";
import { httpLimits } from "../http-limits.js";
import type { ServerLogger } from "../logger.js";
import type { EntrypointHub } from "../runtime/entrypoint-hub.js";
import type { Store } from "../store/store.js";
import { deploymentId, parseHost } from "./hosts.js";
import type { OpenTunnel, TunnelBroker } from "./tunnel-broker.js";

/**
 * How long the app has to send its response head, counted from the end of the request, before the URL
 * service answers 504 (the entrypoint's own limit, WAYPOINT_CEB_URL_RESPONSE_TIMEOUT_MS, is shorter and
 * names the cause; this one also covers an entrypoint that never answers).
 */
export const URL_RESPONSE_TIMEOUT_MS = 60_000;

/** Hop-by-hop headers (RFC 9110 §7.6.1): never carried through the tunnel. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/** Headers the URL service sets itself: what a client sends under these names is replaced. */
const OURS = new Set(["x-forwarded-host", "x-forwarded-proto", "forwarded", "expect"]);

export interface UrlServiceDeps {
  readonly store: Store;
  readonly hub: EntrypointHub;
  readonly broker: TunnelBroker;
  readonly domain: string;
  readonly logger: ServerLogger;
  readonly responseTimeoutMs?: number;
  /** The request head must arrive within this long (default 30 s), and be at most maxHeaderBytes (16 KiB). */
  readonly headersTimeoutMs?: number;
  readonly maxHeaderBytes?: number;
  /** With -tls-cert-file and -tls-key-file: HTTPS with the server's certificate (it must cover *.<domain>). */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

export interface UrlService {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * The URL service: an HTTP listener that routes by Host to a deployment's connected instances and
 * carries each request through a tunnel the instance's entrypoint opens (its connection is outbound;
 * it opens no listener).
 */
export async function startUrlService(listen: string, deps: UrlServiceDeps): Promise<UrlService> {
  const next = new Map<string, number>();
  const proto = deps.tls ? "https" : "http";
  const handle = (req: IncomingMessage, down: Downstream, up: Upstream) => {
    route(req, down, up, deps, next, proto).catch((err: unknown) => {
      deps.logger.warn({ err }, "URL service request failed");
      if (!down.headersSent) down.page(502, "Bad gateway", "The request could not be carried to the app.");
      else down.destroy();
    });
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) =>
    handle(req, httpDownstream(res), httpUpstream(req, undefined));
  // Uploads may take long (the app holds them back as it reads); the head must still come in time, and
  // be of a bounded size (431 beyond it).
  const options = httpLimits(deps.headersTimeoutMs ?? 30_000, deps.maxHeaderBytes ?? 16 * 1024);
  const server: Server = deps.tls
    ? createHttpsServer({ ...options, cert: deps.tls.cert, key: deps.tls.key }, onRequest)
    : createServer(options, onRequest);
  // `Expect: 100-continue`: the client is told to send its body only once the request has a tunnel.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) =>
    handle(req, httpDownstream(res), httpUpstream(req, res)),
  );
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, rest: Buffer) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    socket.on("error", () => {});
    const down = socketDownstream(socket);
    if (req.headers["content-length"] || req.headers["transfer-encoding"]) {
      down.page(400, "Bad request", "An upgrade request with a body is not carried.");
      return;
    }
    handle(req, down, socketUpstream(socket, rest));
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    // As Node's own handler answers: a head too slow or too large is told so, anything else is a 400.
    const status =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? "408 Request Timeout"
        : err.code === "HPE_HEADER_OVERFLOW"
          ? "431 Request Header Fields Too Large"
          : "400 Bad Request";
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`);
  });
  const colon = listen.lastIndexOf(":");
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(bindError(err, listen, "-listen-url")));
    server.listen(Number(listen.slice(colon + 1)), listen.slice(0, colon).replace(/^\[|\]$/g, ""), () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        for (const s of upgraded) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A header as it arrives from the tunnel. */
interface Header {
  readonly name: string;
  readonly value: string;
}

/** Where a response goes: an HTTP response, or the socket of an upgrade request. */
interface Downstream {
  readonly headersSent: boolean;
  /** A whole response of our own: a short page saying what happened. */
  page(status: number, title: string, text: string, headers?: Record<string, string>): void;
  head(status: number, headers: readonly Header[]): void;
  /** False when full: wait for onDrain. */
  write(chunk: Buffer): boolean;
  onDrain(f: () => void): void;
  /** The response is complete (on an upgraded socket: this side is done sending). */
  end(): void;
  destroy(): void;
  /** Runs once the client's connection has closed. */
  onClose(f: () => void): void;
}

/** Where the request's bytes come from: its body, or an upgraded socket's bytes. */
interface Upstream {
  readonly upgrade: boolean;
  /** Bytes that came with the head (an upgrade's first bytes). */
  readonly first: Buffer | undefined;
  /** Called once the request has a tunnel: `Expect: 100-continue` is answered now. */
  proceed(): void;
  on(event: "data", f: (chunk: Buffer) => void): void;
  on(event: "end", f: () => void): void;
  pause(): void;
  resume(): void;
}

function httpDownstream(res: ServerResponse): Downstream {
  return {
    get headersSent() {
      return res.headersSent;
    },
    page: (status, title, text, headers) => page(res, status, title, text, headers),
    head: (status, headers) => {
      res.writeHead(status, fromHeaders(headers));
      // Sent now, as the app sent it: a head whose body comes later must not wait for that body.
      res.flushHeaders();
    },
    write: (chunk) => res.write(chunk),
    onDrain: (f) => res.once("drain", f),
    end: () => res.end(),
    destroy: () => res.destroy(),
    onClose: (f) => res.on("close", f),
  };
}

/** `continued`: the response of a request that expects 100-continue. */
function httpUpstream(req: IncomingMessage, continued: ServerResponse | undefined): Upstream {
  return {
    upgrade: false,
    first: undefined,
    proceed: () => continued?.writeContinue(),
    on: (event: "data" | "end", f: (chunk: Buffer) => void) => req.on(event, f),
    pause: () => req.pause(),
    resume: () => req.resume(),
  };
}

/**
 * An upgrade request's socket: the response head is written by hand. After a 101 bytes flow raw both
 * ways; any other answer is sent with `connection: close` and its body delimited by the close.
 */
function socketDownstream(socket: Duplex): Downstream {
  let headersSent = false;
  const writeHead = (status: number, headers: readonly Header[]) => {
    headersSent = true;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
    for (const h of headers) lines.push(`${h.name}: ${h.value}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  };
  // A client that keeps its side open after our last byte is let go after a while.
  const close = () => {
    socket.end();
    setTimeout(() => socket.destroy(), 5_000).unref();
  };
  return {
    get headersSent() {
      return headersSent;
    },
    page: (status, title, text, headers) => {
      const body = pageBody(status, title, text);
      writeHead(status, [
        { name: "content-type", value: "text/html; charset=utf-8" },
        { name: "content-length", value: String(Buffer.byteLength(body)) },
        { name: "connection", value: "close" },
        ...Object.entries(headers ?? {}).map(([name, value]) => ({ name, value })),
      ]);
      socket.write(body);
      close();
    },
    head: (status, headers) =>
      writeHead(
        status,
        status === 101
          ? headers
          : [
              ...headers.filter((h) => !HOP_BY_HOP.has(h.name.toLowerCase())),
              { name: "connection", value: "close" },
            ],
      ),
    write: (chunk) => socket.write(chunk),
    onDrain: (f) => socket.once("drain", f),
    end: () => {
      if (headersSent) socket.end();
      else close();
    },
    destroy: () => socket.destroy(),
    onClose: (f) => socket.on("close", f),
  };
}

function socketUpstream(socket: Duplex, first: Buffer): Upstream {
  return {
    upgrade: true,
    first: first.length > 0 ? first : undefined,
    proceed: () => {},
    on: (event: "data" | "end", f: (chunk: Buffer) => void) => socket.on(event, f),
    pause: () => socket.pause(),
    resume: () => socket.resume(),
  };
}

async function route(
  req: IncomingMessage,
  down: Downstream,
  up: Upstream,
  d: UrlServiceDeps,
  next: Map<string, number>,
  proto: string,
): Promise<void> {
  // The target names the host when it is absolute (RFC 9112 §3.2.2); otherwise the one Host header does.
  let host = req.headers.host;
  let path = req.url ?? "/";
  if (/^https?:\/\//i.test(path)) {
    try {
      const u = new URL(path);
      host = u.host;
      path = `${u.pathname}${u.search}`;
    } catch {
      down.page(400, "Bad request", "The request target is not a URL.");
      return;
    }
  }
  const hosts = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === "host");
  if (hosts.length > 1) {
    down.page(400, "Bad request", "The request has more than one Host header.");
    return;
  }
  const target = parseHost(host, d.domain);
  if (!target) {
    down.page(404, "Not found", `No app is served at ${host ?? "this host"}.`);
    return;
  }
  const app = d.store.getApp(target.app);
  if (!app) {
    down.page(404, "Not found", `There is no app ${target.app}.`);
    return;
  }
  if (app.urlDisabled) {
    down.page(
      404,
      "Not found",
      `The URL service is off for app ${app.name} (waypoint app update ${app.name} -url=true turns it on).`,
    );
    return;
  }
  const id = target.deployment
    ? deploymentId(app.name, target.deployment)
    : d.store.latestDeployment(app.name)?.id;
  const deployment = id ? d.store.getDeployment(id) : undefined;
  if (!deployment || deployment.app !== app.name) {
    down.page(404, "Not found", `App ${app.name} has no deployment ${target.deployment ?? "yet"}.`);
    return;
  }
  const instances = d.hub.connected(app.name).filter((c) => c.deployment === deployment.id);
  if (instances.length === 0) {
    down.page(
      503,
      "No instance connected",
      `App ${app.name}, deployment ${deployment.id}: no instance is connected to the server now.`,
      { "retry-after": "5" },
    );
    return;
  }
  // Spread over the deployment's instances in turn.
  const n = next.get(deployment.id) ?? 0;
  next.set(deployment.id, n + 1);
  const conn = instances[n % instances.length]!;
  const gone = new AbortController();
  down.onClose(() => gone.abort());
  let tunnel: OpenTunnel;
  try {
    tunnel = await d.broker.open(conn, gone.signal);
  } catch {
    if (gone.signal.aborted) return;
    down.page(
      503,
      "No instance connected",
      `App ${app.name}, deployment ${deployment.id}: instance ${conn.instance} did not open a tunnel (is its entrypoint older than the URL service?).`,
      { "retry-after": "5" },
    );
    return;
  }
  // The client may have gone while the tunnel was opening: its close has fired, and relay would wait for it.
  if (gone.signal.aborted) {
    tunnel.cancel();
    tunnel.call.end();
    return;
  }
  relay(req, path, down, up, tunnel, {
    timeoutMs: d.responseTimeoutMs ?? URL_RESPONSE_TIMEOUT_MS,
    what: `app ${app.name}, deployment ${deployment.id}`,
    proto,
    logger: d.logger,
  });
}

/** The reason a response head from the tunnel cannot be sent on, or undefined when it can. */
function badHead(status: number, headers: readonly Header[], upgrade: boolean): string | undefined {
  if (!((status >= 200 && status <= 599) || (upgrade && status === 101)))
    return `the app answered with status ${status}`;
  for (const h of headers) {
    try {
      validateHeaderName(h.name);
      validateHeaderValue(h.name, h.value);
    } catch {
      return `the app's response has a malformed header ${JSON.stringify(h.name.slice(0, 64))}`;
    }
  }
  return undefined;
}

/**
 * Carries one request through `call` and its response back, with backpressure both ways. An upgrade's
 * bytes go to the app only after its 101; after that each side's end is passed on (half-close), and the
 * tunnel ends once both sides have ended or the client's connection closes.
 */
function relay(
  req: IncomingMessage,
  path: string,
  down: Downstream,
  up: Upstream,
  tunnel: OpenTunnel,
  o: { timeoutMs: number; what: string; proto: string; logger: ServerLogger },
): void {
  const call = tunnel.call;
  let done = false;
  let head = false;
  let appEnded = false;
  let clientEnded = false;
  let timer: NodeJS.Timeout | undefined;
  /** Runs while the request's body is held back because the app does not take it. */
  let stall: NodeJS.Timeout | undefined;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    clearTimeout(stall);
    if (!call.writableEnded && !call.cancelled) call.end();
  };
  const fail = (status: number, title: string, text: string, headers?: Record<string, string>) => {
    if (!down.headersSent) down.page(status, title, text, headers);
    else down.destroy();
    if (!done) tunnel.cancel();
    finish();
  };
  const startTimer = () => {
    timer = setTimeout(() => {
      fail(504, "Gateway timeout", `The app (${o.what}) did not answer within ${o.timeoutMs / 1000} s.`);
    }, o.timeoutMs);
  };

  call.on("data", (m: EntrypointTunnelRequest__Output) => {
    if (done) return;
    try {
      if (m.request === "head" && m.head && !head) {
        const problem = badHead(m.head.status, m.head.headers, up.upgrade);
        if (problem) {
          o.logger.warn({ what: o.what, problem }, "URL service: refused a response from the tunnel");
          fail(502, "Bad gateway", `${problem} (${o.what}).`);
          return;
        }
        head = true;
        clearTimeout(timer);
        down.head(m.head.status, m.head.headers);
        if (up.upgrade) {
          if (m.head.status === 101) startUpgraded();
          else clientEnded = true;
        }
      } else if (m.request === "body" && m.body && head) {
        if (!down.write(m.body)) {
          call.pause();
          down.onDrain(() => call.resume());
        }
      } else if (m.request === "end") {
        if (!head) {
          fail(502, "Bad gateway", `The app's side ended without a response (${o.what}).`);
          return;
        }
        appEnded = true;
        down.end();
        if (!up.upgrade || clientEnded) finish();
      } else if (m.request === "error") {
        const e = m.error ?? "";
        if (e === "timeout") fail(504, "Gateway timeout", `The app (${o.what}) did not answer in time.`);
        else if (e.startsWith("busy"))
          fail(
            503,
            "Instance busy",
            `The instance of ${o.what} is carrying as many requests as it allows (${e}).`,
            { "retry-after": "1" },
          );
        else if (e === "refused")
          fail(502, "Bad gateway", `Nothing listens on the app's port (${o.what}): connection refused.`);
        else fail(502, "Bad gateway", `The app (${o.what}) could not be reached: ${e}.`);
      } else {
        fail(502, "Bad gateway", `The tunnel for ${o.what} sent a message out of order.`);
      }
    } catch (err) {
      o.logger.warn({ err, what: o.what }, "URL service: could not pass a response on");
      fail(502, "Bad gateway", `The app's response could not be passed on (${o.what}).`);
    }
  });
  const lost = () => {
    if (done) return;
    // The entrypoint's side ended after its own end: a clean finish. Otherwise the instance went away
    // mid-request: only this request fails.
    if (appEnded) finish();
    else fail(502, "Bad gateway", `The instance of ${o.what} disconnected during the request.`);
  };
  call.on("end", lost);
  call.on("error", lost);
  call.on("cancelled", lost);
  // The client went away first: the entrypoint drops the tunnel (and its request to the app).
  down.onClose(() => {
    if (done) return;
    tunnel.cancel();
    finish();
  });

  call.write({
    head: {
      method: req.method ?? "GET",
      path,
      headers: toHeaders(req, up.upgrade, o.proto),
      upgrade: up.upgrade,
    },
  });
  // Paused after its first message (firstMessage): what came since was buffered.
  call.resume();
  up.proceed();

  const forward = (chunk: Buffer) => {
    if (done) return;
    if (!call.write({ body: chunk })) {
      up.pause();
      // A request body the app does not take fails after the response timeout. Without it a client that
      // went away meanwhile would hold the instance's request slot for good: its socket is paused, so
      // its FIN waits behind bytes nobody reads, and the response timeout starts only at the body's end.
      // An upgraded connection may rest as long as it likes.
      if (!up.upgrade && !stall)
        stall = setTimeout(
          () =>
            fail(
              504,
              "Gateway timeout",
              `The app (${o.what}) did not take the request's body for ${o.timeoutMs / 1000} s.`,
            ),
          o.timeoutMs,
        );
      call.once("drain", () => {
        clearTimeout(stall);
        stall = undefined;
        up.resume();
      });
    }
  };
  const clientEnd = () => {
    if (done) return;
    clientEnded = true;
    call.write({ end: true });
    if (appEnded) finish();
  };
  if (up.upgrade) {
    // Nothing of the client's goes to the app before the app has switched protocols.
    up.pause();
    startTimer();
  } else {
    up.on("data", forward);
    up.on("end", () => {
      clientEnd();
      // The app's time to answer counts from the end of the request, not from its start.
      if (!head && !done) startTimer();
    });
  }
  function startUpgraded(): void {
    if (up.first) forward(up.first);
    up.on("data", forward);
    up.on("end", clientEnd);
    up.resume();
  }
}

/**
 * The request's headers for the app: hop-by-hop ones left out, and those the Connection header names
 * (an upgrade keeps its `upgrade` and says `connection: upgrade`; a body of unknown length is sent
 * chunked again), and where it came from in x-forwarded-for/-host/-proto.
 */
function toHeaders(req: IncomingMessage, upgrade: boolean, proto: string): HttpHeader[] {
  const out: HttpHeader[] = [];
  const raw = req.rawHeaders;
  const named = connectionNamed(req.headers.connection);
  const forwardedFor: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === "x-forwarded-for") forwardedFor.push(raw[i + 1]!);
    else if (!OURS.has(lower) && !HOP_BY_HOP.has(lower) && !named.has(lower))
      out.push({ name, value: raw[i + 1]! });
  }
  if (upgrade) {
    out.push({ name: "Connection", value: "Upgrade" });
    out.push({ name: "Upgrade", value: String(req.headers.upgrade ?? "") });
  } else if (req.headers["transfer-encoding"] !== undefined && req.headers["content-length"] === undefined) {
    out.push({ name: "Transfer-Encoding", value: "chunked" });
  }
  const client = req.socket.remoteAddress;
  if (client) forwardedFor.push(client);
  if (forwardedFor.length > 0) out.push({ name: "X-Forwarded-For", value: forwardedFor.join(", ") });
  if (req.headers.host) out.push({ name: "X-Forwarded-Host", value: req.headers.host });
  out.push({ name: "X-Forwarded-Proto", value: proto });
  return out;
}

/** The header names a Connection header lists (RFC 9110 §7.6.1), lower case. */
function connectionNamed(value: string | undefined): Set<string> {
  return new Set(
    (value ?? "")
      .split(",")
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean),
  );
}

function fromHeaders(headers: readonly { name: string; value: string }[]): [string, string][] {
  const named = connectionNamed(headers.find((h) => h.name.toLowerCase() === "connection")?.value);
  return headers
    .filter((h) => !HOP_BY_HOP.has(h.name.toLowerCase()) && !named.has(h.name.toLowerCase()))
    .map((h) => [h.name, h.value]);
}

/** A short page saying what happened, for people and for scripts (the status says it too). */
function page(
  res: ServerResponse,
  status: number,
  title: string,
  text: string,
  headers: Record<string, string> = {},
): void {
  const body = pageBody(status, title, text);
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function pageBody(status: number, title: string, text: string): string {
  return `<!doctype html><title>${status} ${html(title)}</title><h1>${status} ${html(title)}</h1><p>${html(text)}</p>\n`;
}

function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
