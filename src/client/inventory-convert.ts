import type { Inventory__Output } from "../gen/waypoint/v1/Inventory.js";
import type { ProtocolRange__Output } from "../gen/waypoint/v1/ProtocolRange.js";
import type {
  ComponentKind,
  InventoryComponent,
  InventoryJson,
  InventoryRejected,
} from "../protocol/inventory.js";
import type { ProtocolRange } from "../protocol/range.js";

const range = (r: ProtocolRange__Output | null): ProtocolRange => ({
  min: r?.min ?? 0,
  current: r?.current ?? 0,
});

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
    components: inv.components.map(
      (c): InventoryComponent => ({
        kind: c.kind as ComponentKind,
        ...(c.via ? { via: c.via as "cli" | "ui" } : {}),
        id: c.id,
        version: c.version,
        ...(c.kind === "entrypoint" ? { entrypoint: range(c.entrypoint) } : { api: range(c.api) }),
        ...(c.app ? { app: c.app } : {}),
        ...(c.deployment ? { deployment: c.deployment } : {}),
        ...(c.instance ? { instance: c.instance } : {}),
        ...(c.hostname ? { hostname: c.hostname } : {}),
        connected: c.connected,
        lastSeen: c.lastSeen,
        ...(c.firstSeen ? { firstSeen: c.firstSeen } : {}),
        ...(c.emulated ? { emulated: true as const } : {}),
      }),
    ),
    rejected: inv.rejected.map(
      (r): InventoryRejected => ({
        kind: r.kind as ComponentKind,
        ...(r.via ? { via: r.via as "cli" | "ui" } : {}),
        id: r.id,
        version: r.version,
        ...(r.kind === "entrypoint" ? { entrypoint: range(r.entrypoint) } : { api: range(r.api) }),
        reason: r.reason,
        count: r.count,
        lastSeen: r.lastSeen,
        ...(r.firstSeen ? { firstSeen: r.firstSeen } : {}),
        ...(r.emulated ? { emulated: true as const } : {}),
      }),
    ),
    generatedAt: inv.generatedAt,
  };
}
