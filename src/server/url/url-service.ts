import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import type { EntrypointTunnelRequest__Output } from "../../gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { HttpHeader } from "../../gen/waypoint/v1/HttpHeader.js";
import { bindError } from "../bind-error.js";
import type { ServerLogger } from "../logger.js";
import type { EntrypointHub } from "../runtime/entrypoint-hub.js";
import type { Store } from "../store/store.js";
import { deploymentId, parseHost } from "./hosts.js";
import type { EntrypointTunnelCall, TunnelBroker } from "./tunnel-broker.js";

/** How long the app has to send its response head before the URL service answers 504. */
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

export interface UrlServiceDeps {
  readonly store: Store;
  readonly hub: EntrypointHub;
  readonly broker: TunnelBroker;
  readonly domain: string;
  readonly logger: ServerLogger;
  readonly responseTimeoutMs?: number;
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
  const handle = (req: IncomingMessage, down: Downstream, up: Upstream) => {
    route(req, down, up, deps, next, proto).catch((err: unknown) => {
      deps.logger.warn({ err }, "URL service request failed");
      if (!down.headersSent) down.page(502, "Bad gateway", "The request could not be carried to the app.");
      else down.destroy();
    });
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) =>
    handle(req, httpDownstream(res), httpUpstream(req));
  const server: Server = deps.tls
    ? createHttpsServer({ cert: deps.tls.cert, key: deps.tls.key }, onRequest)
    : createServer(onRequest);
  const proto = deps.tls ? "https" : "http";
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, rest: Buffer) => {
    socket.on("error", () => {});
    handle(req, socketDownstream(socket), socketUpstream(socket, rest));
  });
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
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
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (_req: IncomingMessage, socket: Duplex) => {
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
  });
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
  end(): void;
  destroy(): void;
  /** Runs once the client has gone before the response ended. */
  onGone(f: () => void): void;
}

/** Where the request's bytes come from: its body, or an upgraded socket's bytes. */
interface Upstream {
  readonly upgrade: boolean;
  /** Bytes that came with the head (an upgrade's first bytes). */
  readonly first: Buffer | undefined;
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
    onGone: (f) =>
      res.on("close", () => {
        if (!res.writableFinished) f();
      }),
  };
}

