import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
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
  const server: Server = createServer((req, res) => {
    route(req, res, deps, next).catch((err: unknown) => {
      deps.logger.warn({ err }, "URL service request failed");
      if (!res.headersSent) page(res, 502, "Bad gateway", "The request could not be carried to the app.");
      else res.destroy();
    });
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
        server.close(() => resolve());
      }),
  };
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  d: UrlServiceDeps,
  next: Map<string, number>,
): Promise<void> {
  const target = parseHost(req.headers.host, d.domain);
  if (!target) {
    page(res, 404, "Not found", `No app is served at ${req.headers.host ?? "this host"}.`);
    return;
  }
  const app = d.store.listApps().find((a) => a.name.toLowerCase() === target.app);
  if (!app) {
    page(res, 404, "Not found", `There is no app ${target.app}.`);
    return;
  }
  const id = target.deployment
    ? deploymentId(app.name, target.deployment)
    : d.store.latestDeployment(app.name)?.id;
  const deployment = id ? d.store.getDeployment(id) : undefined;
  if (!deployment || deployment.app !== app.name) {
    page(res, 404, "Not found", `App ${app.name} has no deployment ${target.deployment ?? "yet"}.`);
    return;
  }
  const instances = d.hub.connected(app.name).filter((c) => c.deployment === deployment.id);
  if (instances.length === 0) {
    page(
      res,
      503,
      "No instance connected",
      `App ${app.name}, deployment ${deployment.id}: no instance is connected to the server now.`,
    );
    return;
  }
  // Spread over the deployment's instances in turn.
  const n = next.get(deployment.id) ?? 0;
  next.set(deployment.id, n + 1);
  const conn = instances[n % instances.length]!;
  const gone = new AbortController();
  req.once("close", () => {
    if (!res.writableEnded) gone.abort();
  });
  let call: EntrypointTunnelCall;
  try {
    call = await d.broker.open(conn, gone.signal);
  } catch {
    page(
      res,
      503,
      "No instance connected",
      `App ${app.name}, deployment ${deployment.id}: the instance did not answer.`,
    );
    return;
  }
  await relay(req, res, call, d.responseTimeoutMs ?? URL_RESPONSE_TIMEOUT_MS);
}

/** Carries one request through `call` and its response back, with backpressure both ways. */
function relay(
  req: IncomingMessage,
  res: ServerResponse,
  call: EntrypointTunnelCall,
  timeoutMs: number,
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
      if (!res.headersSent)
        page(res, 504, "Gateway timeout", `The app did not answer within ${timeoutMs / 1000} s.`);
      else res.destroy();
      finish();
    }, timeoutMs);

    call.on("data", (m: EntrypointTunnelRequest__Output) => {
      if (m.request === "head" && m.head) {
        clearTimeout(timer);
        res.writeHead(m.head.status, fromHeaders(m.head.headers));
      } else if (m.request === "body" && m.body) {
        if (!res.write(m.body)) {
          call.pause();
          res.once("drain", () => call.resume());
        }
      } else if (m.request === "end") {
        res.end();
        finish();
      } else if (m.request === "error") {
        if (!res.headersSent) {
          if (m.error === "timeout") page(res, 504, "Gateway timeout", "The app did not answer in time.");
          else page(res, 502, "Bad gateway", `The app could not be reached: ${m.error}.`);
        } else res.destroy();
        finish();
      }
    });
    const lost = () => {
      if (done) return;
      // The instance went away mid-request: only this request fails.
      if (!res.headersSent) page(res, 502, "Bad gateway", "The instance disconnected during the request.");
      else res.destroy();
      finish();
    };
    call.on("end", lost);
    call.on("error", lost);
    call.on("cancelled", lost);
    res.on("close", () => {
      if (!res.writableFinished) finish();
    });

    call.write({
      head: { method: req.method ?? "GET", path: req.url ?? "/", headers: toHeaders(req), upgrade: false },
    });
    // Paused after its first message (firstMessage): what came since was buffered.
    call.resume();
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      if (!call.write({ body: chunk })) {
        req.pause();
        call.once("drain", () => req.resume());
      }
    });
    req.on("end", () => {
      if (!done) call.write({ end: true });
    });
  });
}

function toHeaders(req: IncomingMessage): HttpHeader[] {
  const out: HttpHeader[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push({ name, value: raw[i + 1]! });
  }
  return out;
}

function fromHeaders(headers: readonly { name: string; value: string }[]): [string, string][] {
  return headers.filter((h) => !HOP_BY_HOP.has(h.name.toLowerCase())).map((h) => [h.name, h.value]);
}

/** A short page saying what happened, for people and for scripts (the status says it too). */
function page(res: ServerResponse, status: number, title: string, text: string): void {
  const body = `<!doctype html><title>${status} ${html(title)}</title><h1>${status} ${html(title)}</h1><p>${html(text)}</p>\n`;
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function html(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
