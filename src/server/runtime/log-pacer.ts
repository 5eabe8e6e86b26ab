/**
 * Credit for paced log streams (proto: paces_logs, LogCredit): how much log data each entrypoint
 * may have sent on its log stream, so that what the whole fleet can send before the server reads it
 * is bounded by the server, not by 64 KiB of HTTP/2 window per stream.
 *
 * Why: the ingest governor holds log streams back while the event loop is busy, but a held stream
 * has its HTTP/2 window open, and so has every idle one. When 10,000 entrypoints started sending
 * at once, ~640 MB came in before any stream could be held, and Node read it all in turns of
 * seconds, every other call waiting behind them. With credit, an idle stream holds `baseBytes`
 * (1 KiB: a burst of a quiet app's lines goes at once), and only streams that use their credit
 * get more: at each top-up their window is their fair share of a budget for the whole server
 * (`budgetBytes` beyond every stream's base) among the streams that send, up to `maxBytes`. A
 * stream the governor holds gets no more credit until it flows again, and one that sent nothing for
 * a sweep (`sweepMs`) goes back to its base. So the credit not yet used is at most `budgetBytes` plus
 * `baseBytes` per stream, whatever the fleet does; what a held stream sent before it was held, and
 * the server has not read, stays bounded by its HTTP/2 window, as before.
 *
 * The credit is cumulative (a limit on bytes since the stream's start), which is robust to
 * messages crossing: the entrypoint always acts on the newest limit it has.
 */

export interface LogPacerOptions {
  /** Credit beyond every stream's base, for the whole server (bytes). */
  readonly budgetBytes?: number;
  /** Credit every stream may hold whatever the budget (bytes). */
  readonly baseBytes?: number;
  /** The most credit one stream may hold (bytes). */
  readonly maxBytes?: number;
  /** How often idle streams give back their credit beyond the base, and senders are counted (ms). */
  readonly sweepMs?: number;
}

/** One paced log stream, as the pacer sees it. */
export interface PacedLog {
  readonly instance: string;
  /** The stream's number (EntrypointLogBatch.stream). */
  readonly stream: number;
  /** Log data taken from it so far (bytes). */
  taken: number;
  /** The limit last sent. */
  limit: number;
  /** The credit it is topped up to. */
  window: number;
  /** False while the governor holds it. */
  flowing: boolean;
  /** Whether data was taken from it since the last sweep. */
  sent: boolean;
}

/** Sends a credit to the stream's entrypoint (on its config stream); false when that is gone. */
export type SendCredit = (p: PacedLog, limit: number) => boolean;

