import type { Catalog, Release } from "../protocol/catalog.js";
import type { ComponentKind, InventoryComponent, InventoryJson } from "../protocol/inventory.js";
import type { ProtocolRange } from "../protocol/range.js";
import { type ComponentVersion, compareVersions, familyOf, type ServerState } from "./compat.js";

/** Components of one kind at one version with the same advertised range: they move together. */
export interface Group {
  readonly kind: ComponentKind;
  readonly current: ComponentVersion;
  readonly ids: readonly string[];
  /** Whether the version is in the catalog (else: planned by its advertised range, constraints unknown). */
  readonly known: boolean;
}

/** Kinds in the order steps of one phase run: clients first (they carry the new entrypoint), then runners, then entrypoints. */
export const KIND_ORDER: readonly ComponentKind[] = ["client", "runner", "entrypoint"];

export function releaseMap(catalog: Catalog): Map<string, Release> {
  return new Map(catalog.releases.map((r) => [r.version, r]));
}

/** The running server as a planning state. */
export function currentServer(inv: InventoryJson, releases: Map<string, Release>): ServerState {
  const release = releases.get(inv.server.version);
  return {
    version: inv.server.version,
    api: inv.server.api,
    entrypoint: inv.server.entrypoint,
    ...(release ? { release } : {}),
  };
}

export function releaseState(r: Release): ServerState {
  return { version: r.version, api: r.api, entrypoint: r.entrypoint, release: r };
}

export function releaseAsComponent(kind: ComponentKind, r: Release): ComponentVersion {
  return { kind, version: r.version, range: r[familyOf(kind)], release: r };
}

/** Groups the inventory's components by kind, version and advertised range, in a stable order. */
export function groupComponents(
  components: readonly InventoryComponent[],
  releases: Map<string, Release>,
): Group[] {
  type Building = { kind: ComponentKind; version: string; range: ProtocolRange; ids: string[] };
  // kind → version → the groups of that version (one per distinct range), in order of first appearance.
  const byKind = new Map<ComponentKind, Map<string, Building[]>>();
  const created: Building[] = [];
  for (const c of components) {
    // One read of each field: inventories built field by field can give every component its own
    // hidden class, which makes each property read a slow lookup.
    const kind = c.kind;
    const range = (familyOf(kind) === "entrypoint" ? c.entrypoint : c.api) ?? { min: 0, current: 0 };
    const version = c.version;
    const { min, current } = range;
    // Anything unusual (an unknown kind, a version that is not a string, a protocol number that is
    // not a number): group by the text key instead, whose equality this one matches for the usual.
    if (!KIND_ORDER.includes(kind) || typeof version !== "string")
      return groupByTextKey(components, releases);
    if (typeof min !== "number" || typeof current !== "number") return groupByTextKey(components, releases);
    let byVersion = byKind.get(kind);
    if (byVersion === undefined) {
      byVersion = new Map();
      byKind.set(kind, byVersion);
    }
    let list = byVersion.get(version);
    if (list === undefined) {
      list = [];
      byVersion.set(version, list);
    }
    let g: Building | undefined;
    for (const x of list) {
      if (sameNumber(x.range.min, min) && sameNumber(x.range.current, current)) {
        g = x;
        break;
      }
    }
    if (g === undefined) {
      g = { kind, version, range, ids: [] };
      list.push(g);
      created.push(g);
    }
    g.ids.push(c.id);
  }
  return finishGroups(created, releases);
}

/** Equal as the text key `${a}` = `${b}` would say, for numbers. */
function sameNumber(a: number, b: number): boolean {
  return a === b || (Number.isNaN(a) && Number.isNaN(b));
}

/** The general form (any field types), keyed by text. */
function groupByTextKey(components: readonly InventoryComponent[], releases: Map<string, Release>): Group[] {
  const byKey = new Map<
    string,
    { kind: ComponentKind; version: string; range: ProtocolRange; ids: string[] }
  >();
  for (const c of components) {
    const range = (familyOf(c.kind) === "entrypoint" ? c.entrypoint : c.api) ?? { min: 0, current: 0 };
    const key = `${c.kind}|${c.version}|${range.min},${range.current}`;
    let g = byKey.get(key);
    if (!g) {
      g = { kind: c.kind, version: c.version, range, ids: [] };
      byKey.set(key, g);
    }
    g.ids.push(c.id);
  }
  return finishGroups([...byKey.values()], releases);
}

