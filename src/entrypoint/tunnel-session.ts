import { Agent, type ClientRequest, type IncomingMessage, request } from "node:http";
import { createConnection, type NetConnectOpts, type Socket } from "node:net";
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
  /** Connections to the app, kept open between requests as a reverse proxy keeps its upstream's. */
  readonly agent: Agent;

  constructor(
    readonly maxRequests: number,
    readonly maxBytes: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: Math.max(1, maxRequests), maxFreeSockets: 8 });
  }

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
  /** Runs once the tunnel is over. */
  readonly onDone: () => void;
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
  private draining = false;
  private waitingForBudget = false;

  constructor(
    private readonly source: Source,
    private readonly limits: TunnelLimits,
  ) {}

  /**
   * Hands `chunk` to `write` (a sink's write: false when full, `done` once taken) and pauses the
   * source as needed; `onDrain` registers for the sink's next drain.
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
    // One wait per cause, however many chunks arrive before the source has stopped.
    if (!accepted && !this.draining) {
      this.draining = true;
      this.hold();
      onDrain(() => {
        this.draining = false;
        this.release();
      });
    }
    if (!roomy && !this.waitingForBudget) {
      this.waitingForBudget = true;
      this.hold();
      this.limits.whenFree(() => {
        this.waitingForBudget = false;
        this.release();
      });
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
 * head, body and end back. An upgrade (WebSocket) carries raw bytes both ways after the app's 101, each
 * side's end passed on (half-close) until the app's socket closes. The entrypoint opens no listener: the
 * tunnel is a call on its own outbound connection.
 *
 * Errors sent to the server: "busy" (over WAYPOINT_CEB_URL_MAX_REQUESTS), "refused" (nothing listens
 * on the port), "timeout" (no response head in time, counted from the end of the request), or another
 * reason.
 */
export function runTunnelSession(c: TunnelContext): (() => void) | undefined {
  const log = c.logger.child({ session: c.session });
  const drainWaiters: (() => void)[] = [];
  let finished = false;
  let endSent = false;
  let app: ClientRequest | undefined;
  let appSocket: Socket | undefined;
  let headTimer: NodeJS.Timeout | undefined;
  let upgrade = false;
  const pumps: Pump[] = [];

  const counted = c.limits.active < c.limits.maxRequests;
  if (counted) c.limits.active++;

  const release = () => {
    clearTimeout(headTimer);
    for (const p of pumps) p.close();
    if (counted) c.limits.active--;
    c.onDone();
  };

  /**
   * Ends the tunnel; `last` is the final message, if one is still due. A request to the app that is
   * complete both ways leaves its connection to the agent; anything else is cut.
   */
  const finish = (last?: { end: true } | { error: string }) => {
    if (finished) return;
    finished = true;
    release();
    if (last && !("end" in last && endSent)) stream.write(last);
    stream.end();
    if (!(last && "end" in last && app?.writableFinished && !upgrade)) app?.destroy();
    appSocket?.destroy();
  };

  const startHeadTimer = () => {
    if (headTimer || finished) return;
    headTimer = setTimeout(() => finish({ error: "timeout" }), c.responseTimeoutMs);
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
    let req: ClientRequest;
    try {
      req = request({
        host: "127.0.0.1",
        port: c.port,
        method: head.method,
        path: head.path,
        headers: head.headers.flatMap((h) => [h.name, h.value]),
        // An upgraded connection is the client's own, and passes each side's end on (the app may end
        // first and still read); other requests share the kept-alive connections.
        ...(head.upgrade
          ? {
              createConnection: (o: object) =>
                createConnection({ ...(o as NetConnectOpts), allowHalfOpen: true }),
            }
          : { agent: c.limits.agent }),
      });
    } catch (err) {
      finish({ error: `the request cannot be made: ${(err as Error).message}` });
      return;
    }
    app = req;
    upgrade = head.upgrade;
    // An upgrade request has no body: its head goes now, and bytes flow once the app answers 101.
    if (head.upgrade) {
      req.end();
      startHeadTimer();
    }
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
      socket.on("data", (chunk: Buffer) => sendBody(pump, chunk));
      // The app is done sending: the client hears it, and may still send until the socket closes.
      socket.on("end", () => {
        if (finished || endSent) return;
        endSent = true;
        stream.write({ end: true });
      });
      socket.on("error", (err: NodeJS.ErrnoException) => finish({ error: err.code ?? err.message }));
      socket.on("close", () => finish({ end: true }));
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
      // The server sends an upgrade's bytes only after the app's 101: before it there is nowhere to put them.
      const sink = appSocket ?? (upgrade ? undefined : app);
      if (!sink || sink.destroyed) return;
      inbound.carry(
        m.body,
        (b, done) => sink.write(b, () => done()),
        (f) => sink.once("drain", f),
      );
    } else if (m.response === "end") {
      if (appSocket) appSocket.end();
      else if (app && !upgrade) {
        app.end();
        // The app's time to answer counts from the end of the request.
        startHeadTimer();
      }
    }
  };

  const stream: TunnelStream = c.conn.tunnel(
    onMessage,
    () => {
      const ready = drainWaiters.splice(0);
      for (const f of ready) f();
    },
    (err) => {
      if (finished) return;
      if (err) log.warn({ err: err.message }, "tunnel ended by the server");
      finish();
    },
  );
  stream.write({ open: { instanceId: c.instanceId, session: c.session } });
  if (!counted) {
    log.warn({ max: c.limits.maxRequests }, "URL service request refused: too many in progress");
    finish({ error: `busy: ${c.limits.maxRequests} requests in progress (WAYPOINT_CEB_URL_MAX_REQUESTS)` });
    return undefined;
  }
  // The server says the client went away: the call is dropped at once (it may be held back by flow
  // control, so its own end could not arrive).
  return () => {
    if (finished) return;
    log.debug({}, "URL service request cancelled: the client went away");
    finish();
    stream.cancel();
  };
}
