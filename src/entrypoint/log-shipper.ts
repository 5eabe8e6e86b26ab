import type { LogStream } from "../client/entrypoint-connection.js";
import type { LogAllowance } from "./log-allowance.js";
import type { DropReason, LogBuffer } from "./log-buffer.js";
import type { EntrypointLogger } from "./logger.js";

/** Most data in one EntrypointLogBatch: well under the server's 4 MiB message limit. */
export const BATCH_BYTES = 256 * 1024;

/**
 * Moves chunks from the bounded LogBuffer to the current log stream: batches
 * of up to BATCH_BYTES when `flushMs` has passed since the first unsent
 * chunk, and only while the stream takes more (after a `false`
 * write it waits for drain) and, on a stream the server paces, only as far as
 * its credit allows (LogAllowance). The child's output never waits for it: while the
 * stream is away or slow the buffer fills and drops its oldest lines.
 */
export class LogShipper {
  private stream: LogStream | undefined;
  /** The current stream's credit, when the server paces it. */
  private allowance: LogAllowance | undefined;
  private first = true;
  private blocked = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly buffer: LogBuffer,
    private readonly instanceId: string,
    private readonly flushMs: number,
    private readonly logger: EntrypointLogger,
  ) {
    const reported = new Set<DropReason>();
    buffer.onDrop = (lines, why) => {
      // Once per episode and reason in the log here; the count is logged when it is reported to the server.
      if (reported.has(why)) return;
      reported.add(why);
      if (why === "full")
        logger.warn({ lines }, "log buffer full: dropping the oldest lines until the server takes more");
      else
        logger.warn(
          { lines },
          "the app writes faster than the log rate limit: dropping lines from the log stream",
        );
    };
    this.resetDropNotice = () => reported.clear();
  }

  private readonly resetDropNotice: () => void;

  /** A chunk was added to the buffer. */
  notify(): void {
    if (!this.stream || this.blocked || this.timer) return;
    // Only on the timer, even when a batch's worth is waiting: under a flood the shipping then runs ten
    // times a second instead of between every two reads of the app's output.
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushMs);
  }

  /**
   * A new log stream is open: the first batch on it names the instance (and, when the server paces
   * it, the stream's number; nothing more goes until its first credit).
   */
  attach(stream: LogStream, allowance?: LogAllowance): void {
    this.stream = stream;
    this.allowance = allowance;
    this.first = true;
    this.blocked = false;
    // Tells the server the instance is here at once, and sends what waited during the outage.
    this.write([]);
    this.flush();
  }

  /** The stream is gone; chunks wait in the buffer (bounded) for the next one. */
  detach(): void {
    this.stream = undefined;
    this.allowance = undefined;
    this.blocked = false;
    this.clearTimers();
  }

  /** A LogCredit from the server: ignored unless it is for the current stream. */
  credit(stream: number, limit: number): void {
    if (!this.stream || this.allowance?.stream !== stream) return;
    this.allowance.grant(limit);
    if (!this.blocked) this.flush();
  }

  /** The stream drained: send what waits. */
  drained(): void {
    if (!this.stream) return;
    this.blocked = false;
    this.flush();
  }

  /** Sends batches until the buffer is empty or the stream pushes back. */
  flush(): void {
    this.clearTimers();
    while (this.stream && !this.blocked) {
      const room = this.allowance ? this.allowance.room : BATCH_BYTES;
      if (room <= 0) return;
      const chunks = this.buffer.take(Math.min(room, BATCH_BYTES));
      if (chunks.length === 0 && this.buffer.droppedLines === 0) return;
      this.write(chunks);
    }
  }

  private write(chunks: ReturnType<LogBuffer["take"]>): void {
    const stream = this.stream;
    if (!stream) return;
    const dropped = this.buffer.takeDropped();
    if (dropped > 0) {
      this.logger.warn({ droppedLines: dropped }, "log lines were dropped while the server was away or slow");
      this.resetDropNotice();
    }
    const ok = stream.write({
      ...(this.first ? { instanceId: this.instanceId, stream: this.allowance?.stream ?? 0 } : {}),
      chunks,
      droppedLines: dropped,
    });
    if (this.allowance) {
      let bytes = 0;
      for (const c of chunks) bytes += c.data.length;
      this.allowance.spend(bytes);
    }
    this.first = false;
    if (!ok) this.blocked = true;
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
