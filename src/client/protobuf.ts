/**
 * The protobuf wire format (varints, length-delimited fields, skipping of
 * unknown fields) for the few messages the entrypoint speaks. The
 * entrypoint sits beside every app process, so it does without protobufjs
 * and grpc-js (ARCHITECTURE "The entrypoint's transport"); the CLI, the
 * console and the server keep using them, except that the server writes the
 * inventory's components with ProtoWriter (src/server/inventory-wire.ts).
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** A message the server sent that does not parse: the call fails with it. */
export class WireError extends Error {}

/** Builds one message. Scalars equal to their default are left out unless `always` (oneof members). */
export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  /** `capacity`: the expected size, to spare growing copies for large messages. */
  constructor(capacity = 64) {
    this.buf = Buffer.allocUnsafe(Math.max(16, capacity));
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private varint(v: number): void {
    this.room(10);
    while (v > 0x7f) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  /** uint32/uint64 up to 2^53 - 1. */
  uint(field: number, v: number, always = false): this {
    if (!Number.isSafeInteger(v) || v < 0)
      throw new RangeError(`field ${field}: ${v} is not an unsigned integer`);
    if (v === 0 && !always) return this;
    this.tag(field, WIRE_VARINT);
    this.varint(v);
    return this;
  }

  /** int32: a negative value is sent sign-extended to 64 bits, as protobuf does. */
  int32(field: number, v: number, always = false): this {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff)
      throw new RangeError(`field ${field}: ${v} is not an int32`);
    if (v === 0 && !always) return this;
    this.tag(field, WIRE_VARINT);
    if (v >= 0) {
      this.varint(v);
      return this;
    }
    let n = BigInt.asUintN(64, BigInt(v));
    this.room(10);
    while (n > 0x7fn) {
      this.buf[this.pos++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.pos++] = Number(n);
    return this;
  }

  bool(field: number, v: boolean, always = false): this {
    if (!v && !always) return this;
    this.tag(field, WIRE_VARINT);
    this.varint(v ? 1 : 0);
    return this;
  }

  string(field: number, v: string, always = false): this {
    if (v === "" && !always) return this;
    const n = Buffer.byteLength(v, "utf8");
    this.tag(field, WIRE_LEN);
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(v, this.pos, "utf8");
    return this;
  }

  bytes(field: number, v: Uint8Array, always = false): this {
    if (v.length === 0 && !always) return this;
    this.tag(field, WIRE_LEN);
    this.varint(v.length);
    this.room(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  /** An embedded message, always sent (present even when empty). */
  message(field: number, build: (w: ProtoWriter) => void, capacity?: number): this {
    const inner = new ProtoWriter(capacity);
    build(inner);
    return this.bytes(field, inner.finish(), true);
  }

  /** The message's bytes (a view of the writer's buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/** Reads one message field by field; `skip` passes over fields this side does not know. */
export class ProtoReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** The next field's number and wire type. */
  next(): { field: number; wire: number } {
    const key = this.varint();
    const field = Math.floor(key / 8);
    if (field === 0) throw new WireError("field number 0");
    return { field, wire: key % 8 };
  }

  private varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new WireError("truncated varint");
      const b = this.buf[this.pos++]!;
      // Past 2^53 precision is lost; only int32 reads (low 32 bits) and small counts are ever wanted.
      result += (b & 0x7f) * scale;
      scale *= 0x80;
      if (b < 0x80) return result;
    }
    throw new WireError("varint longer than 10 bytes");
  }

  private expect(wire: number, want: number, what: string): void {
    if (wire !== want) throw new WireError(`${what}: wire type ${wire}, expected ${want}`);
  }

  uint(wire: number): number {
    this.expect(wire, WIRE_VARINT, "integer");
    return this.varint();
  }

  /** int32 (the low 32 bits, as protobuf reads a sign-extended varint). */
  int32(wire: number): number {
    this.expect(wire, WIRE_VARINT, "integer");
    const start = this.pos;
    let low = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) throw new WireError("truncated varint");
      const b = this.buf[this.pos++]!;
      if (shift < 32) low |= (b & 0x7f) << shift;
      shift += 7;
      if (b < 0x80) return low | 0;
    }
    this.pos = start;
    throw new WireError("varint longer than 10 bytes");
  }

  bool(wire: number): boolean {
    return this.uint(wire) !== 0;
  }

  bytes(wire: number): Buffer {
    this.expect(wire, WIRE_LEN, "length-delimited field");
    const n = this.varint();
    if (n > this.buf.length - this.pos) throw new WireError("length past the end of the message");
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  string(wire: number): string {
    return this.bytes(wire).toString("utf8");
  }

  skip(wire: number): void {
    switch (wire) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.bytes(wire);
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new WireError(`unsupported wire type ${wire}`);
    }
  }

  private advance(n: number): void {
    if (n > this.buf.length - this.pos) throw new WireError("fixed-size field past the end of the message");
    this.pos += n;
  }
}