export class LogPacer {
  private readonly o: Required<LogPacerOptions>;
  private readonly streams = new Set<PacedLog>();
  /** The newest paced stream of each instance, to send its credit again on a new config stream. */
  private readonly byInstance = new Map<string, PacedLog>();
  /** Credit granted beyond the streams' bases, not yet used (bytes). */
  private extra = 0;
  private flowingCount = 0;
  /** Streams that sent during the last sweep's period: the budget's fair share is among them. */
  private senders = 0;
  /** Whether a sweep has counted the senders yet. */
  private swept = false;
  /** Credits sent (for tests and the bench). */
  private sentCredits = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly send: SendCredit,
    opts: LogPacerOptions = {},
  ) {
    this.o = {
      budgetBytes: opts.budgetBytes ?? 2 * 1024 * 1024,
      baseBytes: opts.baseBytes ?? 1024,
      maxBytes: opts.maxBytes ?? 1024 * 1024,
      sweepMs: opts.sweepMs ?? 1000,
    };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), this.o.sweepMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Counts the streams that sent since the last sweep, and lowers the credit of those that did not to
   * their base (a lower limit is a credit too: the entrypoint acts on the newest), so that credit a
   * burst left unused goes back to the budget. Held streams too: a held stream's credit would otherwise
   * keep the budget from the streams that flow. What it had sent before it was held is not taken back;
   * that stays bounded by its HTTP/2 window.
   */
  sweep(): void {
    const { baseBytes } = this.o;
    let senders = 0;
    for (const p of this.streams) {
      if (p.sent) {
        senders += 1;
        p.sent = false;
        continue;
      }
      if (p.window <= baseBytes) continue;
      const limit = p.taken + baseBytes;
      if (limit >= p.limit) {
        p.window = baseBytes;
        continue;
      }
      this.setLimit(p, limit);
      p.window = baseBytes;
    }
    this.senders = senders;
    this.swept = true;
  }

  /**
   * The instance has a new config stream (its entrypoint reconnected it): the credit of its paced log
   * stream is sent again there, in case the last one was lost with the old stream.
   */
  reattached(instance: string): void {
    const p = this.byInstance.get(instance);
    if (!p || !this.streams.has(p)) return;
    if (p.limit > 0 && this.send(p, p.limit)) this.sentCredits += 1;
    if (p.flowing && p.limit - p.taken <= p.window / 2) this.topUp(p, p.taken > 0);
  }

  /** A paced stream opened; it gets its base credit at once when it flows. */
  open(instance: string, stream: number, flowing: boolean): PacedLog {
    const p: PacedLog = {
      instance,
      stream,
      taken: 0,
      limit: 0,
      window: this.o.baseBytes,
      flowing,
      sent: false,
    };
    this.streams.add(p);
    this.byInstance.set(instance, p);
    if (flowing) {
      this.flowingCount += 1;
      this.topUp(p);
    }
    return p;
  }

  /** `bytes` of log data were taken from the stream: topped up once half its credit is used. */
  took(p: PacedLog, bytes: number): void {
    if (!this.streams.has(p)) return;
    const before = this.extraOf(p);
    p.taken += bytes;
    if (bytes > 0) p.sent = true;
    this.extra += this.extraOf(p) - before;
    if (p.flowing && p.limit - p.taken <= p.window / 2) this.topUp(p, true);
  }

  /** The governor holds the stream: no more credit until `release`. */
  hold(p: PacedLog): void {
    if (!this.streams.has(p) || !p.flowing) return;
    p.flowing = false;
    this.flowingCount -= 1;
  }

  /**
   * The stream flows again: topped up if it needs it, at once to its fair share when it has sent
   * (it was let go to take its turn, and a turn is short: growing from the base would take most of it).
   */
  release(p: PacedLog): void {
    if (!this.streams.has(p) || p.flowing) return;
    p.flowing = true;
    this.flowingCount += 1;
    // `sent` is set only with data taken, so `taken > 0` covers it.
    if (p.limit - p.taken <= p.window / 2) this.topUp(p, p.taken > 0);
  }

  /** The stream ended: its unused credit goes back to the budget. */
  close(p: PacedLog): void {
    if (!this.streams.delete(p)) return;
    if (this.byInstance.get(p.instance) === p) this.byInstance.delete(p.instance);
    this.extra -= this.extraOf(p);
    if (p.flowing) this.flowingCount -= 1;
  }

  /** For tests and the bench: the streams, the credit beyond their bases, those flowing and the last sweep's senders. */
  get counts(): { streams: number; extraBytes: number; flowing: number; senders: number; credits: number } {
    return {
      streams: this.streams.size,
      extraBytes: this.extra,
      flowing: this.flowingCount,
      senders: this.senders,
      credits: this.sentCredits,
    };
  }

  private extraOf(p: PacedLog): number {
    return Math.max(0, p.limit - p.taken - this.o.baseBytes);
  }

  /**
   * Raises the stream's limit to `taken + window`. The window stays, or (`share`: a stream that used its
   * credit, or one the governor let go that had sent) becomes the fair share of the budget among the
   * streams that sent during the last sweep's period and flow. It is at most `maxBytes` and what the
   * budget has left, and never below the base.
   */
  private topUp(p: PacedLog, share = false): void {
    const { baseBytes, budgetBytes, maxBytes } = this.o;
    const mine = this.extraOf(p);
    const left = budgetBytes - (this.extra - mine);
    // Before a sweep has counted the senders, every flowing stream is counted as one.
    const sharing = Math.max(1, Math.min(this.swept ? this.senders : this.flowingCount, this.flowingCount));
    const fair = Math.max(baseBytes, Math.floor(budgetBytes / sharing));
    p.window = Math.max(baseBytes, Math.min(share ? fair : p.window, maxBytes, baseBytes + left));
    const limit = p.taken + p.window;
    if (limit > p.limit) this.setLimit(p, limit);
  }

  /** Sends `limit` as the stream's credit and counts it as given, unless it could not be sent. */
  private setLimit(p: PacedLog, limit: number): void {
    if (!this.send(p, limit)) return;
    this.sentCredits += 1;
    const before = this.extraOf(p);
    p.limit = limit;
    this.extra += this.extraOf(p) - before;
  }
}
