import type { InventoryComponent, InventoryJson } from "../protocol/inventory.js";
import { formatRange } from "../protocol/range.js";
import { formatVersion } from "../protocol/version-info.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { ago, table } from "./format.js";

export const versions: Command = {
  name: "versions",
  summary: "List the protocol versions in use: clients, runners and entrypoints",
  help:
    "Groups every component that talked to the server by kind and version, with protocol ranges, counts and\n" +
    "when it was last seen; components the server refused are listed under Rejected. Only active components\n" +
    "(connected now or seen within the server's active window) are shown unless -all is given.\n" +
    "-json prints the inventory in the shape `waypoint upgrade plan -inventory=FILE` reads.",
  flags: [
    { name: "json", type: "boolean", usage: "print the inventory as JSON" },
    { name: "all", type: "boolean", usage: "include components outside the active window" },
    { name: "components", type: "boolean", usage: "list every component, not only the groups" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const conn = connect(flags, io);
    let inv: InventoryJson & { generatedAt: string };
    try {
      inv = await conn.inventory(flags.bool("all"));
    } finally {
      conn.close();
    }
    if (flags.bool("json")) {
      const { generatedAt: _ignored, ...json } = inv;
      writeLine(io.stdout, JSON.stringify(json, null, 2));
      return 0;
    }
    writeLine(
      io.stdout,
      renderInventory(inv, { components: flags.bool("components"), all: flags.bool("all") }),
    );
    return 0;
  },
};

/** The text form: server line, groups kind → version, then rejected components. */
export function renderInventory(
  inv: InventoryJson,
  opts: { components: boolean; all: boolean },
  now = Date.now(),
): string {
  const s = inv.server;
  const out: string[] = [
    `Server ${formatVersion({ version: s.version, emulated: s.emulated === true })}  api ${formatRange(s.api)}  entrypoint ${formatRange(s.entrypoint)}`,
    opts.all
      ? `Showing all recorded components (active window: ${inv.activeWindow})`
      : `Active window: ${inv.activeWindow} (components connected now or seen within it)`,
    "",
  ];
  if (inv.components.length === 0) {
    out.push("No components recorded yet.");
  } else {
    const groups = new Map<string, InventoryComponent[]>();
    for (const c of inv.components) {
      const key = `${c.kind}${c.via ? `/${c.via}` : ""}\u0000${c.version}${c.emulated ? " (emulated)" : ""}`;
      groups.set(key, [...(groups.get(key) ?? []), c]);
    }
    const rows = [...groups.entries()]
      .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
      .map(([key, members]) => {
        const [kind, version] = key.split("\u0000") as [string, string];
        const first = members[0]!;
        const range = first.entrypoint
          ? `entrypoint ${formatRange(first.entrypoint)}`
          : `api ${formatRange(first.api!)}`;
        const latest = members.reduce((a, b) => (a.lastSeen > b.lastSeen ? a : b)).lastSeen;
        const connected = members.filter((m) => m.connected).length;
        return [kind, version, range, String(members.length), String(connected), ago(latest, now)];
      });
    out.push(table(["KIND", "VERSION", "PROTOCOL", "COUNT", "CONNECTED", "LAST SEEN"], rows));
    if (opts.components) {
      out.push("");
      out.push(
        table(
          ["KIND", "ID", "VERSION", "APP", "DEPLOYMENT", "CONNECTED", "LAST SEEN"],
          inv.components.map((c) => [
            c.via ? `${c.kind}/${c.via}` : c.kind,
            c.id,
            formatVersion({ version: c.version, emulated: c.emulated === true }),
            c.app ?? "-",
            c.deployment ?? "-",
            c.connected ? "yes" : "no",
            ago(c.lastSeen, now),
          ]),
        ),
      );
    }
  }
  if (inv.rejected.length > 0) {
    out.push("", "Rejected (refused for their protocol version):");
    out.push(
      table(
        ["KIND", "ID", "VERSION", "COUNT", "LAST SEEN", "REASON"],
        inv.rejected.map((r) => [
          r.via ? `${r.kind}/${r.via}` : r.kind,
          r.id,
          formatVersion({ version: r.version, emulated: r.emulated === true }),
          String(r.count),
          ago(r.lastSeen, now),
          r.reason,
        ]),
      ),
    );
  }
  return out.join("\n");
}
