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
 * It copies the data it keeps: a pushed chunk's buffer may be read into again.
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
    const data = chunk.data.length > this.limitBytes ? this.trim(chunk.data) : chunk.data;
    if (data.length === 0) return;
    this.chunks.push({ source: chunk.source, data: Buffer.from(data), at: chunk.at });
    this.size += data.length;
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
    if (lines === 0) return;
    this.dropped += lines;
    this.onDrop(lines, why);
  }

  /** Keeps the newest whole lines of a chunk larger than the whole buffer; the rest counts as dropped. */
  private trim(data: Buffer): Buffer {
    const from = data.length - this.limitBytes;
    const cut = data[from - 1] === 10 ? from : data.indexOf(10, from) + 1;
    const lost = data.subarray(0, cut === 0 ? data.length : cut);
    const lines = countLines(lost);
    this.dropped += lines;
    this.onDrop(lines, "full");
    return data.subarray(lost.length);
  }

  /**
   * Removes and returns the oldest chunks, up to `maxBytes` of data. A first chunk larger than that is
   * split after its last whole line that fits, or else after its first line, so something is always
   * taken when anything is held: at most one line more than `maxBytes`.
   */
  take(maxBytes: number): OutputChunk[] {
    const out: OutputChunk[] = [];
    let taken = 0;
    while (this.head < this.chunks.length) {
      let next = this.chunks[this.head]!;
      if (out.length === 0 && next.data.length > maxBytes) {
        const cut = wholeLinesCut(next.data, maxBytes);
        if (cut < next.data.length) {
          this.chunks[this.head] = { ...next, data: next.data.subarray(cut) };
          next = { ...next, data: next.data.subarray(0, cut) };
          this.size -= cut;
          out.push(next);
          return out;
        }
      }
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

/**
 * Where to cut `data` to take at most `maxBytes` of whole lines: after the last newline that fits, else
 * after the first one, else at its end.
 */
export function wholeLinesCut(data: Buffer, maxBytes: number): number {
  const last = maxBytes > 0 ? data.lastIndexOf(10, maxBytes - 1) : -1;
  if (last >= 0) return last + 1;
  const first = data.indexOf(10, Math.max(0, maxBytes));
  return first < 0 ? data.length : first + 1;
}

/** Lines in a chunk: its newlines, plus one for a trailing piece without one. */
export function countLines(data: Buffer): number {
  let n = countNewlines(data);
  if (data.length > 0 && data[data.length - 1] !== 10) n += 1;
  return n;
}

/**
 * The newlines in `data`. Under a log flood nearly every byte the app writes is dropped by the rate limit
 * and counted here, so this is most of what the log stream costs per byte: one `indexOf` per line costs a
 * call per ~100 bytes; the WebAssembly routine below looks at 16 bytes per instruction, in blocks copied
 * into its memory (≈2× faster on 64 KiB reads of ~120-byte lines). Without WebAssembly (--jitless), the
 * `indexOf` loop.
 */
export function countNewlines(data: Uint8Array): number {
  const counter = simdCounter === undefined ? loadSimdCounter() : simdCounter;
  if (counter === null || data.length < SIMD_MIN_BYTES) return countNewlinesByIndexOf(data);
  const { memory, count } = counter;
  if (data.length <= COUNT_BLOCK_BYTES) {
    memory.set(data);
    return count(data.length);
  }
  let n = 0;
  for (let from = 0; from < data.length; from += COUNT_BLOCK_BYTES) {
    const block = data.subarray(from, from + COUNT_BLOCK_BYTES);
    memory.set(block);
    n += count(block.length);
  }
  return n;
}

/** Which routine countNewlines uses here (for longer chunks). */
export function newlineCounter(): "simd" | "indexOf" {
  return (simdCounter === undefined ? loadSimdCounter() : simdCounter) ? "simd" : "indexOf";
}

/** countNewlines the simple way: one `indexOf` per newline. */
export function countNewlinesByIndexOf(data: Uint8Array): number {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n += 1;
  return n;
}

/** Shorter than this, copying into the WebAssembly memory and calling in costs more than it saves. */
const SIMD_MIN_BYTES = 256;
/** The WebAssembly memory: one page, the most that is counted per call. */
const COUNT_BLOCK_BYTES = 64 * 1024;

interface SimdCounter {
  readonly memory: Uint8Array;
  /** The newlines in memory[0, len). */
  readonly count: (len: number) => number;
}

/** undefined: not loaded yet (it is loaded on first use, so an idle entrypoint never compiles it); null: not available. */
let simdCounter: SimdCounter | null | undefined;

function loadSimdCounter(): SimdCounter | null {
  simdCounter = null;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) return null;
  try {
    const instance = new wasm.Instance(new wasm.Module(COUNT_NEWLINES_WASM));
    const memory = new Uint8Array(instance.exports.memory.buffer);
    if (memory.length < COUNT_BLOCK_BYTES) return null;
    simdCounter = { memory, count: instance.exports.count };
  } catch {
    // No SIMD in this engine, or WebAssembly refused: the indexOf loop.
  }
  return simdCounter;
}

/** What is used of the WebAssembly API (the project's TypeScript lib has no WebAssembly types). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (
    module: object,
  ) => { exports: { memory: { buffer: ArrayBuffer }; count: (len: number) => number } };
}

/**
 * The WebAssembly module of countNewlines, assembled by hand (WebAssembly 1.0 + fixed-width SIMD,
 * in every Node ≥ 16.4). In the text format:
 *
 *   (module
 *     (memory (export "memory") 1)
 *     (func (export "count") (param $len i32) (result i32)
 *       (local $i i32) (local $n i32) (local $end i32) (local $stop i32)
 *       (local $nl v128) (local $acc v128) (local $total v128)
 *       ;; whole 16-byte vectors up to $end; each compare gives -1 per "\n" lane, subtracted into 16 byte
 *       ;; counters, which are widened into $total every 255 vectors (before a byte counter can wrap)
 *       $end = $len & -16;  $nl = i8x16.splat(10)
 *       while ($i < $end) {
 *         $stop = min($i + 255 * 16, $end);  $acc = 0
 *         while ($i < $stop) { $acc = i8x16.sub($acc, i8x16.eq(v128.load($i), $nl));  $i += 16 }
 *         $total = i32x4.add($total, i32x4.extadd_pairwise_i16x8_u(i16x8.extadd_pairwise_i8x16_u($acc)))
 *       }
 *       $n = lane0($total) + lane1($total) + lane2($total) + lane3($total)
 *       ;; the last 0-15 bytes one at a time
 *       while ($i < $len) { $n += (i32.load8_u($i) == 10);  $i += 1 }
 *       return $n))
 */
const COUNT_NEWLINES_WASM = new Uint8Array([
  ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
  ...[0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f], // type section: (func (param i32) (result i32))
  ...[0x03, 0x02, 0x01, 0x00], // function section: one function of type 0
  ...[0x05, 0x03, 0x01, 0x00, 0x01], // memory section: one memory, min 1 page, no max
  ...[0x07, 0x12, 0x02], // export section, two exports:
  ...[0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00], // "memory": memory 0
  ...[0x05, 0x63, 0x6f, 0x75, 0x6e, 0x74, 0x00, 0x00], // "count": function 0
  ...[0x0a, 0xbc, 0x01, 0x01, 0xb9, 0x01], // code section (188 bytes): one body (185 bytes)
  ...[0x02, 0x04, 0x7f, 0x03, 0x7b], // locals: 4 × i32 ($i $n $end $stop), 3 × v128 ($nl $acc $total)
  ...[0x20, 0x00, 0x41, 0x70, 0x71, 0x21, 0x03], // $end = $len & -16
  ...[0x41, 0x0a, 0xfd, 0x0f, 0x21, 0x05], // $nl = i8x16.splat(10)
  ...[0x02, 0x40, 0x03, 0x40], // block, loop (over runs of up to 255 vectors)
  ...[0x20, 0x01, 0x20, 0x03, 0x4f, 0x0d, 0x01], // br_if out ($i >= $end)
  ...[0x20, 0x01, 0x41, 0xf0, 0x1f, 0x6a, 0x22, 0x04], // $stop = $i + 4080 (tee)
  ...[0x20, 0x03, 0x20, 0x04, 0x20, 0x03, 0x49, 0x1b, 0x21, 0x04], // $stop = $stop < $end ? $stop : $end
  ...[0xfd, 0x0c, ...new Array<number>(16).fill(0), 0x21, 0x06], // $acc = v128.const 0
  ...[0x02, 0x40, 0x03, 0x40], // block, loop (over the vectors of the run)
  ...[0x20, 0x01, 0x20, 0x04, 0x4f, 0x0d, 0x01], // br_if out ($i >= $stop)
  ...[0x20, 0x06, 0x20, 0x01, 0xfd, 0x00, 0x04, 0x00, 0x20, 0x05, 0xfd, 0x23, 0xfd, 0x71, 0x21, 0x06], // $acc -= eq(load($i), $nl)
  ...[0x20, 0x01, 0x41, 0x10, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b], // $i += 16; br loop; end, end
  ...[0x20, 0x07, 0x20, 0x06, 0xfd, 0x7d, 0xfd, 0x7f, 0xfd, 0xae, 0x01, 0x21, 0x07], // $total += widen($acc)
  ...[0x0c, 0x00, 0x0b, 0x0b], // br loop; end, end
  ...[0x20, 0x07, 0xfd, 0x1b, 0x00, 0x20, 0x07, 0xfd, 0x1b, 0x01, 0x6a], // lane0 + lane1
  ...[0x20, 0x07, 0xfd, 0x1b, 0x02, 0x6a, 0x20, 0x07, 0xfd, 0x1b, 0x03, 0x6a, 0x21, 0x02], // + lane2 + lane3 → $n
  ...[0x02, 0x40, 0x03, 0x40], // block, loop (over the last bytes)
  ...[0x20, 0x01, 0x20, 0x00, 0x4f, 0x0d, 0x01], // br_if out ($i >= $len)
  ...[0x20, 0x02, 0x20, 0x01, 0x2d, 0x00, 0x00, 0x41, 0x0a, 0x46, 0x6a, 0x21, 0x02], // $n += load8_u($i) == 10
  ...[0x20, 0x01, 0x41, 0x01, 0x6a, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b], // $i += 1; br loop; end, end
  ...[0x20, 0x02, 0x0b], // $n; end of the function
]);

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
    this.refill();
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }

  /**
   * True when a read of `bytes` cannot pass as a whole (nothing is taken). Under a flood it is true for
   * nearly every read until the bucket holds a read's worth again: then whole reads pass, not one line of
   * each.
   */
  refuses(bytes: number): boolean {
    if (this.rate === 0) return false;
    this.refill();
    return this.tokens < Math.min(bytes, this.burst);
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
}
