import type { AppInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";
import { OPERATIONS, type OperationName } from "../protocol/operations.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import type { ParsedFlags } from "./flags.js";
import { ago, table } from "./format.js";

const JSON_FLAG = { name: "json", type: "boolean", usage: "print JSON" } as const;

const OPERATION_FLAGS = OPERATIONS.map(
  (op) =>
    ({
      name: op,
      type: "string",
      usage: `the shell command of the app's ${op} operation (run with sh -c)`,
    }) as const,
);

/** The operations given as flags: a command each ("" where a flag was given empty). */
function operationFlags(flags: ParsedFlags): { [K in OperationName]?: string } {
  const out: { [K in OperationName]?: string } = {};
  for (const op of OPERATIONS) if (flags.has(op)) out[op] = flags.string(op) ?? "";
  return out;
}

export const appCreate: Command = {
  name: "app create",
  summary: "Create an app (management token required)",
  args: "NAME",
  help: `App names are 1-63 lowercase letters, digits and "-", starting with a letter.
-build, -deploy and -release store the app's operations: shell commands that runners run with sh -c in
the app's working directory. A deploy gets the entrypoint's environment for a new deployment unless
-no-entrypoint is given. \`waypoint app update\` changes them later.`,
  flags: [
    ...OPERATION_FLAGS,
    { name: "no-entrypoint", type: "boolean", usage: "deploys do not get the entrypoint's environment" },
    JSON_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const operations = operationFlags(flags);
    for (const [op, command] of Object.entries(operations)) {
      if (command === "")
        throw new AppError("USAGE", `-${op} is empty`, { hint: `Give -${op}=COMMAND, or leave -${op} out.` });
    }
    const conn = connect(flags, io);
    try {
      const app = await conn.createApp(flags.args[0]!, {
        operations,
        entrypointDisabled: flags.bool("no-entrypoint"),
      });
      if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(app, null, 2));
      writeLine(
        io.stderr,
        `Created app ${app.name}. Next: waypoint deployment create -app=${app.name} > ${app.name}.env`,
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};

export const appUpdate: Command = {
  name: "app update",
  summary: "Change an app's operations or whether deploys get the entrypoint (management token required)",
  args: "NAME",
  help: `-build=CMD, -deploy=CMD and -release=CMD set an operation; an empty value (-build=) removes it.
-entrypoint=false stops giving deploys the entrypoint's environment; -entrypoint=true gives it again.
What is not given stays as it is.`,
  flags: [
    ...OPERATION_FLAGS,
    { name: "entrypoint", type: "boolean", usage: "whether deploys get the entrypoint's environment" },
    JSON_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const operations = operationFlags(flags);
    const entrypoint = flags.has("entrypoint") ? flags.bool("entrypoint") : undefined;
    if (Object.keys(operations).length === 0 && entrypoint === undefined) {
      throw new AppError("USAGE", "nothing to change", {
        hint: "Give -build=CMD, -deploy=CMD or -release=CMD (empty removes it), or -entrypoint=true|false.",
      });
    }
    const conn = connect(flags, io);
    try {
      const app = await conn.updateApp(flags.args[0]!, {
        operations,
        ...(entrypoint === undefined ? {} : { entrypointDisabled: !entrypoint }),
      });
      if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(app, null, 2));
      else writeLine(io.stdout, describeApp(app));
      return 0;
    } finally {
      conn.close();
    }
  },
};

/** An app's operations and entrypoint setting, one per line. */
function describeApp(app: AppInfo): string {
  return [
    ...OPERATIONS.map((op) => `${`${op}:`.padEnd(12)}${app.operations[op] ?? "(not defined)"}`),
    `${"entrypoint:".padEnd(12)}${app.entrypointDisabled ? "off (deploys run without it)" : "on"}`,
  ].join("\n");
}

export const appList: Command = {
  name: "app list",
  summary: "List apps",
  help: '-json prints [{"name", "createdAt", "deployments", "operations": {"build", "deploy", "release"}, "entrypointDisabled"}] (an operation the app does not define is left out).',
  flags: [JSON_FLAG, ...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const apps = await conn.listApps();
      if (flags.bool("json")) {
        writeLine(io.stdout, JSON.stringify(apps, null, 2));
        return 0;
      }
      if (apps.length === 0) {
        writeLine(io.stderr, "No apps yet. Create one with `waypoint app create NAME`.");
        return 0;
      }
      const now = Date.now();
      writeLine(
        io.stdout,
        table(
          ["NAME", "DEPLOYMENTS", "OPERATIONS", "CREATED"],
          apps.map((a) => [
            a.name,
            String(a.deployments),
            OPERATIONS.filter((op) => a.operations[op] !== undefined).join(",") || "-",
            ago(a.createdAt, now),
          ]),
        ),
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};
