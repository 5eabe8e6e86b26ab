/**
 * What the entrypoint listener's thread (entrypoint-thread.ts) and the main thread
 * (entrypoint-listener.ts) say to each other. The calls' operations travel in batches: one
 * ArrayBuffer per turn of the sender's loop, transferred (not copied), each operation a kind, a call
 * id and a payload (message bytes as they are; JSON for the rare ones that carry metadata). Cloning
 * one object per operation cost the thread more than the fleet's HTTP/2 did.
 */

export type CallKind = "serverStream" | "clientStream" | "bidi";

export interface ThreadSetup {
  readonly address: string;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly maxMessageBytes: number;
  readonly methods: readonly { readonly name: string; readonly path: string; readonly kind: CallKind }[];
}

export type Headers = Record<string, string | string[]>;

/** The operations of a batch. */
export const Op = {
  /** Thread → main: a call (payload: JSON `OpenInfo`). A server stream's request follows as a Message. */
  Open: 1,
  /** Thread → main: a request message (payload: its bytes). */
  Message: 2,
  /** Thread → main: the client sent all its messages. */
  HalfClose: 3,
  /** Thread → main: the call is gone (cancelled by the client or its connection). */
  Cancel: 4,
  /** Thread → main: the oldest write of the call was written (or dropped with the call). */
  Written: 5,
  /** Main → thread: a response message (payload: its bytes). */
  Write: 6,
  /** Main → thread: response headers (payload: JSON `Headers`). */
  Metadata: 7,
  /** Main → thread: the call's status (payload: JSON `StatusInfo`); the last operation of a call. */
  Status: 8,
  /** Main → thread: read no more of the call's messages for now. */
  Pause: 9,
  /** Main → thread: read the call's messages again. */
  Resume: 10,
} as const;
export type OpKind = (typeof Op)[keyof typeof Op];

export interface OpenInfo {
  readonly path: string;
  readonly headers: Headers;
  readonly peer: string;
  /** Milliseconds since the epoch; null for none. */
  readonly deadline: number | null;
  readonly host: string;
}

export interface StatusInfo {
  readonly code: number;
  readonly details: string;
  readonly headers: Headers | null;
}

/** Messages between the threads other than batches. */
export type Control =
  | { readonly t: "batch"; readonly buffer: ArrayBuffer; readonly length: number }
  /** Main → thread: the last batch is taken; the next may come. */
  | { readonly t: "ack" }
  | { readonly t: "listening"; readonly port: number }
  | { readonly t: "failed"; readonly message: string; readonly code: string }
  | { readonly t: "shutdown"; readonly graceMs: number }
  /** Thread → main: a line of grpc-js's log, for the server's log. */
  | { readonly t: "log"; readonly level: "warn" | "debug" | "trace"; readonly text: string }
  | { readonly t: "closed" };

const HEAD = 9; // kind (1) + id (4) + payload length (4)

/** Operations written one after another into a buffer that is handed over whole. */
export class BatchWriter {
  private buf: Buffer;
  private at = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafeSlow(initialBytes);
  }

  get empty(): boolean {
    return this.at === 0;
  }

  op(kind: OpKind, id: number, payload?: Uint8Array | string): void {
    const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
    const length = bytes?.length ?? 0;
    this.room(HEAD + length);
    this.buf.writeUInt8(kind, this.at);
    this.buf.writeUInt32LE(id, this.at + 1);
    this.buf.writeUInt32LE(length, this.at + 5);
    if (bytes) this.buf.set(bytes, this.at + HEAD);
    this.at += HEAD + length;
  }

  /** The batch so far, to transfer; the writer starts a new buffer. */
  take(): { buffer: ArrayBuffer; length: number } {
    const taken = { buffer: this.buf.buffer as ArrayBuffer, length: this.at };
    this.buf = Buffer.allocUnsafeSlow(Math.max(this.initialBytes, Math.min(this.at, 16 * 1024 * 1024)));
    this.at = 0;
    return taken;
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }
}

/** A batch's operations, read in order, as many at a time as the reader likes. */
export class BatchReader {
  private readonly buf: Buffer;
  private at = 0;

  constructor(buffer: ArrayBuffer, length: number) {
    this.buf = Buffer.from(buffer, 0, length);
  }

  get done(): boolean {
    return this.at + HEAD > this.buf.length;
  }

  /**
   * Calls `each` for the next operations until the batch ends or `more()` (asked every few
   * operations) says to stop. A payload is a view into the batch's buffer.
   */
  read(each: (kind: OpKind, id: number, payload: Buffer) => void, more: () => boolean = () => true): void {
    const buf = this.buf;
    let n = 0;
    while (!this.done) {
      if ((++n & 31) === 0 && !more()) return;
      const kind = buf.readUInt8(this.at) as OpKind;
      const id = buf.readUInt32LE(this.at + 1);
      const size = buf.readUInt32LE(this.at + 5);
      const start = this.at + HEAD;
      this.at = start + size;
      each(kind, id, buf.subarray(start, start + size));
    }
  }
}
