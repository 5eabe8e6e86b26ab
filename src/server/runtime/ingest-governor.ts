import type { ServerLogger } from "../logger.js";

/**
 * Back-pressure on log ingestion, so that a fleet sending logs as fast as it can does not starve
 * every other call of the event loop they all share.
 *
 * The server reads each entrypoint's log stream as fast as it comes. With 10,000 entrypoints
 * flooding, one turn of the event loop took seconds (every ready connection's data decoded and
 * stored), and a unary call such as GetInventory waited that long for each of its turns. The
 * governor watches the loop's delay and lets only so many log streams flow at once: too slow a
 * loop cuts that number (by half, or by as much as the loop was too slow), a quick one raises it
 * again by a few (or a quarter), once what the last change did has had time to show (`growMs`; multiplicative decrease, slower increase, as TCP does with its window). A paused stream is a paused grpc-js call: nothing more is read from
 * it, its HTTP/2 window closes and the entrypoint holds its lines (its own buffer is bounded, and
 * it reports what it had to drop). Paused streams take turns: while some wait, those that flowed
 * for `quantumMs` give way to them, an eighth of those flowing (at least `minFlowing`) at a time. Without load every stream flows and the governor
 * does nothing but sample the loop.
 */

/** What the governor needs of a stream: grpc-js's server call is one. */
export interface Governed {
  pause(): void;
  resume(): void;
}

export interface IngestGovernorOptions {
  /** The loop delay above which fewer streams may flow (ms). */
  readonly highMs?: number;
  /** The loop delay under which more streams may flow (ms). */
  readonly lowMs?: number;
  /** How often the loop's delay is looked at (ms). */
  readonly sampleMs?: number;
  /** How long a stream flows before it gives way to a waiting one (ms). */
  readonly quantumMs?: number;
  /** The fewest streams that always flow. */
  readonly minFlowing?: number;
  /**
   * How long the limit stays put after it changed before it may grow again (ms): long enough for the
   * streams let go last to show in the loop's delay, so that the limit does not overshoot.
   */
  readonly growMs?: number;
  readonly logger?: ServerLogger;
  /** For tests: the clock (ms). */
  readonly now?: () => number;
}

export class IngestGovernor {
  /** Flowing streams, by when they last started to flow (oldest first). */
  private readonly flowing = new Map<Governed, number>();
  /** Paused streams, in the order they will flow again. */
  private readonly waiting = new Set<Governed>();
  /** How many may flow; Infinity until the loop is first found slow. */
  private limit = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  /** When the loop was last looked at. */
  private lastLook = 0;
  /** When the limit last changed. */
  private lastChange = Number.NEGATIVE_INFINITY;
  /** Whether the last report said streams were held back (one log line per episode). */
  private holding = false;
  /** When the last warning was logged, and whether its episode's end is yet to be. */
  private warnedAt: number | undefined;
  private reported = false;
  private readonly o: Required<Omit<IngestGovernorOptions, "logger">> & { logger?: ServerLogger };

  constructor(opts: IngestGovernorOptions = {}) {
    this.o = {
      highMs: opts.highMs ?? 40,
      lowMs: opts.lowMs ?? 15,
      sampleMs: opts.sampleMs ?? 25,
      quantumMs: opts.quantumMs ?? 250,
      minFlowing: opts.minFlowing ?? 16,
      growMs: opts.growMs ?? 100,
      now: opts.now ?? (() => performance.now()),
      ...(opts.logger ? { logger: opts.logger } : {}),
    };
  }

  /** Starts looking at the event loop's delay every `sampleMs`. */
  start(): void {
    if (this.timer) return;
    this.lastLook = this.o.now();
    this.timer = setInterval(() => {
      const now = this.o.now();
      // Just after a look from the data path the timer's lateness is that same long turn: no news.
      if (now - this.lastLook >= this.o.sampleMs) this.look(now);
    }, this.o.sampleMs);
    this.timer.unref();
  }

  /**
   * Stops looking. Held streams stay held: the server is stopping, and what their entrypoints still
   * hold goes to the server they reconnect to, where lines taken now would be lost with this one's memory.
   */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Called as log data is taken. The timer alone is not enough: under a flood one poll phase of the
   * loop can read sockets for seconds (libuv takes up to 48 × 1024 ready events before it runs
   * timers), so the data path itself notices that the timer is overdue.
   */
  taking(): void {
    if (!this.timer) return;
    const now = this.o.now();
    if (now - this.lastLook > this.o.sampleMs + this.o.highMs) this.look(now);
  }

