import type { ConfigEntryInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { table } from "./format.js";
import { parseConfigNames, parseConfigPairs } from "./runtime-args.js";

const APP_FLAG = {
  name: "app",
  type: "string",
  usage: "the app's own scope (default: the global scope, which every app inherits)",
  placeholder: "NAME",
} as const;

/** "globally" or "for app web", for messages. */
const where = (app: string | undefined): string => (app ? `for app ${app}` : "globally");

/** A value on one table line: control characters (newlines) escaped as in JSON. */
const cell = (value: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  /[\u0000-\u001f\u007f]/.test(value) ? JSON.stringify(value).slice(1, -1) : value;

/** What a secret value looks like in the table when it is not revealed. */
const MASK = "********";

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? "" : "s"}`;

function reportPushed(io: Io, pushed: number): void {
  writeLine(
    io.stderr,
    pushed === 0
      ? "No connected entrypoint is affected; instances get it when they start."
      : `Pushed to ${plural(pushed, "connected entrypoint")}; they restart their app with it.`,
  );
}

export const configSet: Command = {
  name: "config set",
  summary: "Set configuration variables, globally or for one app (management token required)",
  args: "KEY=VALUE…",
  help:
    "Variables become environment variables of the app's processes; an app's own value wins over the\n" +
    "global one. All pairs are written in one change, or none if one is malformed. Connected entrypoints\n" +
    "the change affects get it at once and restart their app.\n" +
    "-secret stores the values as secret: `config get` masks them unless -reveal, and they are never\n" +
    "logged; the app still receives them. A secret variable stays secret until it is unset.",
  flags: [
    APP_FLAG,
    {
      name: "secret",
      type: "boolean",
      usage: "store the values as secret (masked by config get, never logged)",
    },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const secret = flags.bool("secret");
    const set = parseConfigPairs(flags.args, "config set").map((p) => ({ ...p, secret }));
    const app = flags.string("app") || undefined;
    const conn = connect(flags, io);
    try {
      const res = await conn.setConfig({ ...(app ? { app } : {}), set });
      writeLine(
        io.stderr,
        `Set ${set.map((p) => p.name).join(", ")} ${where(app)}${secret ? " as secret" : ""}.`,
      );
      reportPushed(io, res.pushed);
      return 0;
    } finally {
      conn.close();
    }
  },
};

export const configUnset: Command = {
  name: "config unset",
  summary: "Remove configuration variables, globally or from one app (management token required)",
  args: "KEY…",
  flags: [APP_FLAG, ...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const names = parseConfigNames(flags.args, "config unset");
    const app = flags.string("app") || undefined;
    const conn = connect(flags, io);
    try {
      const res = await conn.setConfig({ ...(app ? { app } : {}), unset: names });
      const removed = names.filter((n) => !res.notFound.includes(n));
      for (const name of res.notFound) writeLine(io.stderr, `Warning: ${name} was not set ${where(app)}.`);
      if (removed.length > 0) {
        writeLine(io.stderr, `Unset ${removed.join(", ")} ${where(app)}.`);
        reportPushed(io, res.pushed);
      }
      return 0;
    } finally {
      conn.close();
    }
  },
};

export const configGet: Command = {
  name: "config get",
  summary: "Show configuration variables, or the value of one",
  args: "[KEY]",
  help:
    "Without -app: the global variables. With -app: what the app's instances receive, the app's own\n" +
    "variables and the global ones it does not override, with the scope each comes from.\n" +
    "With KEY: its value alone on stdout (exit 1 when it is not set).\n" +
    '-json prints [{"name", "value", "scope"}] (scope "" is global, else the app), or that one object\n' +
    'with KEY; a secret variable also has "secret": true, and its value is null unless -reveal.\n' +
    "Secret values are shown as ******** unless -reveal; KEY alone of a secret needs -reveal.",
  flags: [
    APP_FLAG,
    { name: "json", type: "boolean", usage: "print JSON" },
    { name: "reveal", type: "boolean", usage: "show the values of secret variables" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const key = flags.args.length > 0 ? parseConfigNames(flags.args, "config get")[0] : undefined;
    const app = flags.string("app") || undefined;
    const reveal = flags.bool("reveal");
    const conn = connect(flags, io);
    let entries: ConfigEntryInfo[];
    try {
      entries = await conn.getConfig({ ...(app ? { app, resolved: true } : {}), reveal });
    } finally {
      conn.close();
    }
    if (key !== undefined) {
      const entry = entries.find((e) => e.name === key);
      if (!entry) {
        throw new AppError(
          "NOT_FOUND",
          app
            ? `${key} is not set for app ${app}, neither in the app nor globally`
            : `${key} is not set globally`,
          {
            hint: `Set it with \`waypoint config set${app ? ` -app=${app}` : ""} ${key}=VALUE\`; \`waypoint config get${app ? ` -app=${app}` : ""}\` lists what is set.`,
          },
        );
      }
      if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(entry, null, 2));
      else if (entry.value === null) {
        throw new AppError("USAGE", `${key} is secret; its value is shown only with -reveal`, {
          hint: `Run \`waypoint config get${app ? ` -app=${app}` : ""} -reveal ${key}\`.`,
        });
      } else writeLine(io.stdout, entry.value);
      return 0;
    }
    if (flags.bool("json")) {
      writeLine(io.stdout, JSON.stringify(entries, null, 2));
      return 0;
    }
    if (entries.length === 0) {
      writeLine(io.stderr, `No configuration variables ${app ? `apply to app ${app}` : "are set globally"}.`);
      return 0;
    }
    const rows = entries.map((e) => [
      e.name,
      e.scope === "" ? "global" : `app ${e.scope}`,
      e.value === null ? MASK : cell(e.value),
    ]);
    writeLine(io.stdout, table(["NAME", "SCOPE", "VALUE"], rows));
    return 0;
  },
};
