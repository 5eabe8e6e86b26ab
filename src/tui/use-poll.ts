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
 * `refresh` changes. The last data is kept through failures, so a lost connection shows stale data
 * rather than none. Only one call is in flight at a time.
 */
export function usePoll<T>(fetch: () => Promise<T>, everyMs: number, refresh = 0): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ failures: 0 });
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
        setState({ data, at: Date.now(), failures: 0 });
        timer = setTimeout(tick, everyMs);
      } catch (err) {
        if (stopped) return;
        failures++;
        const wait = backoffMs(everyMs, failures);
        setState((s) => ({ ...s, error: err as Error, failures, retryAt: Date.now() + wait }));
        timer = setTimeout(tick, wait);
      }
    };
    void tick();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [everyMs, refresh]);
  return state;
}
