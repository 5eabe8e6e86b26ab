import { PACKAGE_VERSION } from "../build-info.js";
import { AppError, isAppError } from "../protocol/errors.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { contextCreate, contextDelete, contextList, contextUse, contextVerify } from "./context-commands.js";
import { formatFlagHelp, HelpRequested, parseFlags } from "./flags.js";
import { serverBootstrap } from "./server-bootstrap.js";
import { serverRun } from "./server-run.js";
import { tokenNew } from "./token-new.js";
import { upgradePlan } from "./upgrade-plan.js";
import { version } from "./version.js";
import { versions } from "./versions.js";

export const COMMANDS: readonly Command[] = [
  version,
  versions,
  upgradePlan,
  serverRun,
  serverBootstrap,
  tokenNew,
  contextCreate,
  contextUse,
  contextList,
  contextVerify,
  contextDelete,
];

/**
 * The whole `waypoint` CLI: picks the command from argv, parses its flags,
 * runs it and turns every error into a message plus hint on stderr and a
 * documented exit code (README "Exit codes"). Never throws.
 */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const match = findCommand(argv);
  if (!match) {
    const first = argv[0];
    if (
      first === undefined ||
      first === "-h" ||
      first === "-help" ||
      first === "--help" ||
      first === "help"
    ) {
      writeLine(io.stdout, overview());
      return 0;
    }
    if (first === "-version" || first === "--version" || first === "-v") {
      writeLine(io.stdout, PACKAGE_VERSION);
      return 0;
    }
    const typed = argv.filter((a) => !a.startsWith("-")).join(" ");
    writeLine(io.stderr, `waypoint: unknown command "${typed}"`);
    const near = COMMANDS.filter((c) => c.name.startsWith(argv[0] ?? "")).map((c) => `  waypoint ${c.name}`);
    writeLine(
      io.stderr,
      near.length > 0 ? `Did you mean:\n${near.join("\n")}` : 'Run "waypoint -help" to list the commands.',
    );
    return 2;
  }
  const { command, rest } = match;
  try {
    const flags = parseFlags(rest, command.flags, { command: command.name });
    return await command.run(flags, io);
  } catch (err) {
    if (err instanceof HelpRequested) {
      writeLine(io.stdout, usage(command));
      return 0;
    }
    return report(err, io);
  }
}

function findCommand(argv: readonly string[]): { command: Command; rest: readonly string[] } | undefined {
  let best: { command: Command; rest: readonly string[] } | undefined;
  for (const command of COMMANDS) {
    const words = command.name.split(" ");
    if (
      words.every((w, i) => argv[i] === w) &&
      (!best || words.length > best.command.name.split(" ").length)
    ) {
      best = { command, rest: argv.slice(words.length) };
    }
  }
  return best;
}

function report(err: unknown, io: Io): number {
  const e = isAppError(err)
    ? err
    : new AppError("INTERNAL", (err as Error)?.message ?? String(err), { cause: err });
  writeLine(io.stderr, `Error: ${e.message}`);
  writeLine(io.stderr, `Hint: ${e.hint}`);
  if (e.code === "INTERNAL" && io.env.WAYPOINT_LOG_LEVEL?.toLowerCase() === "debug") {
    writeLine(io.stderr, String((err as Error)?.stack ?? err));
  }
  return e.exitCode;
}

export function usage(command: Command): string {
  const lines = [
    `Usage: waypoint ${command.name}${command.args ? ` ${command.args}` : ""} [flags]`,
    "",
    command.summary,
  ];
  if (command.help) lines.push("", command.help);
  if (command.flags.length > 0) lines.push("", "Flags:", formatFlagHelp(command.flags));
  return lines.join("\n");
}

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `waypoint ${PACKAGE_VERSION}: deployment control that knows which protocol versions are in use.`,
    "",
    "Usage: waypoint COMMAND [flags]   (Go-style flags: -name=value; --name=value works too)",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    'Run "waypoint COMMAND -help" for a command\'s flags.',
  ].join("\n");
}
