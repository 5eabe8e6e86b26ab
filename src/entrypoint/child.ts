import { type ChildProcess, spawn } from "node:child_process";
import { type OnReadOpts, Socket } from "node:net";
import { constants } from "node:os";
import type { Readable } from "node:stream";
import { GONE_CODES } from "./gone.js";
import type { OutputSource } from "./log-buffer.js";

/** How long to wait for the child's pipes to close after it exited (a grandchild may hold them). */
const PIPES_CLOSE_MS = 1_000;

/** The most one read of the app's stdout or stderr returns (what Node reads at a time anyway). */
export const READ_BYTES = 64 * 1024;

/** The exit code a shell would report: the code, or 128 + the signal's number. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/** Shell convention for a command that could not start: 127 not found, 126 not executable. */
export function startFailureCode(err: NodeJS.ErrnoException): number {
  return err.code === "ENOENT" ? 127 : 126;
}

/** Sends a signal to a pid or (negative) group; false when it is already gone. */
export function sendSignal(target: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(target, signal);
    return true;
  } catch {
    return false;
  }
}

/** Where the child's output goes: written unchanged to `sinks`, and shown to `tap` (the log stream). */
export interface ChildOutput {
  readonly sinks: Readonly<Record<OutputSource, NodeJS.WritableStream>>;
  /**
   * Every read of the child's stdout/stderr, in order, as it came. `data` is only valid during the call:
   * its memory is read into again, so whatever is kept must be copied.
   */
  readonly tap: (source: OutputSource, data: Buffer) => void;
}

/** Sinks whose reader went away (see GONE_CODES). */
const brokenSinks = new WeakSet<NodeJS.WritableStream>();
/** Sinks whose errors are watched (one listener each, however many relays write to them). */
const watchedSinks = new WeakSet<NodeJS.WritableStream>();
/** Per sink, the relays waiting for it to take more: one set of listeners per sink, not per relay. */
const waiting = new Map<NodeJS.WritableStream, Set<() => void>>();

function watchSink(to: NodeJS.WritableStream): void {
  if (watchedSinks.has(to)) return;
  watchedSinks.add(to);
  to.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== undefined && GONE_CODES.has(err.code)) brokenSinks.add(to);
  });
}

/** Calls `resume` once `to` drained, failed or closed (a 'drain' that never comes must not stall a relay). */
function whenWritable(to: NodeJS.WritableStream, resume: () => void): void {
  let set = waiting.get(to);
  if (!set) {
    const waiters = new Set<() => void>();
    set = waiters;
    waiting.set(to, waiters);
    const go = () => {
      to.off("drain", go);
      to.off("error", go);
      to.off("close", go);
      waiting.delete(to);
      for (const r of waiters) r();
    };
    to.on("drain", go);
    to.on("error", go);
    to.on("close", go);
  }
  set.add(resume);
}

/** How a pipe is read: into one reused buffer (no allocation per read), or as a stream's 'data' events. */
export type RelayMode = "buffer" | "data";

/** The libuv pipe under a net.Socket, as far as the relay uses it (Node's own, not a public API). */
interface PipeHandle {
  reading: boolean;
  useUserBuffer(buf: Uint8Array): void;
}

/**
 * Copies `from` (the child's end of a pipe) to `to` byte for byte, passing `to`'s backpressure on
 * (a `false` write stops reading until 'drain'), and shows every read to `tap` just after its write.
 * `onEnd` is called once the pipe is closed. Returns the mode it reads in.
 *
 * "buffer" mode hands the pipe's handle to a socket of ours that reads into one buffer, the way
 * net.Socket's `onread` option does: no 64 KiB buffer allocated (and garbage collected) per read,
 * and no stream machinery per read — half of what a 'data' relay costs in CPU. The buffer is read
 * into again only when `to` holds no part of it: `to` is our own stdout or stderr (whose writes are
 * done with a chunk once nothing is queued) and nothing is queued; otherwise the next read gets a
 * new buffer. When the handle is not what this expects (another Node), or for "data", it falls back
 * to 'data' events.
 */
