/**
 * The subset of POSIX ustar that snapshots use: 512-byte headers, regular
 * files only, names in the 100-byte name field. Writing emits exactly that;
 * decoding reports every header field a strict reader must judge, and
 * throws (a plain Error, the caller adds context) only when the block is not
 * a tar header at all.
 *
 * Sizes of 8 GiB and more do not fit 11 octal digits; they are written in
 * the GNU base-256 form, which GNU tar, bsdtar and Go's archive/tar read.
 */
export const BLOCK = 512;

/** Zero fill after the last member: two empty blocks (POSIX). */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

const MAX_OCTAL_SIZE = 8 ** 11 - 1;
const CHECKSUM_OFFSET = 148;

export interface FileHeader {
  readonly name: string;
  readonly size: number;
  readonly mode: number;
  readonly mtime: Date;
}

/** A regular-file header. `name` must be ASCII and at most 100 bytes. */
export function encodeHeader(h: FileHeader): Buffer {
  if (!/^[\x20-\x7e]{1,100}$/.test(h.name))
    throw new Error(`cannot store the name ${JSON.stringify(h.name)}`);
  const buf = Buffer.alloc(BLOCK);
  buf.write(h.name, 0, "ascii");
  writeOctal(buf, 100, 8, h.mode & 0o7777);
  writeOctal(buf, 108, 8, 0); // uid
  writeOctal(buf, 116, 8, 0); // gid
  if (h.size <= MAX_OCTAL_SIZE) writeOctal(buf, 124, 12, h.size);
  else writeBase256(buf, 124, 12, h.size);
  writeOctal(buf, 136, 12, Math.max(0, Math.floor(h.mtime.getTime() / 1000)));
  buf.write("0", 156, "ascii"); // regular file
  buf.write("ustar\x0000", 257, "ascii");
  writeOctal(buf, 329, 8, 0); // devmajor
  writeOctal(buf, 337, 8, 0); // devminor
  buf.write(`${checksum(buf).toString(8).padStart(6, "0")}\0 `, CHECKSUM_OFFSET, "ascii");
  return buf;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

export interface DecodedHeader {
  /** The name as stored; the prefix field, when set, is joined with "/". */
  readonly name: string;
  /** The typeflag character ("0" for a regular file; "\0" is mapped to "0"). */
  readonly type: string;
  readonly linkname: string;
  readonly size: number;
}

/** Whether `block` is all zeros (an end-of-archive block). */
export function isZeroBlock(block: Buffer): boolean {
  for (const byte of block) if (byte !== 0) return false;
  return true;
}

/** Decodes a non-zero header block; throws when the checksum, magic or size field is bad. */
export function decodeHeader(block: Buffer): DecodedHeader {
  const stored = parseOctal(block.subarray(CHECKSUM_OFFSET, CHECKSUM_OFFSET + 8));
  if (stored === undefined || stored !== checksum(block)) throw new Error("bad header checksum");
  const magic = block.toString("latin1", 257, 265);
  if (magic !== "ustar\x0000" && magic !== "ustar  \0") throw new Error("not a ustar header");
  const size = parseSize(block.subarray(124, 136));
  if (size === undefined) throw new Error("bad size field");
  const name = cString(block, 0, 100);
  const prefix = cString(block, 345, 155);
  const type = block[156] === 0 ? "0" : String.fromCharCode(block[156] ?? 0);
  return { name: prefix === "" ? name : `${prefix}/${name}`, type, linkname: cString(block, 157, 100), size };
}

/** Sum of the header's bytes with the checksum field counted as spaces. */
function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    sum += i >= CHECKSUM_OFFSET && i < CHECKSUM_OFFSET + 8 ? 0x20 : (block[i] ?? 0);
  }
  return sum;
}

function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(`${value.toString(8).padStart(width - 1, "0")}\0`, offset, "ascii");
}

function writeBase256(buf: Buffer, offset: number, width: number, value: number): void {
  let v = value;
  for (let i = offset + width - 1; i > offset; i--) {
    buf[i] = v % 256;
    v = Math.floor(v / 256);
  }
  buf[offset] = 0x80;
}

/** Octal digits, optionally padded with spaces and ended by NUL or space. */
function parseOctal(field: Buffer): number | undefined {
  const text = field
    .toString("latin1")
    .replace(/^ +/, "")
    .replace(/[ \0]+$/, "");
  if (!/^[0-7]{1,12}$/.test(text)) return undefined;
  const n = Number.parseInt(text, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}

function parseSize(field: Buffer): number | undefined {
  if (field[0] !== 0x80) return parseOctal(field);
  let n = 0;
  for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
  return Number.isSafeInteger(n) ? n : undefined;
}

function cString(buf: Buffer, offset: number, width: number): string {
  const field = buf.subarray(offset, offset + width);
  const end = field.indexOf(0);
  return field.toString("utf8", 0, end === -1 ? width : end);
}
