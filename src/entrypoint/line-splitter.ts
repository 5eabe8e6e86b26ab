/**
 * Cuts one output stream into runs of whole lines without looking at each
 * line: a read is split at its last "\n" (one `lastIndexOf`), the part after
 * it is kept (copied) until a later read ends its line. A partial line longer
 * than `maxLineBytes` is passed on as it is, so one endless line cannot grow
 * without bound. Neither the fed buffer nor an emitted one is valid after the
 * call: the reader reuses its buffer, so `emit` copies what it keeps.
 */
export class LineSplitter {
  private tail: Buffer[] = [];
  private tailBytes = 0;

  constructor(
    private readonly maxLineBytes: number,
    private readonly emit: (data: Buffer) => void,
  ) {}

  feed(buf: Buffer): void {
    const nl = buf.lastIndexOf(10);
    if (nl === -1) {
      this.keep(buf);
      return;
    }
    let from = 0;
    if (this.tailBytes > 0) {
      // Only the line that was cut is copied (tail + its end), not the whole read.
      const first = buf.indexOf(10) + 1;
      this.tail.push(buf.subarray(0, first));
      this.emit(Buffer.concat(this.tail, this.tailBytes + first));
      this.tail = [];
      this.tailBytes = 0;
      from = first;
    }
    if (from < nl + 1) this.emit(from === 0 && nl + 1 === buf.length ? buf : buf.subarray(from, nl + 1));
    if (nl + 1 < buf.length) this.keep(buf.subarray(nl + 1));
  }

  /**
   * What feed does when every piece would be refused, without cutting, copying or emitting them: drops
   * the lines this read ends (a kept partial line's end included) and keeps what follows its last
   * newline. Returns the dropped run (valid during the call): its newlines are the lines dropped, the
   * same count feed's pieces would have had.
   */
  skip(buf: Buffer): Buffer {
    const nl = buf.lastIndexOf(10);
    if (nl === -1) {
      this.keep(buf);
      return buf.subarray(0, 0);
    }
    this.tail = [];
    this.tailBytes = 0;
    if (nl + 1 < buf.length) this.keep(buf.subarray(nl + 1));
    return buf.subarray(0, nl + 1);
  }

  /** Passes on a kept partial line (the stream ended without its newline). */
  flush(): void {
    if (this.tailBytes === 0) return;
    const rest = this.tail.length === 1 ? this.tail[0]! : Buffer.concat(this.tail, this.tailBytes);
    this.tail = [];
    this.tailBytes = 0;
    this.emit(rest);
  }

  private keep(piece: Buffer): void {
    this.tail.push(Buffer.from(piece));
    this.tailBytes += piece.length;
    if (this.tailBytes > this.maxLineBytes) this.flush();
  }
}
