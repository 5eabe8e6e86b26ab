import { AppError } from "./errors.js";
import {
  COMPONENT_KINDS,
  type ComponentKind,
  type InventoryComponent,
  type InventoryJson,
  type InventoryRejected,
  type InventoryServer,
  parseGoDuration,
} from "./inventory.js";
import { type ProtocolFamily, type ProtocolRange, rangeProblem } from "./range.js";
import { asObject, COMPONENT_ID_PATTERN, isCanonicalSemver, type Obj, onlyKeys } from "./validate.js";

type Fail = (where: string, problem: string) => never;

/** The active window a hand-written inventory gets when it states none (the server's default). */
export const DEFAULT_ACTIVE_WINDOW = "168h";

const TOP_KEYS = ["server", "activeWindow", "components", "rejected"] as const;
const SERVER_KEYS = ["version", "api", "entrypoint", "emulated"] as const;
const ENTRY_KEYS = [
  "kind",
  "via",
  "id",
  "version",
  "api",
  "entrypoint",
  "lastSeen",
  "firstSeen",
  "emulated",
] as const;
/** Only entrypoints carry these. */
const ENTRYPOINT_KEYS = ["app", "deployment", "instance", "hostname"] as const;
const COMPONENT_KEYS = [...ENTRY_KEYS, ...ENTRYPOINT_KEYS, "connected"] as const;
const REJECTED_KEYS = [...ENTRY_KEYS, "reason", "count"] as const;

/** Component ids as the client-id metadata header admits them. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses and validates an inventory (DESIGN §5, plus the optional additions
 * documented in inventory.ts), as `waypoint versions -json` prints it or as
 * someone wrote it by hand for a what-if plan. Every problem is an AppError
 * INVENTORY_INVALID naming the file (`origin`), the entry and the field.
 *
 * `server` and `components` are required (`components` may be empty);
 * `activeWindow` defaults to the server's default window and `rejected` to
 * none, so a hand-written file may leave them out. Unknown keys are errors:
 * a misspelt field would otherwise be silently ignored.
 */
export function parseInventory(input: string | unknown, origin: string): InventoryJson {
  let data: unknown = input;
  if (typeof input === "string") {
    if (input.trim() === "") throw new AppError("INVENTORY_INVALID", `${origin}: the file is empty`);
    try {
      data = JSON.parse(input);
    } catch (err) {
      throw new AppError("INVENTORY_INVALID", `${origin}: not valid JSON: ${(err as Error).message}`);
    }
  }
  const fail: Fail = (where, problem) => {
    throw new AppError("INVENTORY_INVALID", `${origin}: ${where}: ${problem}`);
  };
  const top = asObject(data, () => fail("top level", "must be a JSON object"));
  onlyKeys(top, TOP_KEYS, (k) => fail("top level", `unknown key ${JSON.stringify(k)}`));
  if (top.server === undefined) fail('field "server"', "missing: the inventory must describe the server");
  if (top.components === undefined)
    fail('field "components"', "missing: list the components (an empty list is fine)");

  const activeWindow = top.activeWindow ?? DEFAULT_ACTIVE_WINDOW;
  if (typeof activeWindow !== "string" || parseGoDuration(activeWindow) === undefined) {
    fail('field "activeWindow"', `${JSON.stringify(activeWindow)} is not a Go duration such as "168h"`);
  }
  const server = parseServer(top.server, fail);
  const components = listOf(top.components, "components", fail).map((raw, i) =>
    parseComponent(raw, `components[${i}]`, fail),
  );
  const rejected = listOf(top.rejected ?? [], "rejected", fail).map((raw, i) =>
    parseRejected(raw, `rejected[${i}]`, fail),
  );
  noDuplicates(components, "components", fail);
  noDuplicates(rejected, "rejected", fail);
  return { server, activeWindow: activeWindow as string, components, rejected };
}

/** The server records one entry per (kind, id); two would make counts and plans ambiguous. */
function noDuplicates(
  entries: readonly { kind: ComponentKind; id: string }[],
  field: string,
  fail: Fail,
): void {
  const first = new Map<string, number>();
  entries.forEach((e, i) => {
    const key = `${e.kind}\u0000${e.id}`;
    const before = first.get(key);
    if (before !== undefined) {
      fail(
        `${field}[${i}] (id ${JSON.stringify(e.id)})`,
        `duplicate: ${field}[${before}] is the same ${e.kind} (kind and id must be unique)`,
      );
    }
    first.set(key, i);
  });
}

function parseServer(value: unknown, fail: Fail): InventoryServer {
  const s = asObject(value, () => fail('field "server"', "must be an object {version, api, entrypoint}"));
  onlyKeys(s, SERVER_KEYS, (k) => fail("server", `unknown key ${JSON.stringify(k)}`));
  const version = versionOf(s.version, (p) => fail('server: field "version"', p));
  const api = rangeOf(s.api, (p) => fail('server: field "api"', p));
  const entrypoint = rangeOf(s.entrypoint, (p) => fail('server: field "entrypoint"', p));
  const emulated = emulatedOf(s.emulated, (p) => fail('server: field "emulated"', p));
  return { version, api, entrypoint, ...emulated };
}

function parseComponent(value: unknown, where: string, fail: Fail): InventoryComponent {
  const { o, at, head } = parseHead(value, where, COMPONENT_KEYS, fail);
  if (typeof o.connected !== "boolean") fail(at("connected"), "must be true or false");
  const { tail } = parseTail(o, at, fail);
  return { ...head, ...entrypointFields(o, head.kind, at, fail), connected: o.connected as boolean, ...tail };
}

