import type { Writable } from "node:stream";
import type { Connection } from "../client/connection.js";
import type { JobInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";

const FINAL = new Set(["success", "error", "cancelled"]);

/** How long following a job keeps trying to reach a server that went away (it may be restarting). */
const UNREACHABLE_LIMIT_MS = 60_000;

export interface FollowOptions {
  /**
   * Each piece of output, in order (skip it to follow states only). A promise back means the output
   * takes no more for now (a full pipe): the stream is paused until it settles, so the server holds the
   * output back (and skips what it no longer keeps) instead of this process buffering it all.
   */
  readonly onOutput?: (stream: string, data: Buffer) => undefined | Promise<void>;
  /** The job each time its state changes (and once at the start). */
  readonly onState?: (job: JobInfo) => void;
  readonly signal?: AbortSignal;
}

/**
 * Follows a job until it ends and returns it as it ended. When the stream breaks (the server
 * restarted, the network blinked) it watches again, asking the server to skip the output already
 * printed, for up to a minute of the server being unreachable; then it fails with UNAVAILABLE.
 */
export async function followJob(conn: Connection, id: string, opts: FollowOptions = {}): Promise<JobInfo> {
  let printed = 0;
  let last: JobInfo | undefined;
  let unreachableSince: number | undefined;
  let delay = 250;
  for (;;) {
    const outcome = await new Promise<{ err?: Error }>((resolve) => {
      // Output not yet taken (pending promises from onOutput): the stream stays paused while any is.
      let pending = 0;
      const paced = (taken: undefined | Promise<void>) => {
        if (!taken) return;
        if (pending++ === 0) handle.pause();
        const done = () => {
          if (--pending === 0) handle.resume();
        };
        taken.then(done, done);
      };
      const handle = conn.watchJob(
        id,
        (e) => {
          unreachableSince = undefined;
          delay = 250;
          if (e.kind === "output") {
            printed += e.data.length;
            paced(opts.onOutput?.(e.stream, e.data));
            return;
          }
          if (e.kind === "skipped") {
            printed += e.bytes;
            paced(
              opts.onOutput?.(
                "stderr",
                Buffer.from(`[waypoint: ${e.bytes} earlier bytes of output are no longer kept]\n`),
              ),
            );
            return;
          }
          if (last?.state !== e.job.state || last.cancelRequested !== e.job.cancelRequested)
            opts.onState?.(e.job);
          last = e.job;
        },
        (err) => {
          opts.signal?.removeEventListener("abort", abort);
          resolve(err ? { err } : {});
        },
        { skipBytes: printed },
      );
      const abort = () => handle.cancel();
      opts.signal?.addEventListener("abort", abort, { once: true });
    });
    if (opts.signal?.aborted) throw opts.signal.reason;
    if (last && FINAL.has(last.state)) return last;
    const err = outcome.err;
    if (err && !(err instanceof AppError && err.code === "UNAVAILABLE")) throw err;
    unreachableSince ??= Date.now();
    if (Date.now() - unreachableSince > UNREACHABLE_LIMIT_MS)
      throw (
        err ??
        new AppError("UNAVAILABLE", `the server at ${conn.address} stopped answering while following ${id}`)
      );
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

/** The exit code a finished job gives a command: 0, 130 when cancelled, else its own exit code, or 1. */
export function jobExit(job: JobInfo): number {
  if (job.state === "success") return 0;
  if (job.state === "cancelled") return 130;
  return job.exitCode !== null && job.exitCode !== 0 ? job.exitCode : 1;
}

/**
 * `onOutput` for followJob that writes a job's output to `out.stdout` or `out.stderr`: when the stream
 * takes no more for now, a promise that settles once it drains, fails or closes. Output to a stream
 * that failed or closed is dropped, so following still ends with the job.
 */
export function writeOutput(out: {
  readonly stdout: Writable;
  readonly stderr: Writable;
}): (stream: string, data: Buffer) => undefined | Promise<void> {
  return (stream, data) => {
    const to = stream === "stdout" ? out.stdout : out.stderr;
    // Gone (a closed pipe): nothing will drain it, and following goes on to the job's end.
    if (to.destroyed || to.writableEnded) return undefined;
    if (to.write(data)) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        to.off("drain", done);
        to.off("error", done);
        to.off("close", done);
        resolve();
      };
      to.on("drain", done);
      to.on("error", done);
      to.on("close", done);
    });
  };
}
