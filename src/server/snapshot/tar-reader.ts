import { AppError } from "../../protocol/errors.js";
import { BLOCK, decodeHeader, isZeroBlock, padding } from "./ustar.js";

/**
 * A strict, streaming ustar reader. General-purpose extractors (tar-stream
 * included) are lenient on purpose: they apply PAX and GNU long-name records
 * silently, skip stray zero blocks and read past the end-of-archive marker.
 * A snapshot reader must instead refuse anything but plain top-level regular
 * files and must notice data after the archive, so it parses the format
 * itself. Invariants:
 *
 * - each member is handed to `onMember` before any of its data is read, so
 *   a caller can refuse a name, a duplicate or an oversized member first;
 * - `body` yields exactly `size` bytes (or throws "truncated"); what the
 *   caller leaves unread is skipped;
 * - the archive must end with two zero blocks, and anything after them must
 *   be zero fill (tar pads to a record size); the input must then end.
 * Every defect is a SNAPSHOT_INVALID AppError.
 */

export interface TarMember {
  readonly name: string;
  readonly size: number;
}

/** `onMember` returns "stop" to end reading early (nothing after that member is checked). */
export type MemberHandler = (member: TarMember, body: AsyncIterable<Buffer>) => Promise<"stop" | undefined>;

export async function readStrictTar(src: ByteSource, onMember: MemberHandler): Promise<void> {
  for (;;) {
    const offset = src.position;
    const block = await src.read(BLOCK);
    if (block.length === 0) throw invalid("truncated: the archive ends before its end-of-archive marker");
    if (block.length < BLOCK) throw invalid("truncated: the archive ends inside a tar header");
    if (isZeroBlock(block)) return readEnd(src);
    const member = checkHeader(block, offset);
    let left = member.size;
    const next = async (): Promise<IteratorResult<Buffer>> => {
      if (left === 0) return { done: true, value: undefined };
      const chunk = await src.readSome(left);
      if (chunk.length === 0) throw invalid(`truncated: the archive ends inside member "${member.name}"`);
      left -= chunk.length;
      return { done: false, value: chunk };
    };
    // No `return` method: a handler that stops iterating early leaves the rest to be skipped below.
    const body: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next }) };
    if ((await onMember(member, body)) === "stop") return;
    while (!(await next()).done) {
      // skip what the handler left unread
    }
    const pad = await src.read(padding(member.size));
    if (pad.length < padding(member.size))
      throw invalid(`truncated: the archive ends after member "${member.name}"`);
  }
}

function checkHeader(block: Buffer, offset: number): TarMember {
  let h: ReturnType<typeof decodeHeader>;
  try {
    h = decodeHeader(block);
  } catch (err) {
    throw invalid(`not a valid tar archive: ${(err as Error).message} at byte ${offset}`);
  }
  const quoted = JSON.stringify(h.name);
  if (h.name === "") throw invalid(`a member at byte ${offset} has an empty name`);
  if (h.name.startsWith("/")) throw invalid(`member ${quoted} has an absolute path`);
  if (h.name.split("/").includes("..")) throw invalid(`member ${quoted} points outside the archive ("..")`);
  if (h.name.includes("/") || h.name.includes("\\")) {
    throw invalid(`member ${quoted} is in a directory; members must be at the top level`);
  }
  if (h.type !== "0")
    throw invalid(`member ${quoted} is ${typeName(h.type, h.linkname)}; only regular files are allowed`);
  return { name: h.name, size: h.size };
}

function typeName(type: string, linkname: string): string {
  switch (type) {
    case "1":
      return `a hard link (to ${JSON.stringify(linkname)})`;
    case "2":
      return `a symbolic link (to ${JSON.stringify(linkname)})`;
    case "3":
    case "4":
      return "a device";
    case "5":
      return "a directory";
    case "6":
      return "a FIFO";
    case "x":
    case "g":
      return "a PAX extended header";
    case "L":
    case "K":
      return "a GNU long-name record";
    default:
      return `of tar type ${JSON.stringify(type)}`;
  }
}

/** After the first zero block: a second one, then only zero fill to the end of the input. */
async function readEnd(src: ByteSource): Promise<void> {
  const second = await src.read(BLOCK);
  if (second.length < BLOCK) throw invalid("truncated: the archive ends inside its end-of-archive marker");
  if (!isZeroBlock(second)) throw invalid("not a valid tar archive: a lone zero block before more data");
  for (;;) {
    const chunk = await src.readSome(64 * 1024);
    if (chunk.length === 0) return;
    if (!isZeroBlock(chunk)) throw invalid("unexpected data after the end of the archive");
  }
}

function invalid(message: string): AppError {
  return new AppError("SNAPSHOT_INVALID", message);
}

/** Pull-based reads over an async iterator of chunks. */
export class ByteSource {
  private pending: Buffer = Buffer.alloc(0);
  private consumed = 0;

  constructor(private readonly chunks: AsyncIterator<Buffer>) {}

  /** Bytes handed out so far. */
  get position(): number {
    return this.consumed;
  }

  /** Exactly `n` bytes, or fewer only when the input ends first. */
  async read(n: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const chunk = await this.readSome(n - have);
      if (chunk.length === 0) break;
      parts.push(chunk);
      have += chunk.length;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, have);
  }

  /** Between 1 and `max` bytes; an empty buffer only at the end of the input. */
  async readSome(max: number): Promise<Buffer> {
    while (this.pending.length === 0) {
      const next = await this.chunks.next();
      if (next.done) return this.pending;
      this.pending = next.value;
    }
    const out = this.pending.subarray(0, max);
    this.pending = this.pending.subarray(out.length);
    this.consumed += out.length;
    return out;
  }
}
