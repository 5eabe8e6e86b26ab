import type { Component__Output } from "../gen/waypoint/v1/Component.js";
import type { Inventory__Output } from "../gen/waypoint/v1/Inventory.js";
import type { ProtocolRange__Output } from "../gen/waypoint/v1/ProtocolRange.js";
import type { RejectedComponent__Output } from "../gen/waypoint/v1/RejectedComponent.js";
import type { ComponentKind, InventoryJson } from "../protocol/inventory.js";
import type { ProtocolRange } from "../protocol/range.js";

const range = (r: ProtocolRange__Output | null): ProtocolRange => ({
  min: r?.min ?? 0,
  current: r?.current ?? 0,
});

/** Non-empty strings only: proto3 sends "" for unset fields. */
function present<K extends string>(fields: Record<K, string>): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [k, v] of Object.entries(fields) as [K, string][]) if (v) out[k] = v;
  return out;
}

type Entry = Component__Output | RejectedComponent__Output;

/** Who a component is; only the family it speaks carries a range. Keys in DESIGN §5 order. */
function head(c: Entry) {
  return {
    kind: c.kind as ComponentKind,
    ...(c.via ? { via: c.via as "cli" | "ui" } : {}),
    id: c.id,
    version: c.version,
    ...(c.kind === "entrypoint" ? { entrypoint: range(c.entrypoint) } : { api: range(c.api) }),
  };
}

/** When it was seen, and whether it was emulated. */
function tail(c: Entry) {
  return {
    lastSeen: c.lastSeen,
    ...present({ firstSeen: c.firstSeen }),
    ...(c.emulated ? { emulated: true as const } : {}),
  };
}

/** The wire inventory in the DESIGN §5 JSON shape (empty optional fields omitted). */
export function inventoryFromProto(inv: Inventory__Output): InventoryJson & { generatedAt: string } {
  const server = inv.server;
  return {
    server: {
      version: server?.version ?? "",
      api: range(server?.api ?? null),
      entrypoint: range(server?.entrypoint ?? null),
      ...(server?.emulated ? { emulated: true as const } : {}),
    },
    activeWindow: inv.activeWindow,
    components: inv.components.map((c) => ({
      ...head(c),
      ...present({ app: c.app, deployment: c.deployment, instance: c.instance, hostname: c.hostname }),
      connected: c.connected,
      ...tail(c),
    })),
    rejected: inv.rejected.map((r) => ({ ...head(r), reason: r.reason, count: r.count, ...tail(r) })),
    generatedAt: inv.generatedAt,
  };
}