export function relayOutput(
  from: Readable,
  to: NodeJS.WritableStream,
  tap: (data: Buffer) => void,
  onEnd: () => void,
  mode: RelayMode = "buffer",
): RelayMode {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  // A sink whose reader went away (EPIPE) gets no more bytes: they go only to `tap` from then on, and
  // a wait for its 'drain', which will never come, ends with its error. The app never notices.
  // (process.stdout cannot be destroyed: after EPIPE it fails every write and emits 'error' and
  // 'close' each time, so the error itself is what marks it.)
  const sink = to as NodeJS.WritableStream & { writableLength?: number; destroyed?: boolean };
  const gone = () => brokenSinks.has(to) || sink.destroyed === true;
  watchSink(to);
  if (mode === "buffer" && from instanceof Socket) {
    const owner = from as Socket & { _handle?: PipeHandle | null };
    const handle = owner._handle;
    // The child's socket started reading at once (reading true) and nothing was read yet (this is synchronous).
    if (handle && handle.reading === true && typeof handle.useUserBuffer === "function") {
      // The child process's socket lets go of the handle: from here only ours reads, pauses and closes it.
      owner._handle = null;
      const reuse = to === process.stdout || to === process.stderr;
      let buf = Buffer.allocUnsafeSlow(READ_BYTES);
      const onread: OnReadOpts = {
        // Called before the first read and after each: the same buffer while the sink keeps none of it.
        buffer: () => {
          if (!reuse || (sink.writableLength !== 0 && !gone())) buf = Buffer.allocUnsafeSlow(READ_BYTES);
          return buf;
        },
        callback: (n, b) => {
          const data = n === b.length ? (b as Buffer) : (b as Buffer).subarray(0, n);
          const ok = gone() || to.write(data);
          tap(data);
          if (ok) return true;
          // false stops reading (readStop); 'drain' (or the sink's end) starts it again.
          whenWritable(to, () => ours.resume());
          return false;
        },
      };
      // net.Socket takes `handle` and `onread` (what net.connect passes it), though its typings do not say so.
      const options = { handle, readable: true, writable: false, onread };
      const ours = new Socket(options);
      ours.once("close", end);
      ours.on("error", () => {}); // a read error ends the pipe: 'close' follows
      return "buffer";
    }
  }
  // Our own stdout's backpressure reaches the app exactly as a plain pipe's would; the server's never does.
  from.on("data", (b: Buffer) => {
    if (!gone() && !to.write(b)) {
      from.pause();
      whenWritable(to, () => from.resume());
    }
    tap(b);
  });
  from.once("close", end);
  return "data";
}

/**
 * One run of the app. It gets a process group of its own (`detached`), so a
 * restart can SIGKILL everything it started; stdin is the entrypoint's, its
 * stdout and stderr are pipes the entrypoint copies to its own stdout and
 * stderr unchanged (and reads for the log stream). `exited` resolves with the
 * shell-style exit code once the pipes are drained.
 */
export class AppChild {
  readonly exited: Promise<number>;
  private readonly proc: ChildProcess;
  private alive = true;

  constructor(
    argv: readonly string[],
    env: NodeJS.ProcessEnv,
    output: ChildOutput,
    onStartError: (err: Error) => void,
    relayMode: RelayMode = "buffer",
  ) {
    const [file, ...args] = argv;
    this.proc = spawn(file ?? "", args, { stdio: ["inherit", "pipe", "pipe"], env, detached: true });
    const proc = this.proc;
    let settle: (code: number) => void = () => {};
    this.exited = new Promise((resolve) => {
      let settled = false;
      settle = (c: number) => {
        if (settled) return;
        settled = true;
        this.alive = false;
        resolve(c);
      };
    });
    // Settles once the child exited and both pipes closed (or PIPES_CLOSE_MS after the exit).
    let code: number | undefined;
    let openPipes = 0;
    const maybeSettle = () => {
      if (code !== undefined && openPipes === 0) settle(code);
    };
    proc.once("error", (err: NodeJS.ErrnoException) => {
      // Only a failed spawn lands here with no pid (kill errors are reported by sendSignal).
      if (proc.pid === undefined) {
        onStartError(err);
        settle(startFailureCode(err));
      }
    });
    proc.once("exit", (c, signal) => {
      this.alive = false;
      const exitCode = exitCodeOf(c, signal);
      code = exitCode;
      maybeSettle();
      setTimeout(() => settle(exitCode), PIPES_CLOSE_MS).unref();
    });
    if (proc.pid === undefined) return;
    for (const source of ["stdout", "stderr"] as const) {
      const from = proc[source];
      if (!from) continue;
      openPipes += 1;
      relayOutput(
        from,
        output.sinks[source],
        (data) => output.tap(source, data),
        () => {
          openPipes -= 1;
          maybeSettle();
        },
        relayMode,
      );
    }
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return this.alive && this.proc.pid !== undefined;
  }

  /** Sends `signal` to the child itself (not its group); a no-op once it exited. */
  signal(signal: NodeJS.Signals): void {
    if (this.running && this.proc.pid !== undefined) sendSignal(this.proc.pid, signal);
  }

  /** SIGKILL to the child's whole process group (what it started, too). */
  killGroup(): void {
    if (this.proc.pid !== undefined) sendSignal(-this.proc.pid, "SIGKILL");
  }
}