function httpUpstream(req: IncomingMessage): Upstream {
  return {
    upgrade: false,
    first: undefined,
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
  let ended = false;
  const writeHead = (status: number, headers: readonly Header[]) => {
    headersSent = true;
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`];
    for (const h of headers) lines.push(`${h.name}: ${h.value.replace(/[\r\n]/g, " ")}`);
    socket.write(`${lines.join("\r\n")}\r\n\r\n`);
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
      ended = true;
      socket.end(body);
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
      ended = true;
      socket.end();
    },
    destroy: () => socket.destroy(),
    onGone: (f) =>
      socket.on("close", () => {
        if (!ended) f();
      }),
  };
}

function socketUpstream(socket: Duplex, first: Buffer): Upstream {
  return {
    upgrade: true,
    first: first.length > 0 ? first : undefined,
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
  const target = parseHost(req.headers.host, d.domain);
  if (!target) {
    down.page(404, "Not found", `No app is served at ${req.headers.host ?? "this host"}.`);
    return;
  }
  const app = d.store.listApps().find((a) => a.name.toLowerCase() === target.app);
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
  down.onGone(() => gone.abort());
  let call: EntrypointTunnelCall;
  try {
    call = await d.broker.open(conn, gone.signal);
  } catch {
    if (gone.signal.aborted) return;
    down.page(
      503,
      "No instance connected",
      `App ${app.name}, deployment ${deployment.id}: the instance did not answer.`,
      { "retry-after": "5" },
    );
    return;
  }
  await relay(req, down, up, call, {
    timeoutMs: d.responseTimeoutMs ?? URL_RESPONSE_TIMEOUT_MS,
    what: `app ${app.name}, deployment ${deployment.id}`,
    proto,
  });
}

/** Carries one request through `call` and its response back, with backpressure both ways. */
function relay(
  req: IncomingMessage,
  down: Downstream,
  up: Upstream,
  call: EntrypointTunnelCall,
  o: { timeoutMs: number; what: string; proto: string },
): Promise<void> {
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!call.writableEnded && !call.cancelled) call.end();
      resolve();
    };
    const timer = setTimeout(() => {
      if (!down.headersSent)
        down.page(
          504,
          "Gateway timeout",
          `The app (${o.what}) did not answer within ${o.timeoutMs / 1000} s.`,
        );
      else down.destroy();
      finish();
    }, o.timeoutMs);

    call.on("data", (m: EntrypointTunnelRequest__Output) => {
      if (done) return;
      if (m.request === "head" && m.head) {
        clearTimeout(timer);
        down.head(m.head.status, m.head.headers);
      } else if (m.request === "body" && m.body) {
        if (!down.write(m.body)) {
          call.pause();
          down.onDrain(() => call.resume());
        }
      } else if (m.request === "end") {
        down.end();
        finish();
      } else if (m.request === "error") {
        if (!down.headersSent) {
          const e = m.error ?? "";
          if (e === "timeout")
            down.page(504, "Gateway timeout", `The app (${o.what}) did not answer in time.`);
          else if (e.startsWith("busy"))
            down.page(
              503,
              "Instance busy",
              `The instance of ${o.what} is carrying as many requests as it allows (${e}).`,
              { "retry-after": "1" },
            );
          else if (e === "refused")
            down.page(
              502,
              "Bad gateway",
              `Nothing listens on the app's port (${o.what}): connection refused.`,
            );
          else down.page(502, "Bad gateway", `The app (${o.what}) could not be reached: ${e}.`);
        } else down.destroy();
        finish();
      }
    });
    const lost = () => {
      if (done) return;
      // The instance went away mid-request: only this request fails.
      if (!down.headersSent)
        down.page(502, "Bad gateway", `The instance of ${o.what} disconnected during the request.`);
      else down.destroy();
      finish();
    };
    call.on("end", lost);
    call.on("error", lost);
    call.on("cancelled", lost);
    down.onGone(finish);

    call.write({
      head: {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: toHeaders(req, up.upgrade, o.proto),
        upgrade: up.upgrade,
      },
    });
    // Paused after its first message (firstMessage): what came since was buffered.
    call.resume();
    const forward = (chunk: Buffer) => {
      if (done) return;
      if (!call.write({ body: chunk })) {
        up.pause();
        call.once("drain", () => up.resume());
      }
    };
    if (up.first) forward(up.first);
    up.on("data", forward);
    up.on("end", () => {
      if (!done) call.write({ end: true });
    });
  });
}

/**
 * The request's headers for the app: hop-by-hop ones left out (an upgrade keeps its `upgrade` and says
 * `connection: upgrade`), and where it came from in x-forwarded-for/-host/-proto.
 */
function toHeaders(req: IncomingMessage, upgrade: boolean, proto: string): HttpHeader[] {
  const out: HttpHeader[] = [];
  const raw = req.rawHeaders;
  const forwardedFor: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === "x-forwarded-for") forwardedFor.push(raw[i + 1]!);
    else if (lower === "x-forwarded-host" || lower === "x-forwarded-proto" || lower === "expect") continue;
    else if (!HOP_BY_HOP.has(lower)) out.push({ name, value: raw[i + 1]! });
  }
  if (upgrade) {
    out.push({ name: "Connection", value: "Upgrade" });
    out.push({ name: "Upgrade", value: String(req.headers.upgrade ?? "") });
  }
  const client = req.socket.remoteAddress;
  if (client) forwardedFor.push(client);
  if (forwardedFor.length > 0) out.push({ name: "X-Forwarded-For", value: forwardedFor.join(", ") });
  if (req.headers.host) out.push({ name: "X-Forwarded-Host", value: req.headers.host });
  out.push({ name: "X-Forwarded-Proto", value: proto });
  return out;
}

function fromHeaders(headers: readonly { name: string; value: string }[]): [string, string][] {
  return headers.filter((h) => !HOP_BY_HOP.has(h.name.toLowerCase())).map((h) => [h.name, h.value]);
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
