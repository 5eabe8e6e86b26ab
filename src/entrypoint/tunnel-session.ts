import { type ClientRequest, type IncomingMessage, request } from "node:http";
import type { Socket } from "node:net";
import type { EntrypointConnection, TunnelStream } from "../client/entrypoint-connection.js";
import type { EntrypointTunnelResponse__Output } from "../gen/waypoint/v1/EntrypointTunnelResponse.js";
import type { HttpHeader } from "../gen/waypoint/v1/HttpHeader.js";
import type { EntrypointLogger } from "./logger.js";

/**
 * What all tunnels of one entrypoint share: how many requests are carried at once and how many bytes
 * are held between the app and the server, all requests together. A flood of requests then cannot
 * starve the log and config streams on the same connection, nor the child.
 */
export class TunnelLimits {
  active = 0;
  private held = 0;
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {}

  /** Bytes read from one side that the other has not taken yet. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Counts `n` more bytes held; false when the budget is spent and the reader should pause. */
  take(n: number): boolean {
    this.held += n;
    return this.held < this.maxBytes;
  }

  give(n: number): void {
    this.held -= n;
    if (this.held >= this.maxBytes || this.waiting.size === 0) return;
    const ready = [...this.waiting];
    this.waiting.clear();
    for (const f of ready) f();
  }

  /** Runs `f` once the budget has room again. */
  whenFree(f: () => void): void {
    if (this.held < this.maxBytes) f();
    else this.waiting.add(f);
  }
}

export interface TunnelContext {
  readonly conn: EntrypointConnection;
  readonly instanceId: string;
  readonly session: string;
  /** The app's port on 127.0.0.1 ($PORT), or why there is none. */
  readonly port: number | string;
  readonly limits: TunnelLimits;
  /** How long the app has to send its response head. */
  readonly responseTimeoutMs: number;
  readonly logger: EntrypointLogger;
}

/** Something that can be paused while what it feeds is full. */
interface Source {
  pause(): void;
  resume(): void;
}

/**
 * One direction of a tunnel: a source paused while its sink is full or the shared budget is spent,
 * counting each chunk held until the sink has taken it. What a direction still holds when the tunnel
 * ends goes back to the budget.
 */
class Pump {
  private holds = 0;
  private held = 0;
  private closed = false;

  constructor(
    private readonly source: Source,
    private readonly limits: TunnelLimits,
  ) {}

