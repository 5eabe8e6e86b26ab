/**
 * Capped exponential backoff with full jitter: attempt n (0-based) waits a
 * uniformly random time in [0, min(cap, base·2ⁿ)]. Full jitter spreads a
 * fleet of entrypoints that lost the same server, so they do not come back
 * in one wave.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(random() * ceiling);
}
