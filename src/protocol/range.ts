import { AppError } from "./errors.js";

/** The protocol numbers a build speaks in one family: every integer in [min, current]. */
export interface ProtocolRange {
  readonly min: number;
  readonly current: number;
}

export const PROTOCOL_FAMILIES = ["api", "entrypoint"] as const;
export type ProtocolFamily = (typeof PROTOCOL_FAMILIES)[number];

/** Largest protocol number accepted anywhere; guards against garbage in headers and catalogs. */
const MAX_PROTOCOL = 1_000_000;

/** Returns a reason the range is malformed, or undefined when it is valid. */
export function rangeProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "must be an object {min, current}";
  const { min, current } = value as Record<string, unknown>;
  for (const [name, n] of [
    ["min", min],
    ["current", current],
  ] as const) {
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_PROTOCOL) {
      return `${name} must be an integer from 1 to ${MAX_PROTOCOL}, got ${JSON.stringify(n)}`;
    }
  }
  if ((min as number) > (current as number)) return `min (${min}) is greater than current (${current})`;
  const extra = Object.keys(value).filter((k) => k !== "min" && k !== "current");
  if (extra.length > 0) return `unknown key ${JSON.stringify(extra[0])}`;
  return undefined;
}

/** Parses the header form "<min>,<current>". */
export function parseRangeText(text: string, what: string): ProtocolRange {
  const m = /^\s*(\d{1,7})\s*,\s*(\d{1,7})\s*$/.exec(text);
  const range = m ? { min: Number(m[1]), current: Number(m[2]) } : undefined;
  const problem = range ? rangeProblem(range) : `expected "<min>,<current>", got ${JSON.stringify(text)}`;
  if (problem || !range) throw new AppError("INVALID_HEADER", `${what}: ${problem}`);
  return range;
}

export function formatRangeText(r: ProtocolRange): string {
  return `${r.min},${r.current}`;
}

/** Human form: "1" when min = current, else "1-3". */
export function formatRange(r: ProtocolRange): string {
  return r.min === r.current ? `${r.min}` : `${r.min}-${r.current}`;
}

export function rangesOverlap(a: ProtocolRange, b: ProtocolRange): boolean {
  return a.current >= b.min && b.current >= a.min;
}