  /**
   * Hands `chunk` to `write` (a sink's write: false when full, `done` once taken) and pauses the
   * source as needed; `onDrain` registers the sink's next drain.
   */
  carry(
    chunk: Buffer,
    write: (chunk: Buffer, done: () => void) => boolean,
    onDrain: (f: () => void) => void,
  ): void {
    if (this.closed) return;
    const n = chunk.length;
    this.held += n;
    const roomy = this.limits.take(n);
    const accepted = write(chunk, () => {
      if (this.closed) return;
      this.held -= n;
      this.limits.give(n);
    });
    if (!accepted) {
      this.hold();
      onDrain(() => this.release());
    }
    if (!roomy) {
      this.hold();
      this.limits.whenFree(() => this.release());
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.limits.give(this.held);
    this.held = 0;
  }

  private hold(): void {
    if (this.holds++ === 0) this.source.pause();
  }

  private release(): void {
    if (this.closed) return;
    if (--this.holds === 0) this.source.resume();
  }
}

/** The app's port from its PORT, or why it has none. */
export function appPort(raw: string | undefined): number | string {
  const n = Number(raw);
  return raw !== undefined && /^\d+$/.test(raw) && n >= 1 && n <= 65535
    ? n
    : `the app's PORT=${JSON.stringify(raw ?? "")} is not a port number`;
}

/**
 * One request from the URL service: opens EntrypointTunnel, sends `open`, takes the request head and
 * body from the server and makes the request to the app on 127.0.0.1:$PORT, then sends the response
 * head, body and end back. An upgrade (WebSocket) carries raw bytes both ways after the app's 101.
 * The entrypoint opens no listener: the tunnel is a call on its own outbound connection.
 *
 * Errors sent to the server: "busy" (over WAYPOINT_CEB_URL_MAX_REQUESTS), "refused" (nothing listens
 * on the port), "timeout" (no response head in time), or another reason.
 */
export function runTunnelSession(c: TunnelContext): void {
  const log = c.logger.child({ session: c.session });
  const drainWaiters: (() => void)[] = [];
  let finished = false;
  let app: ClientRequest | undefined;
  let appSocket: Socket | undefined;
  let headTimer: NodeJS.Timeout | undefined;
  let upgrade = false;
  // An upgrade's bytes that came before the app's 101, and whether the client has ended its side.
  const early: Buffer[] = [];
  let clientEnded = false;
  const pumps: Pump[] = [];

  const counted = c.limits.active < c.limits.maxRequests;
  if (counted) c.limits.active++;

  const release = () => {
    clearTimeout(headTimer);
    for (const p of pumps) p.close();
    if (counted) c.limits.active--;
  };

  const finish = (last: { end: true } | { error: string }) => {
    if (finished) return;
    finished = true;
    release();
    stream.write(last);
    stream.end();
  };

  const sendBody = (pump: Pump, chunk: Buffer) =>
    pump.carry(
      chunk,
      (b, done) => stream.write({ body: b }, done),
      (f) => drainWaiters.push(f),
    );

  const sendHead = (res: IncomingMessage) => {
    clearTimeout(headTimer);
    const headers: HttpHeader[] = [];
    for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
      headers.push({ name: res.rawHeaders[i]!, value: res.rawHeaders[i + 1]! });
    stream.write({ head: { status: res.statusCode ?? 502, headers } });
  };

  const startRequest = (head: NonNullable<EntrypointTunnelResponse__Output["head"]>) => {
    if (typeof c.port === "string") {
      finish({ error: c.port });
      return;
    }
    upgrade = head.upgrade;
    const req = request({
      host: "127.0.0.1",
      port: c.port,
      method: head.method,
      path: head.path,
      headers: head.headers.flatMap((h) => [h.name, h.value]),
      // One connection per request: the app sees each as the client made it, and nothing is pooled.
      agent: false,
    });
    app = req;
    // An upgrade request has no body: its head goes now, and bytes flow once the app answers 101.
    if (upgrade) req.end();
    headTimer = setTimeout(() => {
      req.destroy();
      finish({ error: "timeout" });
    }, c.responseTimeoutMs);
    req.on("response", (res) => {
      sendHead(res);
      const pump = new Pump(res, c.limits);
      pumps.push(pump);
      res.on("data", (chunk: Buffer) => sendBody(pump, chunk));
      res.on("end", () => finish({ end: true }));
      res.on("error", () => finish({ error: "the app's response broke off" }));
      res.on("close", () => {
        if (!res.complete) finish({ error: "the app's response broke off" });
      });
    });
    req.on("upgrade", (res, socket, rest) => {
      sendHead(res);
      appSocket = socket;
      const pump = new Pump(socket, c.limits);
      pumps.push(pump);
      if (rest.length > 0) sendBody(pump, rest);
      for (const b of early.splice(0)) toApp(b);
      if (clientEnded) socket.end();
      socket.on("data", (chunk: Buffer) => sendBody(pump, chunk));
      socket.on("end", () => finish({ end: true }));
      socket.on("close", () => finish({ end: true }));
      socket.on("error", () => {});
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      finish({ error: err.code === "ECONNREFUSED" ? "refused" : (err.code ?? err.message) });
    });
  };

  // Request bytes from the server go to the app (its request body, or its upgraded socket).
  const inbound = new Pump(
    {
      pause: () => stream.pause(),
      resume: () => stream.resume(),
    },
    c.limits,
  );
  pumps.push(inbound);

  const onMessage = (m: EntrypointTunnelResponse__Output) => {
    if (finished) return;
    if (m.response === "head" && m.head && !app) startRequest(m.head);
    else if (m.response === "body" && m.body) {
      if (upgrade && !appSocket) early.push(m.body);
      else toApp(m.body);
    } else if (m.response === "end") {
      if (appSocket) appSocket.end();
      else if (upgrade) clientEnded = true;
      else app?.end();
    }
  };
  function toApp(body: Buffer): void {
    const sink = appSocket ?? app;
    if (!sink || sink.destroyed) return;
    inbound.carry(
      body,
      (b, done) => sink.write(b, () => done()),
      (f) => sink.once("drain", f),
    );
  }

  const stream: TunnelStream = c.conn.tunnel(
    onMessage,
    () => {
      const ready = drainWaiters.splice(0);
      for (const f of ready) f();
    },
    (err) => {
      if (finished) return;
      finished = true;
      if (err) log.warn({ err: err.message }, "tunnel ended by the server");
      release();
      app?.destroy();
      appSocket?.destroy();
    },
  );
  stream.write({ open: { instanceId: c.instanceId, session: c.session } });
  if (!counted) {
    log.warn({ max: c.limits.maxRequests }, "URL service request refused: too many in progress");
    finish({ error: `busy: ${c.limits.maxRequests} requests in progress (WAYPOINT_CEB_URL_MAX_REQUESTS)` });
  }
}
