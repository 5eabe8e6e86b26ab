/**
 * App output in memory: one buffer per instance, bounded in bytes, oldest
 * dropped first, and all buffers together bounded too (largest buffer first).
 * Ingest stores each chunk as it came (one object per chunk, not per line);
 * lines are split only when read. Followers get new lines in batches, each
 * with a bounded backlog of its own.
 */

import { type Sized, SizeHeap } from "./size-heap.js";

/** Accounted per stored chunk on top of its bytes, so that many tiny chunks are bounded too. */
const CHUNK_OVERHEAD_BYTES = 64;

/**
 * How a stored chunk keeps its bytes: as a string, one character per byte (latin1, lossless), in V8's heap,
 * not as an ArrayBuffer. V8 starts a full collection whenever ArrayBuffer memory has grown by 64 MB since the
 * last; log data kept in ArrayBuffers did that every second or two under a fleet's log flood, and each full
 * collection marks the whole heap (its streams' state) on the one core. A string is data V8 need not trace,
 * counted in the heap, whose limit grows with it. It is decoded as UTF-8 when read, line by line as before.
 * (Node keeps a string of more than ~1 MB outside the heap, as external memory again; a chunk is that large
 * only with a -log-buffer-bytes and a batch of that size, not under a fleet of entrypoints.)
 */
const toStored = (data: Buffer): string => data.toString("latin1");

export interface LogLineOut {
  readonly instance: string;
  readonly source: string;
  readonly line: string;
  /** RFC 3339 with milliseconds. */
  readonly at: string;
}

interface Chunk {
  readonly source: string;
  /** The chunk's bytes, one character each (`toStored`): its length is its size in bytes. */
  readonly data: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** Arrival order across every buffer: ties of `at` keep it. */
  readonly seq: number;
}

/** Where output comes from. */
export interface LogOrigin {
  readonly instance: string;
  readonly app: string;
  readonly deployment: string;
}

class InstanceBuffer implements Sized {
  chunks: Chunk[] = [];
  head = 0;
  /** Accounted bytes of the live chunks: their data plus CHUNK_OVERHEAD_BYTES each. */
  bytes = 0;
  heapIndex = -1;
  lastActivity: number;

  constructor(
    readonly origin: LogOrigin,
    now: number,
  ) {
    this.lastActivity = now;
  }

  /** Adds a chunk of at most `limit` bytes, accounting included, then drops the oldest until within it. */
  push(chunk: Chunk, limit: number): void {
    this.chunks.push(chunk);
    this.bytes += chunk.data.length + CHUNK_OVERHEAD_BYTES;
    while (this.bytes > limit && this.head < this.chunks.length - 1) this.dropOldest();
  }

  /** Drops the oldest live chunk (the buffer must hold one); returns the bytes it accounted for. */
  dropOldest(): number {
    const old = this.chunks[this.head]!;
    const cost = old.data.length + CHUNK_OVERHEAD_BYTES;
    this.bytes -= cost;
    this.chunks[this.head] = undefined as unknown as Chunk;
    this.head += 1;
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return cost;
  }

  live(): Chunk[] {
    return this.chunks.slice(this.head);
  }
}

/** Which instances a reader wants. */
export type InstanceFilter = (origin: LogOrigin) => boolean;

export interface Follower {
  /** New lines for this follower, in arrival order. */
  deliver(lines: readonly LogLineOut[]): void;
}

/**
 * The server-wide bound (`totalBytes`, -log-buffer-total): `total` is the sum of every buffer's `bytes`,
 * kept up to date on each change, and an append that takes it over the bound drops the oldest chunks of
 * the largest buffer, then of whichever is largest then, until it is within the bound again. A flooding
 * instance thus pays for its own flood (its buffer is the largest), and a quiet instance loses lines only
 * once every buffer is down to its size: a buffer loses a chunk only while it is the largest, hence only
 * while it holds more than bound / number of buffers. The largest buffer comes from a max-heap indexed by
 * buffer, updated once per append and once per dropped chunk, O(log n) each; nothing scans all buffers.
 * Followers lose nothing by it: they got each line as it arrived, and only what `read` finds (logs without
 * -f, and the backlog logs -f starts with) is shorter. Like the per-instance bound, dropping is silent: no
 * `waypoint` line says so (it would take room too).
 */
export class LogHub {
  private readonly buffers = new Map<string, InstanceBuffer>();
  private readonly bySize = new SizeHeap<InstanceBuffer>();
  private readonly followers = new Map<Follower, InstanceFilter>();
  private seq = 0;
  /** Accounted bytes of all buffers: the sum of their `bytes`. */
  private total = 0;

  constructor(
    private readonly opts: {
      /** Per-instance limit. */
      readonly bufferBytes: number;
      /** Limit of all buffers together; absent: only the per-instance limit. */
      readonly totalBytes?: number;
      readonly now?: () => number;
    },
  ) {}

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /**
   * Stores a chunk of whole lines (a trailing partial line counts as a line) read by the instance
   * at `at` (RFC 3339; the server's time when unreadable).
   */
  append(origin: LogOrigin, source: string, data: Buffer, at: string): void {
    if (data.length === 0) return;
    const parsed = Date.parse(at);
    const b = this.bufferOf(origin);
    // A chunk larger than the whole buffer is stored cut; followers still get all of it (below).
    const kept = endOf(data, this.opts.bufferBytes - CHUNK_OVERHEAD_BYTES);
    const chunk: Chunk = {
      source,
      data: toStored(kept),
      at: Number.isNaN(parsed) ? this.now() : parsed,
      seq: ++this.seq,
    };
    const before = b.bytes;
    b.push(chunk, this.opts.bufferBytes);
    this.total += b.bytes - before;
    this.bySize.update(b);
    this.withinTotal();
    if (this.followers.size > 0) {
      let lines: LogLineOut[] | undefined;
      for (const [f, filter] of this.followers) {
        if (!filter(origin)) continue;
        lines ??= linesOf(origin.instance, kept === data ? chunk : { ...chunk, data: toStored(data) });
        f.deliver(lines);
      }
    }
  }

