import { spawn } from "node:child_process";
import type { EntrypointConnection, ExecStream } from "../client/entrypoint-connection.js";
import type { EntrypointExecResponse__Output } from "../gen/waypoint/v1/EntrypointExecResponse.js";
import type { ExecStart__Output } from "../gen/waypoint/v1/ExecStart.js";
import { exitCodeOf, sendSignal, startFailureCode } from "./child.js";
import type { EntrypointLogger } from "./logger.js";

/** What a running command looks like to the session, pty or pipes. */
interface Running {
  readonly pid: number;
  write(data: Buffer): void;
  endInput(): void;
  resize(rows: number, cols: number): void;
}

export interface ExecContext {
  readonly conn: EntrypointConnection;
  readonly instanceId: string;
  readonly session: string;
  /** Refuse the session (WAYPOINT_CEB_DISABLE_EXEC). */
  readonly disabled: boolean;
  /** The app's environment at the moment the command starts. */
  readonly env: () => NodeJS.ProcessEnv;
  readonly cwd: string;
  readonly logger: EntrypointLogger;
}

/**
 * One exec session (DESIGN §9): opens EntrypointExec, sends `open`, waits for
 * `start`, runs the command with the app's environment in the app's working
 * directory — on a pseudo-terminal when asked, else on pipes — streams its
 * input and output, and ends with its exit code (128 + signal when killed) or
 * `error` when it could not start. If the server ends the session first, the
 * command's process group is killed.
 */
export function runExecSession(c: ExecContext): void {
  let running: Running | undefined;
  let finished = false;
  let stream: ExecStream;
  const paused = new Set<{ pause(): void; resume(): void }>();
  const log = c.logger.child({ session: c.session });

  const finish = (last: { exitCode: number } | { error: string }) => {
    if (finished) return;
    finished = true;
    stream.write(last);
    stream.end();
  };
  const output = (kind: "stdout" | "stderr", data: Buffer, source?: { pause(): void; resume(): void }) => {
    if (finished) return;
    const ok = stream.write(kind === "stdout" ? { stdout: data } : { stderr: data });
    if (!ok && source) {
      source.pause();
      paused.add(source);
    }
  };

  const start = async (s: ExecStart__Output) => {
    if (c.disabled) {
      log.warn("exec refused: WAYPOINT_CEB_DISABLE_EXEC is set");
      finish({ error: "exec is disabled for this instance (WAYPOINT_CEB_DISABLE_EXEC)" });
      return;
    }
    const [file, ...args] = s.args;
    if (!file) {
      finish({ error: "no command to run" });
      return;
    }
    log.info({ command: file, tty: s.tty }, "exec session started");
    try {
      running = s.tty
        ? await startPty(file, args, s, c, output, finish)
        : startPipes(file, args, c, output, finish);
    } catch (err) {
      finish({ error: `cannot start ${file}: ${(err as Error).message}` });
    }
  };

  stream = c.conn.exec(
    (m: EntrypointExecResponse__Output) => {
      if (m.response === "start" && m.start && !running) void start(m.start);
      else if (m.response === "stdin" && m.stdin) running?.write(m.stdin);
      else if (m.response === "stdinEof") running?.endInput();
      else if (m.response === "window" && m.window) running?.resize(m.window.rows, m.window.cols);
    },
    () => {
      for (const p of paused) p.resume();
      paused.clear();
    },
    (err) => {
      if (err) log.warn({ err: err.message }, "exec session ended by the server");
      if (running && !finished) {
        finished = true;
        sendSignal(-running.pid, "SIGKILL");
      }
      finished = true;
    },
  );
  stream.write({ open: { instanceId: c.instanceId, session: c.session } });
}

function startPipes(
  file: string,
  args: string[],
  c: ExecContext,
  output: (kind: "stdout" | "stderr", data: Buffer, source?: { pause(): void; resume(): void }) => void,
  finish: (last: { exitCode: number } | { error: string }) => void,
): Running {
  const proc = spawn(file, args, { cwd: c.cwd, env: c.env(), stdio: "pipe", detached: true });
  let failed = false;
  proc.once("error", (err: NodeJS.ErrnoException) => {
    if (proc.pid !== undefined) return;
    failed = true;
    finish({ error: `cannot start ${file}: ${err.message} (exit ${startFailureCode(err)})` });
  });
  proc.stdin.on("error", () => {});
  proc.stdout.on("data", (b: Buffer) => output("stdout", b, proc.stdout));
  proc.stderr.on("data", (b: Buffer) => output("stderr", b, proc.stderr));
  proc.once("close", (code, signal) => {
    if (!failed) finish({ exitCode: exitCodeOf(code, signal) });
  });
  return {
    get pid() {
      return proc.pid ?? 0;
    },
    write: (data) => {
      if (!proc.stdin.destroyed) proc.stdin.write(data);
    },
    endInput: () => proc.stdin.end(),
    resize: () => {},
  };
}

async function startPty(
  file: string,
  args: string[],
  s: ExecStart__Output,
  c: ExecContext,
  output: (kind: "stdout" | "stderr", data: Buffer) => void,
  finish: (last: { exitCode: number } | { error: string }) => void,
): Promise<Running> {
  // Loaded only for a terminal session: the native module costs memory an idle entrypoint does not need.
  const pty = await import("@lydell/node-pty");
  const term = pty.spawn(file, args, {
    name: s.term || "xterm-256color",
    cols: s.cols || 80,
    rows: s.rows || 24,
    cwd: c.cwd,
    env: { ...c.env(), TERM: s.term || "xterm-256color" } as Record<string, string>,
    encoding: null,
  });
  term.onData((d: string | Buffer) => output("stdout", typeof d === "string" ? Buffer.from(d) : d));
  term.onExit(({ exitCode, signal }) => {
    finish({ exitCode: signal ? 128 + signal : exitCode });
  });
  return {
    pid: term.pid,
    write: (data) => term.write(data as unknown as string),
    // A terminal has no half-close: end-of-file is ^D at the start of a line.
    endInput: () => term.write("\x04"),
    resize: (rows, cols) => {
      if (rows > 0 && cols > 0) term.resize(cols, rows);
    },
  };
}
