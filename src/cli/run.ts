import { PACKAGE_VERSION } from "../build-info.js";
import { AppError, isAppError } from "../protocol/errors.js";
import { appCreate, appList, appUpdate } from "./app-commands.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { configGet, configSet, configUnset } from "./config-commands.js";
import { contextCreate, contextDelete, contextList, contextUse, contextVerify } from "./context-commands.js";
import { demo } from "./demo.js";
import { deploymentCreate, deploymentList } from "./deployment-commands.js";
import { exec } from "./exec.js";
import { editDistance, formatFlagHelp, HelpRequested, parseFlags } from "./flags.js";
import { instanceList, instances } from "./instances.js";
import { jobCancel, jobGet, jobList } from "./job-commands.js";
import { logs } from "./logs.js";
import { build, deploy, release, runnerAgent, up } from "./runner-commands.js";
import { serverBootstrap } from "./server-bootstrap.js";
import { serverRestore } from "./server-restore.js";
import { serverRun } from "./server-run.js";
import { serverSnapshot } from "./server-snapshot.js";
import { snapshotInspect } from "./snapshot-inspect.js";
import { snapshotVerify } from "./snapshot-verify.js";
import { tokenNew } from "./token-new.js";
import { ui } from "./ui.js";
import { upgradePlan } from "./upgrade-plan.js";
import { version } from "./version.js";
import { versions } from "./versions.js";

export const COMMANDS: readonly Command[] = [
  ui,
  demo,
  version,
  versions,
  upgradePlan,
  serverRun,
  serverBootstrap,
  serverSnapshot,
  serverRestore,
  snapshotInspect,
  snapshotVerify,
  tokenNew,
  appCreate,
  appUpdate,
  appList,
  jobList,
  jobGet,
  jobCancel,
  up,
  build,
  deploy,
  release,
  runnerAgent,
  deploymentCreate,
  deploymentList,
  configSet,
  configGet,
  configUnset,
  instances,
  instanceList,
  logs,
  exec,
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
    return unknownCommand(argv, io);
  }
  const { command, rest } = match;
  try {
    const flags = parseFlags(rest, command.flags, {
      command: command.name,
      ...(command.flagsFirst ? { flagsFirst: true } : {}),
    });
    checkPositional(command, flags.args);
    return await command.run(flags, io);
  } catch (err) {
    if (err instanceof HelpRequested) {
      writeLine(io.stdout, usage(command));
      return 0;
    }
    return report(err, io);
  }
}

/**
 * Only the command words are echoed (never the rest of the line, which may
 * hold a token), with the commands that start with the same word or are a
 * typo away from it.
 */
function unknownCommand(argv: readonly string[], io: Io): number {
  const first = argv[0] ?? "";
  const family = COMMANDS.filter((c) => c.name.split(" ")[0] === first);
  if (family.length > 0) {
    writeLine(io.stderr, `Error: "waypoint ${first}" needs a subcommand:`);
    for (const c of family) writeLine(io.stderr, `  waypoint ${c.name.padEnd(20)} ${c.summary}`);
    return 2;
  }
  const shown = /^[a-z][a-z-]{0,30}$/.test(first) ? `"${first}"` : "given";
  writeLine(io.stderr, `Error: unknown command ${shown}`);
  const near = COMMANDS.filter((c) => {
    const word = c.name.split(" ")[0]!;
    return editDistance(word, first) <= 2 || word.startsWith(first);
  }).map((c) => `  waypoint ${c.name}`);
  writeLine(
    io.stderr,
    near.length > 0
      ? `Hint: did you mean:\n${near.join("\n")}`
      : 'Hint: run "waypoint -help" to list the commands.',
  );
  return 2;
}

/** The positional arguments a command's usage allows: "NAME" one, "[FILE|-]" zero or one, "…" any number. */
export function positionalLimits(args: string | undefined): { min: number; max: number } {
  if (!args) return { min: 0, max: 0 };
  if (args.includes("…") || args.includes("...")) return { min: 0, max: Number.POSITIVE_INFINITY };
  const words = args.split(/\s+/).filter(Boolean);
  return { min: words.filter((w) => !w.startsWith("[")).length, max: words.length };
}

function checkPositional(command: Command, args: readonly string[]): void {
  const { min, max } = positionalLimits(command.args);
  if (args.length > max) {
    const extra = args[max]!;
    const flagLike =
      extra.includes("/") || extra.includes(".") ? " (a value for a flag needs -flag=VALUE)" : "";
    throw new AppError(
      "USAGE",
      max === 0
        ? `waypoint ${command.name} takes no arguments, got "${extra}"${flagLike}`
        : `waypoint ${command.name} takes at most ${max} argument${max === 1 ? "" : "s"} (${command.args}), got ${args.length}`,
      { hint: `Run "waypoint ${command.name} -help" to see its usage.` },
    );
  }
  if (args.length < min) {
    throw new AppError("USAGE", `waypoint ${command.name} needs ${command.args}`, {
      hint: `Run "waypoint ${command.name} -help" to see its usage.`,
    });
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
    command.flagsFirst
      ? `Usage: waypoint ${command.name} [flags]${command.args ? ` ${command.args}` : ""}`
      : `Usage: waypoint ${command.name}${command.args ? ` ${command.args}` : ""} [flags]`,
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