function parseRejected(value: unknown, where: string, fail: Fail): InventoryRejected {
  // DESIGN §5 shows rejected entries without a range; the offered range is an optional addition.
  const { o, at, head } = parseHead(value, where, REJECTED_KEYS, fail, { rangeOptional: true });
  if (typeof o.reason !== "string" || o.reason === "") fail(at("reason"), "must be a non-empty string");
  if (typeof o.count !== "number" || !Number.isSafeInteger(o.count) || o.count < 1)
    fail(at("count"), `must be a positive integer, got ${JSON.stringify(o.count)}`);
  const { tail } = parseTail(o, at, fail);
  return { ...head, reason: o.reason as string, count: o.count as number, ...tail };
}

/** Who an entry is: kind, via, id, version and the range of the family it speaks, in DESIGN §5 key order. */
function parseHead(
  value: unknown,
  where: string,
  allowed: readonly string[],
  fail: Fail,
  opts: { rangeOptional?: boolean } = {},
) {
  const o = asObject(value, () => fail(where, "must be an object"));
  // Name the entry by its id once the id is known to be printable.
  const named =
    typeof o.id === "string" && COMPONENT_ID_PATTERN.test(o.id)
      ? `${where} (id ${JSON.stringify(o.id)})`
      : where;
  const at = (field: string) => `${named}: field "${field}"`;
  onlyKeys(o, allowed, (k) => fail(named, `unknown key ${JSON.stringify(k)}`));
  if (!(COMPONENT_KINDS as readonly unknown[]).includes(o.kind)) {
    fail(at("kind"), `${JSON.stringify(o.kind)} is not one of ${COMPONENT_KINDS.join(", ")}`);
  }
  const kind = o.kind as ComponentKind;
  if (kind === "client") {
    if (o.via !== "cli" && o.via !== "ui")
      fail(at("via"), `clients need "cli" or "ui", got ${JSON.stringify(o.via)}`);
  } else if (o.via !== undefined) {
    fail(at("via"), `only clients have it, this is ${article(kind)} ${kind}`);
  }
  if (typeof o.id !== "string" || !COMPONENT_ID_PATTERN.test(o.id)) {
    fail(at("id"), `must be 1-128 letters, digits or . _ : - (got ${JSON.stringify(o.id)})`);
  }
  const version = versionOf(o.version, (p) => fail(at("version"), p));
  const family: ProtocolFamily = kind === "entrypoint" ? "entrypoint" : "api";
  const other: ProtocolFamily = family === "api" ? "entrypoint" : "api";
  if (o[family] === undefined && !opts.rangeOptional) {
    fail(at(family), `missing: ${article(kind)} ${kind} reports its ${family} protocol range`);
  }
  if (o[other] !== undefined)
    fail(at(other), `${article(kind)} ${kind} reports only its ${family} protocol range`);
  const range = o[family] === undefined ? undefined : rangeOf(o[family], (p) => fail(at(family), p));
  const head = {
    kind,
    ...(kind === "client" ? { via: o.via as "cli" | "ui" } : {}),
    id: o.id as string,
    version,
    ...(range === undefined ? {} : family === "api" ? { api: range } : { entrypoint: range }),
  };
  return { o, at, head };
}

/** When it was seen, and whether it was emulated. */
function parseTail(o: Obj, at: (field: string) => string, fail: Fail) {
  if (!isTimestamp(o.lastSeen)) fail(at("lastSeen"), `${JSON.stringify(o.lastSeen)} is not an RFC 3339 time`);
  if (o.firstSeen !== undefined && !isTimestamp(o.firstSeen))
    fail(at("firstSeen"), `${JSON.stringify(o.firstSeen)} is not an RFC 3339 time`);
  const emulated = emulatedOf(o.emulated, (p) => fail(at("emulated"), p));
  return {
    tail: {
      lastSeen: o.lastSeen as string,
      ...(o.firstSeen === undefined ? {} : { firstSeen: o.firstSeen as string }),
      ...emulated,
    },
  };
}

function entrypointFields(
  o: Obj,
  kind: ComponentKind,
  at: (field: string) => string,
  fail: Fail,
): Partial<Record<(typeof ENTRYPOINT_KEYS)[number], string>> {
  const out: Partial<Record<(typeof ENTRYPOINT_KEYS)[number], string>> = {};
  for (const key of ENTRYPOINT_KEYS) {
    const v = o[key];
    if (v === undefined) continue;
    if (kind !== "entrypoint") fail(at(key), `only entrypoints have it, this is ${article(kind)} ${kind}`);
    if (typeof v !== "string" || v === "") fail(at(key), "must be a non-empty string");
    out[key] = v as string;
  }
  return out;
}

function versionOf(value: unknown, fail: (problem: string) => never): string {
  if (value === undefined) fail("missing");
  if (typeof value !== "string" || !isCanonicalSemver(value)) {
    fail(`${JSON.stringify(value)} is not a semantic version such as "0.11.4"`);
  }
  return value as string;
}

function rangeOf(value: unknown, fail: (problem: string) => never): ProtocolRange {
  if (value === undefined) fail("missing");
  const problem = rangeProblem(value);
  if (problem) fail(problem);
  const r = value as ProtocolRange;
  return { min: r.min, current: r.current };
}

function emulatedOf(value: unknown, fail: (problem: string) => never): { emulated?: true } {
  if (value === undefined) return {};
  if (value !== true) fail("when present, must be true");
  return { emulated: true };
}

function isTimestamp(value: unknown): value is string {
  return typeof value === "string" && RFC3339.test(value) && !Number.isNaN(Date.parse(value));
}

function listOf(value: unknown, field: string, fail: Fail): unknown[] {
  if (!Array.isArray(value)) return fail(`field "${field}"`, "must be an array");
  return value;
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}
