import { ProtoWriter } from "../client/protobuf.js";
import type { InventoryComponent } from "../protocol/inventory.js";

/**
 * The inventory answer, encoded a component at a time. With 10,000 entrypoints GetInventory's
 * answer is ~1.9 MB, and protobufjs took 50–120 ms to encode it on every call, on the event loop
 * every stream shares. Each component's bytes are made once per change (the recorder keeps them
 * beside its in-memory table), and an answer is the small head encoded as usual followed by the
 * components' bytes: protobuf fields may come in any order, and a repeated field's elements keep
 * theirs.
 */

/** Inventory.components (field 3) of waypoint.proto. */
const INVENTORY_COMPONENTS = 3;

/** One component as Inventory field 3: tag, length and the Component message (waypoint.proto). */
export function encodeComponentField(c: InventoryComponent): Buffer {
  const w = new ProtoWriter(256);
  w.message(
    INVENTORY_COMPONENTS,
    (m) => {
      m.string(1, c.kind)
        .string(2, c.via ?? "")
        .string(3, c.id)
        .string(4, c.version);
      // The inventory's entries carry only the family the component speaks.
      const { api, entrypoint } = c;
      if (api) m.message(5, (r) => r.uint(1, api.min).uint(2, api.current), 16);
      if (entrypoint) m.message(6, (r) => r.uint(1, entrypoint.min).uint(2, entrypoint.current), 16);
      m.bool(7, c.emulated === true)
        .string(8, c.app ?? "")
        .string(9, c.deployment ?? "")
        .string(10, c.instance ?? "")
        .string(11, c.hostname ?? "")
        .bool(12, c.connected)
        .string(13, c.firstSeen ?? "")
        .string(14, c.lastSeen);
    },
    256,
  );
  // A copy of exactly its size: the writer's buffer has room to spare, and this is kept.
  return Buffer.from(w.finish());
}
