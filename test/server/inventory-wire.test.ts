/**
 * GetInventory's answer made of per-component bytes (src/server/inventory-wire.ts) against
 * protobufjs encoding the whole message, as the server did before: a client must read the same.
 */
import test from "ava";
import fc from "fast-check";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { Inventory } from "../../src/gen/waypoint/v1/Inventory.js";
import type { InventoryComponent, InventoryJson } from "../../src/protocol/inventory.js";
import { EncodedMessage, passEncoded } from "../../src/server/encoded.js";
import { encodeComponentField } from "../../src/server/inventory-wire.js";
import { inventoryToProto } from "../../src/server/services/waypoint-service.js";

const method = loadWaypointProto().grpc.waypoint.v1.Waypoint.service.GetInventory;

const text = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constant(""));
const range = fc.record({ min: fc.nat({ max: 0xffffffff }), current: fc.nat({ max: 0xffffffff }) });
const component: fc.Arbitrary<InventoryComponent> = fc
  .record(
    {
      kind: fc.constantFrom("client", "runner", "entrypoint"),
      via: fc.constantFrom("cli", "ui"),
      id: text,
      version: text,
      api: range,
      entrypoint: range,
      app: text,
      deployment: text,
      instance: text,
      hostname: text,
      connected: fc.boolean(),
      lastSeen: text,
      firstSeen: text,
      emulated: fc.constant(true as const),
    },
    { requiredKeys: ["kind", "id", "version", "connected", "lastSeen"] },
  )
  .map((c) => c as InventoryComponent);

const head = fc.record({
  server: fc.record({ version: text, api: range, entrypoint: range }),
  activeWindow: text,
  rejected: fc.array(
    fc.record({
      kind: fc.constantFrom("client", "runner", "entrypoint"),
      id: text,
      version: text,
      api: range,
      reason: text,
      count: fc.nat(),
      lastSeen: text,
    }),
    { maxLength: 3 },
  ),
}) as fc.Arbitrary<Omit<InventoryJson, "components">>;

test("an answer of per-component bytes decodes as protobufjs's encoding of the whole inventory", (t) => {
  fc.assert(
    fc.property(head, fc.array(component, { maxLength: 20 }), (h, components) => {
      const whole = inventoryToProto({ ...h, components });
      const parts = Buffer.concat([
        method.responseSerialize({ ...whole, components: [] }),
        ...components.map(encodeComponentField),
      ]);
      const expected = method.responseDeserialize(method.responseSerialize(whole));
      const got = method.responseDeserialize(parts);
      // generatedAt is the time of each conversion; the rest must be the same.
      t.deepEqual({ ...got, generatedAt: "" }, { ...expected, generatedAt: "" });
      return true;
    }),
    { numRuns: 300 },
  );
});

test("passEncoded sends an EncodedMessage's bytes as they are and serializes anything else as before", (t) => {
  const service = passEncoded(loadWaypointProto().grpc.waypoint.v1.Waypoint.service, ["GetInventory"]);
  const inv: Inventory = { activeWindow: "168h", components: [{ kind: "runner", id: "r1" }] };
  t.deepEqual(service.GetInventory!.responseSerialize(inv), method.responseSerialize(inv));
  const bytes = Buffer.from([1, 2, 3]);
  t.is(service.GetInventory!.responseSerialize(new EncodedMessage(bytes)), bytes);
  // Other methods are untouched.
  t.is(
    service.GetVersionInfo!.responseSerialize,
    loadWaypointProto().grpc.waypoint.v1.Waypoint.service.GetVersionInfo.responseSerialize,
  );
  t.throws(() => passEncoded(service, ["NoSuchMethod"]), { message: /NoSuchMethod/ });
});
