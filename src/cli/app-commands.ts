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
-no-entrypoint is given. The server's URL service serves the app at its URL (http://NAME.DOMAIN:PORT, and
NAME--vN.DOMAIN for one deployment) unless -no-url is given. \`waypoint app update\` changes them later.
-json prints the app as \`waypoint app list -json\` prints each.`,
  flags: [
    ...OPERATION_FLAGS,
    { name: "no-entrypoint", type: "boolean", usage: "deploys do not get the entrypoint's environment" },
    { name: "no-url", type: "boolean", usage: "the URL service does not serve the app (it has no URL)" },
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
        urlDisabled: flags.bool("no-url"),
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
  summary: "Change an app's operations, entrypoint or URL setting (management token required)",
  args: "NAME",
  help: `-build=CMD, -deploy=CMD and -release=CMD set an operation; an empty value (-build=) removes it.
-entrypoint=false stops giving deploys the entrypoint's environment; -entrypoint=true gives it again.
-url=false stops the URL service serving the app (its URLs answer 404); -url=true serves it again.
What is not given stays as it is. -json prints the app as \`waypoint app list -json\` prints each.`,
  flags: [
    ...OPERATION_FLAGS,
    { name: "entrypoint", type: "boolean", usage: "whether deploys get the entrypoint's environment" },
    { name: "url", type: "boolean", usage: "whether the URL service serves the app" },
    JSON_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const operations = operationFlags(flags);
    const entrypoint = flags.has("entrypoint") ? flags.bool("entrypoint") : undefined;
    const url = flags.has("url") ? flags.bool("url") : undefined;
    if (Object.keys(operations).length === 0 && entrypoint === undefined && url === undefined) {
      throw new AppError("USAGE", "nothing to change", {
        hint: "Give -build=CMD, -deploy=CMD or -release=CMD (empty removes it), -entrypoint=true|false or -url=true|false.",
      });
    }
    const conn = connect(flags, io);
    try {
      const app = await conn.updateApp(flags.args[0]!, {
        operations,
        ...(entrypoint === undefined ? {} : { entrypointDisabled: !entrypoint }),
        ...(url === undefined ? {} : { urlDisabled: !url }),
      });
      if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(app, null, 2));
      else writeLine(io.stdout, describeApp(app));
      return 0;
    } finally {
      conn.close();
    }
  },
};

/** An app's operations, entrypoint and URL settings, one per line. */
function describeApp(app: AppInfo): string {
  return [
    ...OPERATIONS.map((op) => `${`${op}:`.padEnd(12)}${app.operations[op] ?? "(not defined)"}`),
    `${"entrypoint:".padEnd(12)}${app.entrypointDisabled ? "off (deploys run without it)" : "on"}`,
    `${"url:".padEnd(12)}${
      app.urlDisabled
        ? "off (the URL service does not serve it)"
        : `on (${app.url ?? "no URL now: the server's URL service is off"})`
    }`,
  ].join("\n");
}

export const appList: Command = {
  name: "app list",
  summary: "List apps",
  help:
    'URL is the app\'s URL, which reaches its latest deployment ("-" when it has none: the URL service is off for\n' +
    'the server or the app). -json prints [{"name", "createdAt", "deployments", "operations": {"build", "deploy",\n' +
    '"release"}, "entrypointDisabled", "urlDisabled", "url"}] (an operation the app does not define is left out,\n' +
    'and so is "url" when the app has none).',
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
          ["NAME", "DEPLOYMENTS", "OPERATIONS", "CREATED", "URL"],
          apps.map((a) => [
            a.name,
            String(a.deployments),
            OPERATIONS.filter((op) => a.operations[op] !== undefined).join(",") || "-",
            ago(a.createdAt, now),
            a.url ?? "-",
          ]),
        ),
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};
