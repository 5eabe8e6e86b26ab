import type { Writable } from "node:stream";
import { formatBytes } from "../bytes.js";

export { formatBytes };

/** A one-line progress display that rewrites itself in place. */
export interface Progress {
  /** `phase  12.0 MiB / 40.0 MiB  30%` (or without totals when `total` is 0). */
  update(phase: string, done: number, total: number, unit?: "bytes" | "none"): void;
  /** Clears the line, so the next output starts on a clean one. */
  done(): void;
}

const EVERY_MS = 100;

/**
 * Progress on `stream` only when it is a terminal (never in logs or pipes),
 * at most every 100 ms, except that a new phase or 100 % shows at once.
 */
export function progressLine(stream: Writable & { isTTY?: boolean }): Progress {
  if (!stream.isTTY) return { update: () => {}, done: () => {} };
  let lastAt = 0;
  let lastPhase = "";
  let shown = false;
  return {
    update(phase, done, total, unit = "bytes") {
      const now = Date.now();
      if (phase === lastPhase && done < total && now - lastAt < EVERY_MS) return;
      lastAt = now;
      lastPhase = phase;
      const amount =
        unit === "bytes" ? `  ${formatBytes(done)}${total > 0 ? ` / ${formatBytes(total)}` : ""}` : "";
      const percent = total > 0 ? `  ${Math.min(100, Math.floor((done / total) * 100))}%` : "";
      stream.write(`\r\x1b[K${phase}${amount}${percent}`);
      shown = true;
    },
    done() {
      if (shown) stream.write("\r\x1b[K");
      shown = false;
    },
  };
}

/** An `onBytes` callback that adds up the bytes it is told about and shows them as `phase` of `total`. */
export function byteCounter(progress: Progress, phase: string, total: number): (n: number) => void {
  let done = 0;
  return (n) => {
    done += n;
    progress.update(phase, done, total);
  };
}
