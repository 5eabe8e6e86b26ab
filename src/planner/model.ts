import semver from "semver";
import type { Catalog, Release } from "../protocol/catalog.js";
import type { ComponentKind, InventoryComponent, InventoryJson } from "../protocol/inventory.js";
import type { ProtocolRange } from "../protocol/range.js";
import { type ComponentVersion, familyOf, type ServerState } from "./compat.js";

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
  return [...byKey.values()]
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
        semver.compare(a.current.version, b.current.version) ||
        a.current.range.min - b.current.range.min ||
        a.current.range.current - b.current.range.current,
    );
}
