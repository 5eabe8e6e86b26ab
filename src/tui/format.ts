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

/** `text` broken at spaces into lines of at most `width` columns, at most `max` of them (the last cut with "…"). */
export function clampLines(text: string, width: number, max: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line === "") line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line !== "") lines.push(line);
  if (lines.length <= max) return lines.map((l) => cell(l, width).trimEnd());
  const kept = lines.slice(0, max);
  // The last line runs on into the next, which did not fit on it: cut with "…" at the width.
  kept[max - 1] = cell(`${kept[max - 1]} ${lines[max]}`, width);
  return kept.map((l) => (l.length > width ? cell(l, width) : l));
}
