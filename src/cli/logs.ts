import type { Connection } from "../client/connection.js";
import type { LogLineInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";
import type { Command, Io } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { interruptible } from "./interrupt.js";
import { parseCount, pickSelector, type Selector, selectorRequest } from "./runtime-args.js";

export const logs: Command = {
  name: "logs",
  summary: "Print the output of app instances; -f follows it",
  help:
    "Selects by at most one of -app (every instance of the app's latest deployment), -deployment or\n" +
    "-instance; none selects every instance. Lines are printed as the app wrote them, stderr lines too;\n" +
    'unless -instance is given each is prefixed with "INSTANCE | ". Lines waypoint itself added (e.g. how\n' +
    'many lines were dropped while the server was away) start with "[waypoint] ".\n' +
    '-json prints one object per line: {"instance", "source", "line", "at"} (source stdout, stderr or\n' +
    "waypoint; at: RFC 3339 with milliseconds). -f keeps printing new lines until Ctrl-C (exit 0); if the\n" +
    "server goes away meanwhile the command says so and exits 3.",
  flags: [
    {
      name: "app",
      type: "string",
      usage: "the instances of this app's latest deployment",
      placeholder: "NAME",
    },
    { name: "deployment", type: "string", usage: "the instances of this deployment", placeholder: "ID" },
    { name: "instance", type: "string", usage: "this instance only", placeholder: "ID" },
    { name: "f", type: "boolean", usage: "follow: keep printing new lines until interrupted" },
    {
      name: "tail",
      type: "string",
      usage: "start with only the last N buffered lines (default: all that are buffered)",
      placeholder: "N",
    },
    { name: "json", type: "boolean", usage: "print one JSON object per line" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const selector = pickSelector(flags, ["app", "deployment", "instance"]);
    const tail = parseCount("tail", flags.string("tail"));
    const follow = flags.bool("f");
    const format = flags.bool("json")
      ? (l: LogLineInfo) => JSON.stringify(l)
      : (l: LogLineInfo) => formatLogLine(l, selector.kind !== "instance");
    // A follower pauses its stream while stdout is stuck: the default window holds the server back soon.
    const conn = connect(flags, io, "cli", { smallWindow: follow });
    try {
      const opts = { conn, selector, follow, ...(tail !== undefined ? { tail } : {}), format };
      if (!follow) await streamLogs(io, opts);
      else await interruptible((scope) => streamLogs(io, { ...opts, signal: scope.signal }));
      return 0;
    } finally {
      conn.close();
    }
  },
};

/** One line of text output: "INSTANCE | " when several instances may appear, "[waypoint] " on waypoint's own lines. */
export function formatLogLine(l: LogLineInfo, prefixInstance: boolean): string {
  const mark = l.source === "waypoint" ? "[waypoint] " : "";
  return `${prefixInstance ? `${l.instance} | ` : ""}${mark}${l.line}`;
}

/**
 * Streams until the server ends the stream (without follow), `signal` aborts
 * (Ctrl-C: resolves), or stdout closes (a pager or `head` quit: resolves).
 * While following, an end the caller did not ask for is an error: the server
 * went away.
 */
function streamLogs(
  io: Io,
  opts: {
    conn: Connection;
    selector: Selector;
    follow: boolean;
    tail?: number;
    format: (l: LogLineInfo) => string;
    signal?: AbortSignal;
  },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let stopped = false;
    const stop = () => {
      stopped = true;
      handle.cancel();
      // A paused stream whose call already ended would never deliver its end: read it out (the lines
      // are dropped, `stopped` is set) so the command finishes.
      handle.resume();
    };
    // EPIPE and the like: whoever read our output is gone, so stop quietly.
    const onOutputError = () => stop();
    // While stdout takes no more (a slow pager or pipe), stop reading the stream, so the server's
    // flow control holds the lines back (and skips what its bounded backlog cannot keep) instead of
    // this process buffering them all in memory.
    let paused = false;
    const onDrain = () => {
      paused = false;
      handle.resume();
    };
    const cleanup = () => {
      io.stdout.off("error", onOutputError);
      io.stdout.off("drain", onDrain);
      opts.signal?.removeEventListener("abort", stop);
    };
    const handle = opts.conn.logs(
      {
        ...selectorRequest(opts.selector),
        follow: opts.follow,
        ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
      },
      (lines) => {
        if (stopped) return;
        let full = false;
        for (const l of lines) full = !io.stdout.write(`${opts.format(l)}\n`) || full;
        if (full && !paused) {
          paused = true;
          handle.pause();
          io.stdout.once("drain", onDrain);
        }
      },
      (err) => {
        cleanup();
        if (stopped) resolve();
        else if (err) reject(opts.follow ? lost(err, opts.conn.address) : err);
        else if (opts.follow) reject(lost(undefined, opts.conn.address));
        else resolve();
      },
    );
    io.stdout.on("error", onOutputError);
    if (opts.signal?.aborted) stop();
    else opts.signal?.addEventListener("abort", stop, { once: true });
  });
}

/** The follow stream ended without Ctrl-C: exit 3 unless the server said something more specific. */
function lost(err: Error | undefined, address: string): AppError {
  if (err instanceof AppError && err.code !== "UNAVAILABLE") return err;
  const why = err ? `: ${err.message}` : " (it may be shutting down)";
  return new AppError("UNAVAILABLE", `lost the log stream from the server at ${address}${why}`, {
    hint: "Run the command again once the server is back (`waypoint version` tells when it answers).",
  });
}
