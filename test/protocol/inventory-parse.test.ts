import test from "ava";
import { AppError } from "../../src/protocol/errors.js";
import type { InventoryJson } from "../../src/protocol/inventory.js";
import { DEFAULT_ACTIVE_WINDOW, parseInventory } from "../../src/protocol/inventory-parse.js";

/** What `waypoint versions -json` prints for an emulating server with every kind of component. */
const REAL: InventoryJson = {
  server: {
    version: "0.2.0",
    api: { min: 1, current: 2 },
    entrypoint: { min: 1, current: 2 },
    emulated: true,
  },
  activeWindow: "168h",
  components: [
    {
      kind: "entrypoint",
      id: "01JDEPLOY7Q2V3-1",
      version: "0.2.0",
      entrypoint: { min: 1, current: 2 },
      app: "web",
      deployment: "01JDEPLOY7Q2V3",
      instance: "inst-1",
      hostname: "web-7f9c",
      connected: true,
      lastSeen: "2026-11-22T10:00:00.123Z",
      firstSeen: "2026-11-20T08:30:00.000Z",
      emulated: true,
    },
    {
      kind: "runner",
      id: "runner-a",
      version: "0.1.0",
      api: { min: 1, current: 1 },
      connected: false,
      lastSeen: "2026-11-21T10:00:00.000Z",
      firstSeen: "2026-11-01T10:00:00.000Z",
    },
    {
      kind: "client",
      via: "cli",
      id: "cli_15a2df946a4700460f7a",
      version: "0.1.0+build.7",
      api: { min: 1, current: 1 },
      connected: false,
      lastSeen: "2026-11-22T09:59:58.000Z",
    },
    {
      kind: "client",
      via: "ui",
      id: "cli_15a2df946a4700460f7a-ui",
      version: "0.2.0-rc.1",
      api: { min: 1, current: 2 },
      connected: true,
      lastSeen: "2026-11-22T10:00:00+01:00",
    },
  ],
  rejected: [
    {
      kind: "entrypoint",
      id: "01JOLD-1",
      version: "0.1.0",
      entrypoint: { min: 1, current: 1 },
      reason: "entrypoint is outdated",
      count: 3,
      lastSeen: "2026-11-22T10:00:00.000Z",
      firstSeen: "2026-11-22T09:00:00.000Z",
    },
  ],
};

const copy = (): InventoryJson => JSON.parse(JSON.stringify(REAL)) as InventoryJson;
type Loose = Record<string, unknown> & {
  components: Record<string, unknown>[];
  rejected: Record<string, unknown>[];
};
const loose = (): Loose => copy() as unknown as Loose;

test("reads back what `waypoint versions -json` prints, key order included", (t) => {
  const text = JSON.stringify(REAL, null, 2);
  const parsed = parseInventory(text, "inventory.json");
  t.deepEqual(parsed, REAL);
  t.is(JSON.stringify(parsed, null, 2), text);
});

test("accepts an already parsed value as well as text", (t) => {
  t.deepEqual(parseInventory(copy(), "inventory.json"), REAL);
});

test("accepts an empty components list", (t) => {
  const inv = { ...copy(), components: [] };
  t.deepEqual(parseInventory(JSON.stringify(inv), "inventory.json").components, []);
});

test("lets a hand-written file leave out the active window and the rejected list", (t) => {
  const { server, components } = copy();
  const parsed = parseInventory(JSON.stringify({ server, components }), "what-if.json");
  t.is(parsed.activeWindow, DEFAULT_ACTIVE_WINDOW);
  t.deepEqual(parsed.rejected, []);
});

test("accepts the same id under two kinds", (t) => {
  const inv = loose();
  const { via: _via, ...client } = inv.components[2]!;
  inv.components.push({ ...client, kind: "runner" });
  t.is(parseInventory(inv, "inventory.json").components.length, 5);
});

