/** Why lines were dropped: the buffer was full, or the app wrote faster than the shipping rate limit. */
export type DropReason = "full" | "rate";

/** Where a chunk of output came from. */
export type OutputSource = "stdout" | "stderr";

/** A run of whole lines (or a piece of an over-long line) the child wrote, as read. */
export interface OutputChunk {
  readonly source: OutputSource;
  readonly data: Buffer;
  /** RFC 3339 with milliseconds: when the entrypoint read it. */
  readonly at: string;
}

/**
 * The bounded queue between the child's output and the log stream. It holds
 * at most `limitBytes` of chunk data; past that, the oldest chunks are
 * dropped and their lines counted, so the loss is reported, never silent.
 * Lines are counted only when dropped: the fast path does no per-line work.
 */
export class LogBuffer {
  private chunks: OutputChunk[] = [];
  private head = 0;
  private size = 0;
  private dropped = 0;
  /** Called with the number of lines of each loss and why, for the entrypoint's own log. */
  onDrop: (lines: number, why: DropReason) => void = () => {};

  constructor(private readonly limitBytes: number) {}

  get bytes(): number {
    return this.size;
  }

  /** Lines dropped and not yet taken by `takeDropped`. */
  get droppedLines(): number {
    return this.dropped;
  }

  push(chunk: OutputChunk): void {
    if (chunk.data.length > this.limitBytes) chunk = this.trim(chunk);
    if (chunk.data.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.data.length;
    if (this.size <= this.limitBytes) return;
    let lines = 0;
    while (this.size > this.limitBytes && this.head < this.chunks.length) {
      const old = this.chunks[this.head]!;
      this.chunks[this.head] = undefined as unknown as OutputChunk;
      this.head += 1;
      this.size -= old.data.length;
      lines += countLines(old.data);
    }
    this.compact();
    this.dropped += lines;
    this.onDrop(lines, "full");
  }

  /** Counts a chunk that is not kept at all (over the rate limit) as dropped. */
  drop(data: Buffer, why: DropReason): void {
    const lines = countLines(data);
    this.dropped += lines;
    this.onDrop(lines, why);
  }

  /** Keeps the newest whole lines of a chunk larger than the whole buffer; the rest counts as dropped. */
  private trim(chunk: OutputChunk): OutputChunk {
    const from = chunk.data.length - this.limitBytes;
    const cut = chunk.data[from - 1] === 10 ? from : chunk.data.indexOf(10, from) + 1;
    const lost = chunk.data.subarray(0, cut === 0 ? chunk.data.length : cut);
    const lines = countLines(lost);
    this.dropped += lines;
    this.onDrop(lines, "full");
    return { ...chunk, data: chunk.data.subarray(lost.length) };
  }

  /** Removes and returns the oldest chunks, up to `maxBytes` of data (at least one chunk if any). */
  take(maxBytes: number): OutputChunk[] {
    const out: OutputChunk[] = [];
    let taken = 0;
    while (this.head < this.chunks.length) {
      const next = this.chunks[this.head]!;
      if (out.length > 0 && taken + next.data.length > maxBytes) break;
      out.push(next);
      this.chunks[this.head] = undefined as unknown as OutputChunk;
      this.head += 1;
      taken += next.data.length;
      this.size -= next.data.length;
    }
    this.compact();
    return out;
  }

  /** The count of dropped lines not reported yet, and resets it. */
  takeDropped(): number {
    const n = this.dropped;
    this.dropped = 0;
    return n;
  }

  private compact(): void {
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
  }
}

/** Lines in a chunk: its newlines, plus one for a trailing piece without one. */
export function countLines(data: Buffer): number {
  let n = 0;
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) n += 1;
  if (data.length > 0 && data[data.length - 1] !== 10) n += 1;
  return n;
}

/**
 * A token bucket over bytes: `rate` bytes per second, up to `burst` at once.
 * It bounds what a log flood costs the server (and, on a shared machine, the
 * app's CPU): what is over it is dropped and counted. rate 0: no limit.
 */
export class RateLimit {
  private tokens: number;
  private last = performance.now();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(bytes: number): boolean {
    if (this.rate === 0) return true;
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}
