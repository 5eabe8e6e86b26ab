import { useEffect, useRef, useState } from "react";

/** What a polled panel knows: its last data and when it came, and the last failure if the latest try failed. */
export interface Polled<T> {
  readonly data?: T;
  /** Date.now() when `data` arrived. */
  readonly at?: number;
  /** The latest attempt's failure; cleared by the next success (the last data stays shown meanwhile). */
  readonly error?: Error;
  /** Failed attempts in a row. */
  readonly failures: number;
  /** When the next attempt is due after a failure (Date.now() scale). */
  readonly retryAt?: number;
}

/** The wait after `failures` failures in a row: doubling from `everyMs`, at most 30 s. */
export function backoffMs(everyMs: number, failures: number): number {
  return Math.min(30_000, everyMs * 2 ** Math.max(0, failures - 1));
}

/**
 * Calls `fetch` now, then every `everyMs`, backing off after failures; again at once whenever
 * `refresh` or `subject` changes. The last data is kept through failures, so a lost connection shows
 * stale data rather than none; a new `subject` (another instance's logs) starts from no data, so the
 * previous subject's data is never shown as the new one's. One loop polls at a time; a refresh starts
 * a new call at once and ignores the answer of the one still in flight.
 */
export function usePoll<T>(
  fetch: () => Promise<T>,
  everyMs: number,
  refresh = 0,
  subject = "",
  clock: () => number = Date.now,
): Polled<T> {
  const [state, setState] = useState<Polled<T> & { readonly subject: string }>({ failures: 0, subject });
  const fetchRef = useRef(fetch);
  fetchRef.current = fetch;
  // `refresh` is a dependency on purpose: a new value restarts the polling with a fetch at once.
  // biome-ignore lint/correctness/useExhaustiveDependencies: see above
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let failures = 0;
    const tick = async () => {
      try {
        const data = await fetchRef.current();
        if (stopped) return;
        failures = 0;
        setState({ data, at: clock(), failures: 0, subject });
        timer = setTimeout(tick, everyMs);
      } catch (err) {
        if (stopped) return;
        failures++;
        const wait = backoffMs(everyMs, failures);
        setState((s) => ({
          ...(s.subject === subject ? s : { subject }),
          error: err as Error,
          failures,
          retryAt: clock() + wait,
        }));
        timer = setTimeout(tick, wait);
      }
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [everyMs, refresh, subject]);
  return state.subject === subject ? state : { failures: 0 };
}
