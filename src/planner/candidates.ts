import type { Catalog, Release } from "../protocol/catalog.js";
import type { ComponentKind } from "../protocol/inventory.js";
import {
  CompatTable,
  type ComponentVersion,
  compareVersions,
  type ServerState,
  satisfies,
} from "./compat.js";
import { releaseAsComponent, releaseState } from "./model.js";

/**
 * Candidate server stops: releases newer than the running server up to the
 * target. Consecutive releases that no rule can tell apart as servers (same
 * ranges, same server-side constraints, same serverUpgradeFrom, and on the
 * same side of every server range any rule mentions) are collapsed into the
 * highest of the run: visiting any of them is the same as visiting it.
 */
export function serverStops(catalog: Catalog, from: string, target: string): ServerState[] {
  const ranges = serverRangesMentioned(catalog);
  const candidates = catalog.releases.filter(
    (r) => compareVersions(r.version, from) > 0 && compareVersions(r.version, target) <= 0,
  );
  const out: Release[] = [];
  let prev: string | undefined;
  for (const r of candidates) {
    const sig = JSON.stringify([
      r.api,
      r.entrypoint,
      r.serverUpgradeFrom ?? null,
      r.constraints.filter((k) => k.when === "server"),
      ranges.map((range) => satisfies(r.version, range)),
    ]);
    if (sig === prev) out[out.length - 1] = r;
    else out.push(r);
    prev = sig;
  }
  return out.map(releaseState);
}

/**
 * Versions a component of `kind` may move to: releases up to the target,
 * collapsed the same way against the given server states (consecutive
 * releases that are compatible with exactly the same states are one choice,
 * the highest). `table` (over `states`) lets callers share the rows it
 * computes with the search.
 */
export function componentChoices(
  catalog: Catalog,
  kind: ComponentKind,
  target: string,
  states: readonly ServerState[],
  table: CompatTable = new CompatTable(states),
): ComponentVersion[] {
  const out: ComponentVersion[] = [];
  let prev: Uint8Array | undefined;
  for (const r of catalog.releases) {
    if (compareVersions(r.version, target) > 0) break;
    const v = releaseAsComponent(kind, r);
    const row = table.row(v);
    if (prev !== undefined && sameRow(row, prev)) out[out.length - 1] = v;
    else out.push(v);
    prev = row;
  }
  return out;
}

function sameRow(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Every semver range over server versions used by a constraint or serverUpgradeFrom. */
function serverRangesMentioned(catalog: Catalog): string[] {
  const set = new Set<string>();
  for (const r of catalog.releases) {
    if (r.serverUpgradeFrom) set.add(r.serverUpgradeFrom);
    for (const k of r.constraints) if (k.requires.server) set.add(k.requires.server);
  }
  return [...set].sort();
}