  /** A line the server adds itself (source "waypoint"), at `at` (default now). */
  note(origin: LogOrigin, text: string, at?: string): void {
    this.append(origin, "waypoint", Buffer.from(`${text}\n`), at ?? new Date(this.now()).toISOString());
  }

  /** Marks the instance as active now (its config stream closed, or it sent logs). */
  touch(instance: string): void {
    const b = this.buffers.get(instance);
    if (b) b.lastActivity = this.now();
  }

  /** Buffered lines of the instances `filter` selects, ordered by time; the last `tail` when > 0. */
  read(filter: InstanceFilter, tail = 0): LogLineOut[] {
    const chunks: { instance: string; chunk: Chunk }[] = [];
    for (const b of this.buffers.values()) {
      if (!filter(b.origin)) continue;
      for (const chunk of b.live()) chunks.push({ instance: b.origin.instance, chunk });
    }
    chunks.sort((a, b) => a.chunk.at - b.chunk.at || a.chunk.seq - b.chunk.seq);
    if (tail <= 0) return chunks.flatMap((c) => linesOf(c.instance, c.chunk));
    // Split only as many chunks as the tail needs, from the end.
    const out: LogLineOut[][] = [];
    let n = 0;
    for (let i = chunks.length - 1; i >= 0 && n < tail; i--) {
      const lines = linesOf(chunks[i]!.instance, chunks[i]!.chunk);
      out.push(lines);
      n += lines.length;
    }
    return out
      .reverse()
      .flat()
      .slice(Math.max(0, n - tail));
  }

  follow(follower: Follower, filter: InstanceFilter): () => void {
    this.followers.set(follower, filter);
    return () => this.followers.delete(follower);
  }

  /** Drops the buffers of instances not connected and inactive for longer than `windowMs`. */
  prune(isConnected: (instance: string) => boolean, windowMs: number): string[] {
    const cutoff = this.now() - windowMs;
    const dropped: string[] = [];
    for (const [id, b] of this.buffers) {
      if (!isConnected(id) && b.lastActivity < cutoff) {
        this.forget(b);
        dropped.push(id);
      }
    }
    return dropped;
  }

  /** Bytes held for one instance (accounting included); 0 when it has no buffer. */
  bufferedBytes(instance: string): number {
    return this.buffers.get(instance)?.bytes ?? 0;
  }

  /** Bytes held for all instances together (accounting included). */
  totalBufferedBytes(): number {
    return this.total;
  }

  private bufferOf(origin: LogOrigin): InstanceBuffer {
    let b = this.buffers.get(origin.instance);
    if (!b || b.origin.deployment !== origin.deployment) {
      if (b) this.forget(b);
      b = new InstanceBuffer(origin, this.now());
      this.buffers.set(origin.instance, b);
      this.bySize.add(b);
    } else b.lastActivity = this.now();
    return b;
  }

  /** Removes a buffer and its bytes from the hub. */
  private forget(b: InstanceBuffer): void {
    this.buffers.delete(b.origin.instance);
    this.bySize.remove(b);
    this.total -= b.bytes;
  }

  /** Drops the oldest chunks of the largest buffers until the total is within `totalBytes` (see above). */
  private withinTotal(): void {
    const cap = this.opts.totalBytes ?? Number.POSITIVE_INFINITY;
    while (this.total > cap) {
      // total > 0, so the largest buffer holds a chunk.
      const largest = this.bySize.largest()!;
      this.total -= largest.dropOldest();
      this.bySize.update(largest);
    }
  }
}

/**
 * `data` when it fits in `keep` bytes; else its end, from a line start where there is one (a chunk larger than
 * a whole buffer).
 */
function endOf(data: Buffer, keep: number): Buffer {
  if (data.length <= keep) return data;
  let start = data.length - keep;
  const nl = data.indexOf(0x0a, start - 1);
  if (nl >= start - 1 && nl + 1 < data.length) start = nl + 1;
  return data.subarray(start);
}

/** Any byte past ASCII: the stored chunk is UTF-8 to decode, not text already. */
const NOT_ASCII = /[\u0080-\u00ff]/;

/** The chunk's lines: split at "\n"; a final line without "\n" is a line too. Decoded as UTF-8. */
function linesOf(instance: string, chunk: Chunk): LogLineOut[] {
  const at = new Date(chunk.at).toISOString();
  // "\n" is never part of a multi-byte sequence, so decoding the chunk whole gives each line as decoding it alone would.
  const text = NOT_ASCII.test(chunk.data) ? Buffer.from(chunk.data, "latin1").toString("utf8") : chunk.data;
  const out: LogLineOut[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    out.push({ instance, source: chunk.source, line: text.slice(start, end), at });
    start = end + 1;
  }
  return out;
}

/** Approximate wire size of a line, for batching and backlog bounds. */
export function lineBytes(l: LogLineOut): number {
  return l.line.length + l.instance.length + l.source.length + 40;
}