  /** How late this look is against the timer's period: the loop's delay since the last one. */
  private look(now: number): void {
    const delayMs = Math.max(0, now - this.lastLook - this.o.sampleMs);
    this.lastLook = now;
    this.observe(delayMs);
  }

  /** A stream to govern; returns the function to call once it ended (or failed). */
  add(stream: Governed): () => void {
    if (this.flowing.size < this.limit) this.flowing.set(stream, this.o.now());
    else {
      stream.pause();
      this.waiting.add(stream);
    }
    return () => {
      this.flowing.delete(stream);
      this.waiting.delete(stream);
    };
  }

  /** Streams flowing and waiting (for tests and the status of the server). */
  get counts(): { flowing: number; waiting: number; limit: number } {
    return { flowing: this.flowing.size, waiting: this.waiting.size, limit: this.limit };
  }

  /** One look at the loop: `delayMs` is the worst delay since the last one. */
  observe(delayMs: number): void {
    const total = this.flowing.size + this.waiting.size;
    if (delayMs > this.o.highMs) {
      // At least halved, and more the slower the loop was: a turn that took seconds is seen only once
      // in those seconds, and halving each time would take many of them to get the loop back.
      const factor = Math.min(0.5, this.o.highMs / delayMs);
      this.limit = Math.max(this.o.minFlowing, Math.floor(Math.min(this.limit, this.flowing.size) * factor));
      this.lastChange = this.o.now();
    } else if (
      delayMs < this.o.lowMs &&
      Number.isFinite(this.limit) &&
      this.o.now() - this.lastChange >= this.o.growMs
    ) {
      // More once what the last change did has shown: `minFlowing`, or a quarter more when that is more.
      // Each stream let go brings what it holds at once (with log credit, little); after a long cut,
      // growing by `minFlowing` alone took a minute to let 10,000 idle streams flow, turning them all
      // the while.
      this.limit += Math.max(this.o.minFlowing, Math.floor(this.limit / 4));
      this.lastChange = this.o.now();
      // Every stream fits: back to no limit at all.
      if (this.limit >= total) this.limit = Number.POSITIVE_INFINITY;
    }
    // Over the limit: the streams that flowed longest wait.
    for (const [s] of this.flowing) {
      if (this.flowing.size <= this.limit) break;
      this.hold(s);
    }
    // Turns: those that flowed for a quantum give way to as many waiting ones, a few a look (each
    // stream let go brings what it holds at once).
    const now = this.o.now();
    const due: Governed[] = [];
    const turns = Math.min(this.waiting.size, Math.max(this.o.minFlowing, Math.ceil(this.flowing.size / 8)));
    for (const [s, since] of this.flowing) {
      if (due.length >= turns || now - since < this.o.quantumMs) break;
      due.push(s);
    }
    const released = [...this.take(due.length)];
    for (const s of due) this.hold(s);
    for (const s of released) this.release(s, now);
    // Room under the limit: the longest waiting flow again.
    const room = Number.isFinite(this.limit) ? this.limit - this.flowing.size : this.waiting.size;
    for (const s of [...this.take(room)]) this.release(s, now);
    this.report();
  }

  private *take(n: number): Generator<Governed> {
    let i = 0;
    for (const s of this.waiting) {
      if (i++ >= n) return;
      yield s;
    }
  }

  private hold(s: Governed): void {
    this.flowing.delete(s);
    s.pause();
    this.waiting.add(s);
  }

  private release(s: Governed, now: number): void {
    this.waiting.delete(s);
    this.flowing.set(s, now);
    s.resume();
  }

  /**
   * One warning per episode, and at most one a minute: a mid-size fleet holds streams back for a
   * moment at every long collection or snapshot, which is not worth a warning each time. The info
   * line that all flow again follows only an episode that was reported.
   */
  private report(): void {
    const holding = this.waiting.size > 0;
    if (holding === this.holding) return;
    this.holding = holding;
    const now = this.o.now();
    if (holding) {
      if (this.warnedAt !== undefined && now - this.warnedAt < 60_000) return;
      this.warnedAt = now;
      this.reported = true;
      this.o.logger?.warn(
        { flowing: this.flowing.size, waiting: this.waiting.size },
        "the event loop is busy: log streams take turns until it is not",
      );
    } else if (this.reported) {
      this.reported = false;
      this.o.logger?.info("log streams all flow again");
    }
  }
}
