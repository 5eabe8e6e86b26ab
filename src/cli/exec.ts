import { constants } from "node:os";
import type { Connection } from "../client/connection.js";
import { AppError, ERROR_CODES } from "../protocol/errors.js";
import type { Command, Io } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import type { ParsedFlags } from "./flags.js";

export const exec: Command = {
  name: "exec",
  summary: "Run a command inside an app instance (management token required)",
  args: "-- CMD ARGS…",
  flagsFirst: true,
  help:
    "Runs CMD in the instance named by -instance, or in a connected instance of the app's latest deployment\n" +
    "with -app, next to the app and with its configuration. stdin, stdout and stderr are streamed; the\n" +
    "command's exit code becomes this command's exit code. Flags end at CMD, so `waypoint exec -app=web\n" +
    "ls -la` works; `--` before CMD is accepted too. When stdin and stdout are terminals the command runs on\n" +
    "a terminal of the same size (TERM is passed on, window resizes follow); -tty and -no-tty force it.\n" +
    "Failures of waypoint itself (the instance is unknown, disconnected or has exec disabled, the server\n" +
    'is unreachable) print "Error: …" and exit with the codes of README "Exit codes"; a command ended\n' +
    "by Ctrl-C without a terminal, or by SIGTERM/SIGHUP to this process, exits 128+N.",
  flags: [
    { name: "instance", type: "string", usage: "the instance to run in", placeholder: "ID" },
    {
      name: "app",
      type: "string",
      usage: "run in a connected instance of this app's latest deployment",
      placeholder: "NAME",
    },
    { name: "tty", type: "boolean", usage: "run on a terminal even when stdin or stdout is not one" },
    { name: "no-tty", type: "boolean", usage: "never run on a terminal" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const target = execTarget(flags);
    if (flags.args.length === 0) {
      throw new AppError("USAGE", "waypoint exec needs a command to run", {
        hint: `For example: waypoint exec -${target.instance ? `instance=${target.instance}` : `app=${target.app}`} -- sh -c 'env | sort'`,
      });
    }
    const tty = terminalFor(flags, io);
    const conn = connect(flags, io);
    try {
      return await runSession(conn, io, { ...target, args: flags.args, ...(tty ? { tty } : {}) });
    } catch (err) {
      throw withExecHint(err);
    } finally {
      conn.close();
    }
  },
};

/** Exactly one of -instance and -app. */
export function execTarget(flags: ParsedFlags): { instance?: string; app?: string } {
  const instance = flags.string("instance");
  const app = flags.string("app");
  if (instance && app) {
    throw new AppError("USAGE", "-instance and -app do not combine; give one", {
      hint: "-instance=ID runs in that instance; -app=NAME picks a connected one of the app's latest deployment.",
    });
  }
  if (instance) return { instance };
  if (app) return { app };
  throw new AppError("USAGE", "waypoint exec needs -instance=ID or -app=NAME", {
    hint: "`waypoint instances` lists the instances and their apps.",
  });
}

export interface TerminalSize {
  readonly rows: number;
  readonly cols: number;
  readonly term?: string;
}

type TtyOut = { isTTY?: boolean; rows?: number; columns?: number };

/** The remote terminal: by default when stdin and stdout are terminals; -tty / -no-tty decide otherwise. */
export function terminalFor(flags: ParsedFlags, io: Io): TerminalSize | undefined {
  if (flags.bool("tty") && flags.bool("no-tty")) {
    throw new AppError("USAGE", "-tty and -no-tty do not combine");
  }
  const out = io.stdout as TtyOut;
  const wanted = flags.has("tty")
    ? flags.bool("tty")
    : flags.has("no-tty")
      ? !flags.bool("no-tty")
      : io.stdin.isTTY === true && out.isTTY === true;
  if (!wanted) return undefined;
  const term = io.env.TERM;
  return { ...windowOf(out), ...(term ? { term } : {}) };
}

function windowOf(out: TtyOut): { rows: number; cols: number } {
  const ok = (n: number | undefined): n is number => typeof n === "number" && n > 0;
  return { rows: ok(out.rows) ? out.rows : 24, cols: ok(out.columns) ? out.columns : 80 };
}

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Runs one session. Lifecycle: stdin is read only once the instance accepted
 * the session (so a refused one consumes nothing) and, on a terminal, is put
 * in raw mode until the session ends; every exit path (exit code, error,
 * signal, process exit) restores the terminal and stops reading stdin.
 */
async function runSession(
  conn: Connection,
  io: Io,
  opts: { instance?: string; app?: string; args: readonly string[]; tty?: TerminalSize },
): Promise<number> {
  const session = conn.exec(opts, {
    stdout: (data) => io.stdout.write(data),
    stderr: (data) => io.stderr.write(data),
  });
  const stdin = io.stdin as NodeJS.ReadableStream & {
    isTTY?: boolean;
    setRawMode?: (on: boolean) => unknown;
  };
  let raw = false;
  const restore = () => {
    if (raw) stdin.setRawMode?.(false);
    raw = false;
  };
  let signalled: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    session.cancel();
  };
  const onResize = () => {
    const { rows, cols } = windowOf(io.stdout as TtyOut);
    session.resize(rows, cols);
  };
  let reading = false;
  // Forwards one chunk, holding stdin until the stream takes more.
  const onData = (chunk: Buffer | string) => {
    stdin.pause();
    void session.writeStdin(typeof chunk === "string" ? Buffer.from(chunk) : chunk).then(() => {
      if (reading) stdin.resume();
    });
  };
  const onEnd = () => session.endStdin();
  for (const s of SIGNALS) process.on(s, onSignal);
  process.once("exit", restore);
  try {
    await Promise.race([session.started, session.exit]);
    if (opts.tty && stdin.isTTY && typeof stdin.setRawMode === "function") {
      stdin.setRawMode(true);
      raw = true;
    }
    if (opts.tty) io.stdout.on("resize", onResize);
    stdin.on("data", onData);
    stdin.on("end", onEnd);
    reading = true;
    stdin.resume();
    const code = await session.exit;
    // Exit codes are 0-255; anything else would wrap around (256 would read as success).
    return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 1;
  } catch (err) {
    if (signalled) return 128 + (constants.signals[signalled] ?? 2);
    throw err;
  } finally {
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off("exit", restore);
    io.stdout.off("resize", onResize);
    stdin.off("data", onData);
    stdin.off("end", onEnd);
    reading = false;
    stdin.pause();
    restore();
  }
}

/** Hints that name exec's own next steps, where the server sent only the generic one. */
function withExecHint(err: unknown): unknown {
  if (!(err instanceof AppError) || err.hint !== ERROR_CODES[err.code].hint) return err;
  const hints: Partial<Record<AppError["code"], string>> = {
    NOT_FOUND: "`waypoint instances` lists the connected instances; exec needs one that is connected.",
    PERMISSION_DENIED: "exec needs a management token (`waypoint token new -kind=management`).",
  };
  const hint = hints[err.code];
  return hint ? new AppError(err.code, err.message, { hint, cause: err }) : err;
}