function finishGroups(
  created: readonly { kind: ComponentKind; version: string; range: ProtocolRange; ids: string[] }[],
  releases: Map<string, Release>,
): Group[] {
  return created
    .map((g) => {
      const release = releases.get(g.version);
      return {
        kind: g.kind,
        current: { kind: g.kind, version: g.version, range: g.range, ...(release ? { release } : {}) },
        ids: g.ids.sort(),
        known: release !== undefined,
      };
    })
    .sort(
      (a, b) =>
        KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
        compareVersions(a.current.version, b.current.version) ||
        a.current.range.min - b.current.range.min ||
        a.current.range.current - b.current.range.current,
    );
}

/**
 * Sorted ids of unions of groups: `idsOf(indices)` returns exactly
 * `indices.flatMap((i) => groups[i].ids).sort()`. For groups of one kind it
 * merges the groups' sorted lists once per kind, on first use, and then
 * answers each union by one linear pass instead of a sort.
 */
export function idSorter(groups: readonly Group[]): (indices: readonly number[]) => string[] {
  const orders = new Map<ComponentKind, Run | null>();
  const orderOf = (kind: ComponentKind) => {
    let order = orders.get(kind);
    if (order === undefined) {
      const runs = groups.flatMap((g, i) => (g.kind === kind ? [{ ids: g.ids, owner: i }] : []));
      order = mergeRuns(runs);
      orders.set(kind, order);
    }
    return order;
  };
  return (indices) => {
    if (indices.length === 1) return [...groups[indices[0]!]!.ids];
    const kind = indices.length > 0 ? groups[indices[0]!]!.kind : undefined;
    const distinct = new Set(indices).size === indices.length;
    const order =
      kind !== undefined && distinct && indices.every((i) => groups[i]!.kind === kind) ? orderOf(kind) : null;
    if (order === null) return indices.flatMap((i) => groups[i]!.ids).sort();
    const wanted = new Uint8Array(groups.length);
    for (const i of indices) wanted[i] = 1;
    const { ids, owner } = order;
    const out: string[] = [];
    for (let p = 0; p < ids.length; p++) if (wanted[owner[p]!] === 1) out.push(ids[p]!);
    return out;
  };
}

/** Sorted ids, each with the index of the group it belongs to. */
interface Run {
  readonly ids: readonly string[];
  readonly owner: Int32Array;
}

/**
 * Merges the groups' sorted id lists into one sorted list (bottom-up merge
 * sort that starts from the lists as runs, between two buffers), or null when
 * an id is not a string: `<` orders strings as the default sort does, and
 * nothing else.
 */
function mergeRuns(runs: readonly { ids: readonly string[]; owner: number }[]): Run | null {
  let n = 0;
  for (const r of runs) n += r.ids.length;
  let ids = new Array<string>(n);
  let owner = new Int32Array(n);
  let bounds = [0];
  for (const r of runs) {
    const at = bounds[bounds.length - 1]!;
    for (let i = 0; i < r.ids.length; i++) {
      const id = r.ids[i]!;
      if (typeof id !== "string") return null;
      ids[at + i] = id;
    }
    owner.fill(r.owner, at, at + r.ids.length);
    bounds.push(at + r.ids.length);
  }
  let toIds = new Array<string>(n);
  let toOwner = new Int32Array(n);
  while (bounds.length > 2) {
    const next = [0];
    for (let r = 0; r + 1 < bounds.length; r += 2) {
      const lo = bounds[r]!;
      const mid = bounds[r + 1]!;
      const hi = r + 2 < bounds.length ? bounds[r + 2]! : mid;
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) {
        if (ids[j]! < ids[i]!) {
          toIds[k] = ids[j]!;
          toOwner[k++] = owner[j++]!;
        } else {
          toIds[k] = ids[i]!;
          toOwner[k++] = owner[i++]!;
        }
      }
      while (i < mid) {
        toIds[k] = ids[i]!;
        toOwner[k++] = owner[i++]!;
      }
      while (j < hi) {
        toIds[k] = ids[j]!;
        toOwner[k++] = owner[j++]!;
      }
      next.push(hi);
    }
    [ids, toIds] = [toIds, ids];
    [owner, toOwner] = [toOwner, owner];
    bounds = next;
  }
  return { ids, owner };
}
