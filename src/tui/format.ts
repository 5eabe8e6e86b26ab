import type { ProtocolRange } from "../protocol/range.js";

export { formatBytes as bytes } from "../bytes.js";

/** "3s", "5m", "2h", "4d": how long ago `at` was, coarse. */
export function age(at: number, now: number): string {
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** "1–3", or "2" when min and current are the same. */
export function range(r: ProtocolRange | undefined): string {
  if (!r) return "-";
  return r.min === r.current ? String(r.current) : `${r.min}–${r.current}`;
}

/** `text` cut to `width` columns with "…" when longer, else padded with spaces. */
export function cell(text: string, width: number): string {
  if (width <= 0) return "";
  if (text.length > width) return `${text.slice(0, Math.max(0, width - 1))}…`;
  return text.padEnd(width);
}
