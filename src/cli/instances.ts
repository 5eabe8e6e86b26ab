import type { InstanceInfo } from "../client/runtime.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { ago, table } from "./format.js";

export const instances: Command = {
  name: "instances",
  summary: "List the app instances that entrypoints registered",
  help:
    "Lists instances connected now or seen within the server's active window (-all: every recorded one).\n" +
    '-json prints [{"id", "app", "deployment", "version", "entrypoint": {"min", "current"}, "emulated",\n' +
    '"hostname", "pid", "startedAt", "firstSeen", "lastSeen", "connected", "execDisabled"}].',
  flags: [
    { name: "app", type: "string", usage: "only this app's instances", placeholder: "NAME" },
    { name: "deployment", type: "string", usage: "only this deployment's instances", placeholder: "ID" },
    { name: "all", type: "boolean", usage: "include instances outside the active window" },
    { name: "json", type: "boolean", usage: "print JSON" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const conn = connect(flags, io);
    let list: InstanceInfo[];
    try {
      list = await conn.listInstances({
        app: flags.string("app") ?? "",
        deployment: flags.string("deployment") ?? "",
        includeInactive: flags.bool("all"),
      });
    } finally {
      conn.close();
    }
    if (flags.bool("json")) {
      writeLine(io.stdout, JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      writeLine(
        io.stderr,
        flags.bool("all")
          ? "No instances recorded."
          : "No instance is connected or was seen within the active window; -all lists older ones.",
      );
      return 0;
    }
    writeLine(io.stdout, renderInstances(list));
    return 0;
  },
};

/** The text table; CONNECTED is "yes", or "no (seen 5m ago)". */
export function renderInstances(list: readonly InstanceInfo[], now = Date.now()): string {
  return table(
    ["ID", "APP", "DEPLOYMENT", "VERSION", "HOST", "CONNECTED"],
    list.map((i) => [
      i.id,
      i.app,
      i.deployment,
      `${i.version}${i.emulated ? " (emulated)" : ""}`,
      i.hostname || "-",
      i.connected ? "yes" : `no (seen ${ago(i.lastSeen, now)})`,
    ]),
  );
}

/** `instance list`: the same command, spelled like `app list` and `deployment list`. */
export const instanceList: Command = {
  ...instances,
  name: "instance list",
  summary: "Same as `waypoint instances`",
};
