import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { ago, table } from "./format.js";

const JSON_FLAG = { name: "json", type: "boolean", usage: "print JSON" } as const;

export const appCreate: Command = {
  name: "app create",
  summary: "Create an app (management token required)",
  args: "NAME",
  help: 'App names are 1-63 lowercase letters, digits and "-", starting with a letter.',
  flags: [JSON_FLAG, ...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const app = await conn.createApp(flags.args[0]!);
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

export const appList: Command = {
  name: "app list",
  summary: "List apps",
  help: '-json prints [{"name", "createdAt", "deployments"}].',
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
          ["NAME", "DEPLOYMENTS", "CREATED"],
          apps.map((a) => [a.name, String(a.deployments), ago(a.createdAt, now)]),
        ),
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};
