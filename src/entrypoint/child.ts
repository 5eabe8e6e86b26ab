import { type ChildProcess, spawn } from "node:child_process";
import { constants } from "node:os";
import type { OutputSource } from "./log-buffer.js";

/** How long to wait for the child's pipes to close after it exited (a grandchild may hold them). */
const PIPES_CLOSE_MS = 1_000;

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
  /** Every read of the child's stdout/stderr, in order, as it came. */
  readonly tap: (source: OutputSource, data: Buffer) => void;
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
  ) {
    const [file, ...args] = argv;
    this.proc = spawn(file ?? "", args, { stdio: ["inherit", "pipe", "pipe"], env, detached: true });
    const proc = this.proc;
    this.exited = new Promise((resolve) => {
      let settled = false;
      let code = 0;
      const settle = (c: number) => {
        if (settled) return;
        settled = true;
        this.alive = false;
        resolve(c);
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
        code = exitCodeOf(c, signal);
        setTimeout(() => settle(code), PIPES_CLOSE_MS).unref();
      });
      proc.once("close", (c, signal) => settle(proc.pid === undefined ? code : exitCodeOf(c, signal)));
    });
    for (const source of ["stdout", "stderr"] as const) {
      const from = proc[source];
      const to = output.sinks[source];
      // Our own stdout's backpressure reaches the app exactly as a plain pipe's would; the server's never does.
      from?.on("data", (b: Buffer) => {
        if (!to.write(b)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
        output.tap(source, b);
      });
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
