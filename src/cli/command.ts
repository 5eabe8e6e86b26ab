import type { Writable } from "node:stream";
import type { FlagSpec, ParsedFlags } from "./flags.js";

/** Everything a command may touch; tests pass their own. */
export interface Io {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/** One `waypoint` subcommand, in its own file named noun-verb.ts. */
export interface Command {
  /** Words after `waypoint`, e.g. "server run". */
  readonly name: string;
  readonly summary: string;
  /** Shown after the name in usage, e.g. "[FILE|-]". */
  readonly args?: string;
  /** A paragraph printed by -help after the usage line. */
  readonly help?: string;
  readonly flags: readonly FlagSpec[];
  /** Flags end at the first positional argument, which starts a command line of its own (`exec`). */
  readonly flagsFirst?: boolean;
  run(flags: ParsedFlags, io: Io): Promise<number>;
}

export function writeLine(stream: Writable, text = ""): void {
  stream.write(`${text}\n`);
}
