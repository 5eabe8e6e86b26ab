import fc from "fast-check";
import { type Catalog, parseCatalog } from "../../src/protocol/catalog.js";
import type { ComponentKind, InventoryJson } from "../../src/protocol/inventory.js";

/** Small generated catalogs: 2-5 releases 0.1.0, 0.2.0, … with moving ranges, stops and constraints. */
export const smallCatalog: fc.Arbitrary<Catalog> = fc
  .integer({ min: 2, max: 5 })
  .chain((n) =>
    fc.tuple(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })), {
        minLength: n,
        maxLength: n,
      }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })), {
        minLength: n,
        maxLength: n,
      }),
      fc.array(fc.option(fc.integer({ min: 1, max: n }), { freq: 3 }), { minLength: n, maxLength: n }),
      fc.array(
        fc.option(
          fc.record({
            when: fc.constantFrom("runner", "client", "entrypoint", "server"),
            other: fc.constantFrom("runner", "client", "entrypoint"),
            at: fc.integer({ min: 1, max: n }),
            op: fc.constantFrom(">=", "<"),
          }),
          { freq: 2 },
        ),
        { minLength: n, maxLength: n },
      ),
    ),
  )
  .map(([api, ep, stops, constraints]) => {
    // Ranges grow: each release may raise current and/or min by one.
    const grow = (steps: [number, number][]) => {
      let min = 1;
      let current = 1;
      return steps.map(([dMin, dCur], i) => {
        if (i > 0) {
          current += dCur;
          min = Math.min(current, min + dMin);
        }
        return { min, current };
      });
    };
    const apiRanges = grow(api);
    const epRanges = grow(ep);
    const v = (i: number) => `0.${i}.0`;
    return parseCatalog(
      {
        product: "generated",
        releases: apiRanges.map((_, i) => {
          const stop = stops[i];
          const c = constraints[i];
          return {
            version: v(i + 1),
            api: apiRanges[i],
            entrypoint: epRanges[i],
            ...(stop && stop < i + 1 ? { serverUpgradeFrom: `>=${v(stop)}` } : {}),
            constraints: c
              ? [
                  c.when === "server"
                    ? { when: "server", requires: { [c.other]: `${c.op}${v(c.at)}` }, why: "generated" }
                    : { when: c.when, requires: { server: `${c.op}${v(c.at)}` }, why: "generated" },
                ]
              : [],
          };
        }),
      },
      "generated",
    );
  });

/** A fleet on `catalog`: a server release, a target at or above it, and up to 4 groups of components. */
export function fleetOn(catalog: Catalog): fc.Arbitrary<{ inventory: InventoryJson; target: string }> {
  const n = catalog.releases.length;
  return fc
    .tuple(
      fc.integer({ min: 0, max: n - 1 }),
      fc.integer({ min: 0, max: n - 1 }),
      fc.array(
        fc.tuple(
          fc.constantFrom<ComponentKind>("client", "runner", "entrypoint"),
          fc.integer({ min: 0, max: n - 1 }),
          fc.integer({ min: 1, max: 3 }),
        ),
        { minLength: 0, maxLength: 4 },
      ),
    )
    .map(([s, t, groups]) => {
      const server = catalog.releases[s]!;
      const target = catalog.releases[Math.max(s, t)]!;
      let id = 0;
      const components = groups.flatMap(([kind, vi, count]) => {
        const r = catalog.releases[vi]!;
        return Array.from({ length: count }, () => {
          id += 1;
          return {
            kind,
            ...(kind === "client" ? { via: "cli" as const } : {}),
            id: `${kind}-${id}`,
            version: r.version,
            ...(kind === "entrypoint"
              ? { entrypoint: r.entrypoint, app: "app", deployment: "d" }
              : { api: r.api }),
            connected: true,
            lastSeen: "2026-11-22T00:00:00.000Z",
          };
        });
      });
      return {
        inventory: {
          server: { version: server.version, api: server.api, entrypoint: server.entrypoint },
          activeWindow: "168h",
          components,
          rejected: [],
        },
        target: target.version,
      };
    });
}
