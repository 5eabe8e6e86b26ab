import { rmSync } from "node:fs";
import { AppError } from "../protocol/errors.js";

/** What a command doing interruptible file work gets from `interruptible`. */
export interface Scope {
  /** Aborted at the first SIGINT or SIGTERM; streams given it stop, and the work cleans up as on any error. */
  readonly signal: AbortSignal;
  /** A temp file or dir that must not outlive the process; removed at once on a second signal. */
  track(path: string): void;
}

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

interface Active {
  readonly controller: AbortController;
  readonly paths: Set<string>;
}

/** The scopes running now; one process listener per signal serves them all while any runs. */
const active = new Set<Active>();

function onSignal(signal: NodeJS.Signals): void {
  const fresh = [...active].filter((a) => !a.controller.signal.aborted);
  if (fresh.length > 0) {
    for (const a of fresh) {
      a.controller.abort(
        new AppError("INTERRUPTED", `interrupted by ${signal}; temporary files were removed`),
      );
    }
    return;
  }
  for (const a of active) for (const path of a.paths) rmSync(path, { recursive: true, force: true });
  process.exit(130);
}

/**
 * Runs file-writing work so that Ctrl-C never leaves a temp file behind.
 * Lifecycle: the first SIGINT/SIGTERM aborts `scope.signal`; the work stops,
 * its own `finally` blocks remove what it created, and the call rejects with
 * INTERRUPTED (exit 130) whatever error the abort caused inside. A second
 * signal (work stuck somewhere that does not watch the signal) removes every
 * tracked path synchronously and exits 130 at once. The handlers are
 * installed only while some work runs.
 */
export async function interruptible<T>(work: (scope: Scope) => Promise<T>): Promise<T> {
  const me: Active = { controller: new AbortController(), paths: new Set() };
  if (active.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  active.add(me);
  try {
    return await work({ signal: me.controller.signal, track: (path) => me.paths.add(path) });
  } catch (err) {
    if (me.controller.signal.aborted) throw me.controller.signal.reason;
    throw err;
  } finally {
    active.delete(me);
    if (active.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
  }
}
