import { readdirSync, readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Thread priorities (Linux: a thread's nice value is its own, and setpriority on a thread id sets it).
 * With -listen-entrypoint, the main thread answers operators and everything else runs below it: the
 * listener's thread, and the helper threads (V8's collector and compiler threads, libuv's pool), which
 * would otherwise take their share of a busy core from the main thread whenever the fleet's heap is
 * collected. Elsewhere, and when the system refuses, nothing changes: the server works the same at one
 * priority. Lowering one's own threads' priority needs no privilege.
 */

/** The calling thread's id (Linux), from /proc/thread-self ("<pid>/task/<tid>"). */
function currentThreadId(): number | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** Sets thread `tid`'s nice value; false where that cannot be done. */
function niceThread(tid: number, nice: number): boolean {
  try {
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

/**
 * Lowers every thread of this process but the calling one to `nice`; returns how many were lowered.
 * Threads started later (libuv's pool grows on demand) inherit their creator's value.
 */
export function niceOtherThreads(nice: number): number {
  const self = currentThreadId();
  if (self === undefined) return 0;
  let lowered = 0;
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return 0;
  }
  for (const t of tids) {
    const tid = Number(t);
    if (tid !== self && niceThread(tid, nice)) lowered++;
  }
  return lowered;
}
