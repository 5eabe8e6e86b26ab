import { planUpgrade } from "../planner/plan.js";
import { KIND_MEANING, STATUS_LABEL } from "../planner/render-text.js";
import type { Plan } from "../planner/types.js";
import { AppError } from "../protocol/errors.js";
import type { ComponentKind, InventoryComponent, InventoryJson } from "../protocol/inventory.js";
import { formatRange } from "../protocol/range.js";
import { formatVersion } from "../protocol/version-info.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { connect } from "./common-flags.js";
import { ago, table } from "./format.js";
import { PLANNING_FLAGS, planningCatalog, planningTarget, SHIPPED_CATALOG } from "./plan-input.js";

export const versions: Command = {
  name: "versions",
  summary: "List the protocol versions in use: clients, runners and entrypoints",
  help:
    "Groups every component that talked to the server by kind and version, with protocol ranges, counts and\n" +
    "when it was last seen; components the server refused are listed under Rejected. Only active components\n" +
    "(connected now or seen within the server's active window) are shown unless -all is given.\n" +
    "-json prints the inventory in the shape `waypoint upgrade plan -inventory=FILE` reads.\n" +
    "-target=VERSION plans the upgrade to that release (with -catalog, default the shipped catalog) and adds a\n" +
    "STATUS column: fine, must move before (or after) the server, must go offline, optional, or blocked.",
  flags: [
    { name: "json", type: "boolean", usage: "print the inventory as JSON" },
    { name: "all", type: "boolean", usage: "include components outside the active window" },
    { name: "components", type: "boolean", usage: "list every component, not only the groups" },
    {
      name: "target",
      type: "string",
      usage: "show what upgrading to this release asks of each group",
      placeholder: "VERSION",
    },
    ...PLANNING_FLAGS,
  ],
  async run(flags, io) {
    const target = flags.string("target");
    if (target !== undefined && flags.bool("json")) {
      throw new AppError("USAGE", "-target does not combine with -json", {
        hint: "For the plan as JSON run: waypoint upgrade plan -format=json -to=VERSION",
      });
    }
    if (target !== undefined && flags.bool("all")) {
      throw new AppError("USAGE", "-target plans for active components only and does not combine with -all");
    }
    // Read the catalog before calling the server, so a bad catalog or target fails fast.
    const planning = target === undefined ? undefined : planningCatalog(flags, io);
    const to = planning ? planningTarget("target", target, planning.catalog, planning.path) : undefined;
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
    const { generatedAt: _generated, ...active } = inv;
    const plan = planning && to ? planUpgrade(active, planning.catalog, { target: to }) : undefined;
    const catalogFlag = planning && planning.path !== SHIPPED_CATALOG ? ` -catalog=${planning.path}` : "";
    writeLine(
      io.stdout,
      renderInventory(inv, {
        components: flags.bool("components"),
        all: flags.bool("all"),
        ...(plan
          ? { plan: { plan, command: `waypoint upgrade plan -to=${plan.target}${catalogFlag}` } }
          : {}),
      }),
    );
    return 0;
  },
};

/** The text form: server line, groups kind → version, then rejected components. */
export function renderInventory(
  inv: InventoryJson,
  opts: {
    components: boolean;
    all: boolean;
    /** With -target: the plan, and the command that prints its steps. */
    plan?: { plan: Plan; command: string };
  },
  now = Date.now(),
): string {
  const s = inv.server;
  const plan = opts.plan?.plan;
  const status = (kind: ComponentKind | "server", version: string, ids: readonly string[]): string[] =>
    plan ? [statusOf(plan, kind, version, ids)] : [];
  const out: string[] = [
    `Server ${formatVersion({ version: s.version, emulated: s.emulated === true })}  api ${formatRange(s.api)}  entrypoint ${formatRange(s.entrypoint)}`,
    ...(plan && opts.plan
      ? [
          `Upgrade to ${plan.target}: ${plan.kind} — ${KIND_MEANING[plan.kind]}`,
          `Server: ${statusOf(plan, "server", s.version, ["server"])}; for the steps run: ${opts.plan.command}`,
        ]
      : []),
    opts.all
      ? `Showing all recorded components (active window: ${inv.activeWindow})`
      : `Active window: ${inv.activeWindow} (components connected now or seen within it)`,
    "",
  ];
  if (inv.components.length === 0) {
    out.push(
      opts.all
        ? "No components recorded yet."
        : `No component was connected or seen within the active window (${inv.activeWindow}); -all lists older ones.`,
    );
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
        return [
          kind,
          version,
          range,
          String(members.length),
          String(connected),
          ago(latest, now),
          ...status(
            first.kind,
            first.version,
            members.map((m) => m.id),
          ),
        ];
      });
    const statusHeader = plan ? ["STATUS"] : [];
    out.push(
      table(["KIND", "VERSION", "PROTOCOL", "COUNT", "CONNECTED", "LAST SEEN", ...statusHeader], rows),
    );
    if (opts.components) {
      out.push("");
      out.push(
        table(
          ["KIND", "ID", "VERSION", "APP", "DEPLOYMENT", "CONNECTED", "LAST SEEN", ...statusHeader],
          inv.components.map((c) => [
            c.via ? `${c.kind}/${c.via}` : c.kind,
            c.id,
            formatVersion({ version: c.version, emulated: c.emulated === true }),
            c.app ?? "-",
            c.deployment ?? "-",
            c.connected ? "yes" : "no",
            ago(c.lastSeen, now),
            ...status(c.kind, c.version, [c.id]),
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

/**
 * What the plan asks of the components `ids` (kind, version): the group's
 * status from plan.summary, and for groups that must move, whether their
 * first mandatory step comes before the server moves, between server hops or
 * after, with its step number.
 */
export function statusOf(
  plan: Plan,
  kind: ComponentKind | "server",
  version: string,
  ids: readonly string[],
): string {
  const statuses = [
    ...new Set(plan.summary.filter((g) => g.kind === kind && g.version === version).map((g) => g.status)),
  ];
  if (statuses.length === 0) return "-";
  const mine = (i: number) => plan.steps[i]?.components.some((id) => ids.includes(id)) === true;
  return statuses
    .map((st) => {
      if (st !== "must-move" && st !== "optional") return STATUS_LABEL[st];
      const at = plan.steps.findIndex(
        (step, i) =>
          step.optional === (st === "optional") &&
          mine(i) &&
          step.action !== "snapshot" &&
          step.action !== "verify",
      );
      if (at < 0) return STATUS_LABEL[st];
      const where = ` (step ${at + 1})`;
      if (st === "optional" || kind === "server") return `${STATUS_LABEL[st]}${where}`;
      const hops = plan.steps.flatMap((step, i) => (step.action === "upgrade-server" ? [i] : []));
      const when =
        hops.length === 0 || at < hops[0]!
          ? "before the server"
          : at > hops[hops.length - 1]!
            ? "after the server"
            : "between server hops";
      const verb = plan.steps[at]!.action === "stop-runners" ? "must go offline" : "must move";
      return `${verb} ${when}${where}`;
    })
    .join(" / ");
}