/** [title, input (text or a mutation of a copy of REAL), what the message must say]. */
const BAD: readonly [string, string | ((inv: Loose) => void), string][] = [
  ["an empty file", "", "inv.json: the file is empty"],
  ["a file of blanks", " \n\t\n", "inv.json: the file is empty"],
  ["text that is not JSON", '{"server": ', "inv.json: not valid JSON"],
  ["a JSON array", "[]", "inv.json: top level: must be a JSON object"],
  ["JSON null", "null", "inv.json: top level: must be a JSON object"],
  [
    "an unknown top-level key",
    (inv) => {
      inv.generatedAt = "2026-11-22T10:00:00Z";
    },
    'inv.json: top level: unknown key "generatedAt"',
  ],
  [
    "a missing server",
    (inv) => {
      delete inv.server;
    },
    'inv.json: field "server": missing',
  ],
  [
    "a server that is a string",
    (inv) => {
      inv.server = "0.1.0";
    },
    'inv.json: field "server": must be an object',
  ],
  [
    "a server version with a v",
    (inv) => {
      (inv.server as Record<string, unknown>).version = "v0.2.0";
    },
    'inv.json: server: field "version": "v0.2.0" is not a semantic version',
  ],
  [
    "a server without an entrypoint range",
    (inv) => {
      delete (inv.server as Record<string, unknown>).entrypoint;
    },
    'inv.json: server: field "entrypoint": missing',
  ],
  [
    "a server range with min above current",
    (inv) => {
      (inv.server as Record<string, unknown>).api = { min: 3, current: 2 };
    },
    'inv.json: server: field "api": min (3) is greater than current (2)',
  ],
  [
    "an unknown server key",
    (inv) => {
      (inv.server as Record<string, unknown>).name = "prod";
    },
    'inv.json: server: unknown key "name"',
  ],
  [
    "emulated: false",
    (inv) => {
      (inv.server as Record<string, unknown>).emulated = false;
    },
    'inv.json: server: field "emulated": when present, must be true',
  ],
  [
    "a missing components list",
    (inv) => {
      delete (inv as Record<string, unknown>).components;
    },
    'inv.json: field "components": missing',
  ],
  [
    "components that are an object",
    (inv) => {
      (inv as Record<string, unknown>).components = {};
    },
    'inv.json: field "components": must be an array',
  ],
  [
    "an active window in days",
    (inv) => {
      inv.activeWindow = "7d";
    },
    'inv.json: field "activeWindow": "7d" is not a Go duration',
  ],
  [
    "a component that is not an object",
    (inv) => {
      inv.components[1] = "runner-a" as unknown as Record<string, unknown>;
    },
    "inv.json: components[1]: must be an object",
  ],
  [
    "an unknown kind",
    (inv) => {
      inv.components[1]!.kind = "agent";
    },
    'inv.json: components[1] (id "runner-a"): field "kind": "agent" is not one of client, runner, entrypoint',
  ],
  [
    "a client without via",
    (inv) => {
      delete inv.components[2]!.via;
    },
    'inv.json: components[2] (id "cli_15a2df946a4700460f7a"): field "via": clients need "cli" or "ui"',
  ],
  [
    "a runner with via",
    (inv) => {
      inv.components[1]!.via = "cli";
    },
    'inv.json: components[1] (id "runner-a"): field "via": only clients have it',
  ],
  [
    "an empty id",
    (inv) => {
      inv.components[1]!.id = "";
    },
    'inv.json: components[1]: field "id": must be 1-128 letters',
  ],
  [
    "a version that is not semver",
    (inv) => {
      inv.components[1]!.version = "0.1";
    },
    'inv.json: components[1] (id "runner-a"): field "version": "0.1" is not a semantic version',
  ],
  [
    "a runner without an api range",
    (inv) => {
      delete inv.components[1]!.api;
    },
    'inv.json: components[1] (id "runner-a"): field "api": missing: a runner reports its api protocol range',
  ],
  [
    "an entrypoint without an entrypoint range",
    (inv) => {
      delete inv.components[0]!.entrypoint;
    },
    'inv.json: components[0] (id "01JDEPLOY7Q2V3-1"): field "entrypoint": missing',
  ],
  [
    "a client with an entrypoint range",
    (inv) => {
      inv.components[2]!.entrypoint = { min: 1, current: 1 };
    },
    'inv.json: components[2] (id "cli_15a2df946a4700460f7a"): field "entrypoint": a client reports only its api protocol range',
  ],
  [
    "a range starting at 0",
    (inv) => {
      inv.components[1]!.api = { min: 0, current: 1 };
    },
    'inv.json: components[1] (id "runner-a"): field "api": min must be an integer from 1',
  ],
  [
    "connected as a string",
    (inv) => {
      inv.components[1]!.connected = "yes";
    },
    'inv.json: components[1] (id "runner-a"): field "connected": must be true or false',
  ],
  [
    "a lastSeen that is not a time",
    (inv) => {
      inv.components[1]!.lastSeen = "yesterday";
    },
    'inv.json: components[1] (id "runner-a"): field "lastSeen": "yesterday" is not an RFC 3339 time',
  ],
  [
    "a firstSeen without a time zone",
    (inv) => {
      inv.components[1]!.firstSeen = "2026-11-01T10:00:00";
    },
    'inv.json: components[1] (id "runner-a"): field "firstSeen"',
  ],
  [
    "an app on a runner",
    (inv) => {
      inv.components[1]!.app = "web";
    },
    'inv.json: components[1] (id "runner-a"): field "app": only entrypoints have it, this is a runner',
  ],
  [
    "an empty deployment",
    (inv) => {
      inv.components[0]!.deployment = "";
    },
    'inv.json: components[0] (id "01JDEPLOY7Q2V3-1"): field "deployment": must be a non-empty string',
  ],
  [
    "an unknown component key",
    (inv) => {
      inv.components[1]!.lastseen = "2026-11-22T10:00:00Z";
    },
    'inv.json: components[1] (id "runner-a"): unknown key "lastseen"',
  ],
  [
    "the same kind and id twice",
    (inv) => {
      inv.components.push({ ...inv.components[1] });
    },
    'inv.json: components[4] (id "runner-a"): duplicate: components[1] is the same runner',
  ],
  [
    "a rejected entry counted zero times",
    (inv) => {
      inv.rejected[0]!.count = 0;
    },
    'inv.json: rejected[0] (id "01JOLD-1"): field "count": must be a positive integer',
  ],
  [
    "a rejected entry without a reason",
    (inv) => {
      delete inv.rejected[0]!.reason;
    },
    'inv.json: rejected[0] (id "01JOLD-1"): field "reason": must be a non-empty string',
  ],
  [
    "a rejected entry with connected",
    (inv) => {
      inv.rejected[0]!.connected = false;
    },
    'inv.json: rejected[0] (id "01JOLD-1"): unknown key "connected"',
  ],
];

for (const [title, input, message] of BAD) {
  test(`rejects ${title}, naming the file, the entry and the field`, (t) => {
    let text: string;
    if (typeof input === "string") text = input;
    else {
      const inv = loose();
      input(inv);
      text = JSON.stringify(inv);
    }
    const err = t.throws(() => parseInventory(text, "inv.json"), { instanceOf: AppError });
    t.is(err?.code, "INVENTORY_INVALID");
    t.true(err?.message.startsWith(message), `${err?.message}\ndoes not start with\n${message}`);
  });
}

test("a rejected entry may leave out the offered range, as DESIGN §5 shows it", (t) => {
  const inv = parseInventory(
    {
      server: { version: "0.1.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } },
      activeWindow: "168h",
      components: [],
      rejected: [
        {
          kind: "entrypoint",
          id: "old-1",
          version: "0.0.9",
          reason: "client is outdated",
          count: 3,
          lastSeen: "2026-11-22T10:00:00Z",
        },
      ],
    },
    "design.json",
  );
  t.like(inv.rejected[0], { kind: "entrypoint", id: "old-1", count: 3 });
  t.false("entrypoint" in inv.rejected[0]!);
});
