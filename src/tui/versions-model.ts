import semver from "semver";
import {
  COMPONENT_KINDS,
  type InventoryComponent,
  type InventoryJson,
  type InventoryRejected,
} from "../protocol/inventory.js";
import type { ProtocolRange } from "../protocol/range.js";

/** Components of one kind at one version, as the Versions screen lists them. */
export interface VersionGroup {
  /** "kind version": stable across refreshes, used for selection and expansion. */
  readonly key: string;
  readonly kind: string;
  readonly version: string;
  readonly api?: ProtocolRange;
  readonly entrypoint?: ProtocolRange;
  readonly connected: number;
  readonly components: readonly InventoryComponent[];
}

const KIND_ORDER: readonly string[] = COMPONENT_KINDS;

function matches(c: InventoryComponent | InventoryRejected, needle: string): boolean {
  if (needle === "") return true;
  const n = needle.toLowerCase();
  const fields = [c.kind, c.version, c.id, "app" in c ? c.app : "", "hostname" in c ? c.hostname : ""];
  return fields.some((f) => f?.toLowerCase().includes(n));
}

/** The inventory's components grouped kind → version (newest first), keeping those `filter` matches. */
export function groupVersions(inv: InventoryJson, filter: string): VersionGroup[] {
  const groups = new Map<string, InventoryComponent[]>();
  for (const c of inv.components) {
    if (!matches(c, filter)) continue;
    const key = `${c.kind} ${c.version}`;
    const list = groups.get(key);
    if (list) list.push(c);
    else groups.set(key, [c]);
  }
  return [...groups.entries()]
    .map(([key, components]) => {
      const first = components[0]!;
      return {
        key,
        kind: first.kind,
        version: first.version,
        ...(first.api ? { api: first.api } : {}),
        ...(first.entrypoint ? { entrypoint: first.entrypoint } : {}),
        connected: components.filter((c) => c.connected).length,
        components: [...components].sort((a, b) => a.id.localeCompare(b.id)),
      };
    })
    .sort(
      (a, b) =>
        KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) ||
        (semver.valid(a.version) && semver.valid(b.version)
          ? semver.rcompare(a.version, b.version)
          : a.version.localeCompare(b.version)),
    );
}

/** The rejected components `filter` matches, most recent first. */
export function filterRejected(inv: InventoryJson, filter: string): InventoryRejected[] {
  return inv.rejected.filter((r) => matches(r, filter)).sort((a, b) => b.lastSeen.localeCompare(a.lastSeen));
}
