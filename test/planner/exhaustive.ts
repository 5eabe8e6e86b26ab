import semver from "semver";
import { type ComponentVersion, hopAllowed, incompatibility } from "../../src/planner/compat.js";
import {
  currentServer,
  groupComponents,
  releaseAsComponent,
  releaseMap,
  releaseState,
} from "../../src/planner/model.js";
import type { Catalog } from "../../src/protocol/catalog.js";
import type { ComponentKind, InventoryJson } from "../../src/protocol/inventory.js";

/** The cost the planner minimises, plus the number of steps, in the order compared. */
export interface ExhaustiveCost {
  readonly entrypointRedeploys: number;
  readonly runnerMoves: number;
  readonly clientMoves: number;
  readonly serverHops: number;
  readonly offline: number;
  readonly steps: number;
}

const KEYS = ["entrypointRedeploys", "runnerMoves", "clientMoves", "serverHops", "offline", "steps"] as const;

function cmp(a: ExhaustiveCost, b: ExhaustiveCost): number {
  for (const k of KEYS) if (a[k] !== b[k]) return a[k] - b[k];
  return 0;
}

/**
 * A brute-force reference for small instances, independent of the planner's
 * search: Dijkstra over whole-fleet states (server release, each group's
 * release or "offline") with every legal step — one server hop to any later
 * allowed release, one move of any set of same-kind groups to one release,
 * or stopping any set of runner groups — keeping every state safe. No
 * collapsing, no per-group decomposition. Returns the minimum cost, or
 * undefined when no safe plan exists.
 */
export function exhaustiveMinimum(
  inv: InventoryJson,
  catalog: Catalog,
  target: string,
): ExhaustiveCost | undefined {
  const releases = releaseMap(catalog);
  const server0 = currentServer(inv, releases);
  const serverStates = [
    server0,
    ...catalog.releases
      .filter((r) => semver.gt(r.version, server0.version) && semver.lte(r.version, target))
      .map(releaseState),
  ];
  const groups = groupComponents(inv.components, releases);
  const opts: ComponentVersion[][] = groups.map((g) => [
    g.current,
    ...catalog.releases
      .filter((r) => semver.gt(r.version, g.current.version) && semver.lte(r.version, target))
      .map((r) => releaseAsComponent(g.kind, r)),
  ]);
  const OFF = -1;
  type State = { s: number; v: number[] };
  const key = (st: State) => `${st.s}|${st.v.join(",")}`;
  const safe = (st: State) =>
    st.v.every((vi, g) => vi === OFF || incompatibility(opts[g]![vi]!, serverStates[st.s]!) === undefined);
  const counts = groups.map((g) => g.ids.length);
  const bump = (c: ExhaustiveCost, kind: ComponentKind | "hop" | "off", n: number): ExhaustiveCost => {
    const next = { ...c, steps: c.steps + 1 };
    if (kind === "hop") next.serverHops += 1;
    else if (kind === "off") next.offline += n;
    else if (kind === "entrypoint") next.entrypointRedeploys += n;
    else if (kind === "runner") next.runnerMoves += n;
    else next.clientMoves += n;
    return next;
  };

  const start: State = { s: 0, v: groups.map(() => 0) };
  const zero: ExhaustiveCost = {
    entrypointRedeploys: 0,
    runnerMoves: 0,
    clientMoves: 0,
    serverHops: 0,
    offline: 0,
    steps: 0,
  };
  const best = new Map<string, ExhaustiveCost>([[key(start), zero]]);
  const queue: { st: State; c: ExhaustiveCost }[] = [{ st: start, c: zero }];
  const last = serverStates.length - 1;
  while (queue.length > 0) {
    queue.sort((a, b) => cmp(a.c, b.c));
    const { st, c } = queue.shift()!;
    if (cmp(c, best.get(key(st))!) > 0) continue;
    if (st.s === last && st.v.every((x) => x !== OFF)) return c;
    const push = (next: State, cost: ExhaustiveCost) => {
      if (!safe(next)) return;
      const k = key(next);
      const known = best.get(k);
      if (known && cmp(known, cost) <= 0) return;
      best.set(k, cost);
      queue.push({ st: next, c: cost });
    };
    for (let s = st.s + 1; s <= last; s++) {
      if (hopAllowed(serverStates[st.s]!.version, serverStates[s]!)) push({ s, v: st.v }, bump(c, "hop", 0));
    }
    // Every non-empty subset of groups of one kind, moved to one release.
    for (const kind of ["client", "runner", "entrypoint"] as const) {
      const members = groups.map((_g, i) => i).filter((i) => groups[i]!.kind === kind);
      for (let mask = 1; mask < 1 << members.length; mask++) {
        const chosen = members.filter((_, b) => mask & (1 << b));
        const versions = new Set(chosen.flatMap((g) => opts[g]!.map((o) => o.version)));
        for (const version of versions) {
          const v = [...st.v];
          let ok = true;
          let n = 0;
          for (const g of chosen) {
            const idx = opts[g]!.findIndex((o) => o.version === version);
            const cur = st.v[g]!;
            if (idx < 0 || (cur === OFF ? false : idx <= cur)) {
              ok = false;
              break;
            }
            v[g] = idx;
            n += counts[g]!;
          }
          if (ok) push({ s: st.s, v }, bump(c, kind, n));
        }
        if (kind === "runner" && chosen.every((g) => st.v[g] !== OFF)) {
          const v = [...st.v];
          let n = 0;
          for (const g of chosen) {
            v[g] = OFF;
            n += counts[g]!;
          }
          push({ s: st.s, v }, bump(c, "off", n));
        }
      }
    }
  }
  return undefined;
}
