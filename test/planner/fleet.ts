import type { Catalog } from "../../src/protocol/catalog.js";
import { findRelease } from "../../src/protocol/catalog.js";
import type { ComponentKind, InventoryJson } from "../../src/protocol/inventory.js";

/** [kind, version, count, app?]: `count` components of `kind` at `version` (ids kind-version-n). */
export type GroupSpec = readonly [ComponentKind, string, number, string?];

/** An inventory whose server and components run the given catalog releases (ranges from the catalog). */
export function fleet(catalog: Catalog, server: string, groups: readonly GroupSpec[]): InventoryJson {
  const rel = (v: string) => {
    const r = findRelease(catalog, v);
    if (!r) throw new Error(`test fleet: ${v} is not in the catalog`);
    return r;
  };
  const s = rel(server);
  return {
    server: { version: s.version, api: s.api, entrypoint: s.entrypoint },
    activeWindow: "168h",
    components: groups.flatMap(([kind, version, count, app]) =>
      Array.from({ length: count }, (_, i) => {
        const r = rel(version);
        return {
          kind,
          ...(kind === "client" ? { via: "cli" as const } : {}),
          id: `${kind}-${version}-${i + 1}`,
          version,
          ...(kind === "entrypoint"
            ? { entrypoint: r.entrypoint, app: app ?? "web", deployment: `${app ?? "web"}-d1` }
            : { api: r.api }),
          connected: true,
          lastSeen: "2026-11-22T10:00:00.000Z",
        };
      }),
    ),
    rejected: [],
  };
}
