import type { ComponentKind } from "../protocol/inventory.js";
import { CompatTable, type ComponentVersion, hopAllowed, type ServerState } from "./compat.js";
import type { Group } from "./model.js";

/**
 * The search behind the planner.
 *
 * A plan is a server path s0 < s1 < … < sk (s0 the running server, sk the
 * target, each hop allowed by serverUpgradeFrom) plus, for each group of
 * components, the moves it makes while the server sits at each state. Moves
 * go up only; a moved group must be compatible with the server it moves
 * under and with the next one; runners may instead go offline (not checked)
 * and come back at a new release; entrypoints and clients stay online.
 *
 * Given a path, each group's cheapest schedule is independent of the others
 * and found by a small dynamic programme over its candidate versions
 * (`advance`). Paths are enumerated depth first with shared prefixes and
 * branch-and-bound when there are at most `exhaustiveStops` candidate stops
 * (exact), and by best-label-per-stop otherwise.
 */

/** Moves dominate; the offline count breaks ties (runners go offline only when it saves nothing to stay). */
const MOVE = 1024;
const OFF_COST = 1;

export interface SearchInput {
  /** states[0] is the running server; the rest are candidate stops ascending; the last is the target. */
  readonly states: readonly ServerState[];
  readonly groups: readonly Group[];
  /** Per group: versions it may run, ascending; index 0 is what it runs now. */
  readonly options: readonly (readonly ComponentVersion[])[];
  readonly exhaustiveStops: number;
  /** Compatibility rows over `states`, shared with the caller (optional: built here otherwise). */
  readonly table?: CompatTable;
}

export type Move =
  | { readonly phase: number; readonly to: ComponentVersion }
  | { readonly phase: number; readonly off: true };

export interface Schedule {
  readonly moves: readonly Move[];
  readonly final: ComponentVersion;
}

export interface Cost {
  readonly entrypointRedeploys: number;
  readonly runnerMoves: number;
  readonly clientMoves: number;
  readonly serverHops: number;
  readonly offline: number;
}

export type SearchResult =
  | {
      readonly ok: true;
      readonly path: readonly number[];
      readonly schedules: readonly Schedule[];
      readonly cost: Cost;
    }
  | { readonly ok: false; readonly reachable: boolean; readonly path?: readonly number[] };

/**
 * Groups whose programmes are necessarily the same — same kind, and option
 * lists whose compatibility rows are equal one for one — are solved once, as
 * a class weighted by their total count: a group's programme depends on
 * nothing else, and its cost is linear in its count. A fleet of hundreds of
 * groups usually has far fewer classes.
 */
interface GroupClass {
  readonly kind: ComponentKind;
  /** compat[v][s]: whether option v works with state s. */
  readonly compat: readonly Uint8Array[];
  readonly runner: boolean;
  /** Components in the class's groups. */
  readonly count: number;
}

function classify(
  groups: readonly Group[],
  options: readonly (readonly ComponentVersion[])[],
  table: CompatTable,
): { classes: GroupClass[]; classOf: Int32Array } {
  const rowId = new Map<Uint8Array, number>();
  const rowByContent = new Map<string, number>();
  const idOf = (row: Uint8Array) => {
    let id = rowId.get(row);
    if (id === undefined) {
      const content = row.join("");
      id = rowByContent.get(content);
      if (id === undefined) {
        id = rowByContent.size;
        rowByContent.set(content, id);
      }
      rowId.set(row, id);
    }
    return id;
  };
  const byKey = new Map<string, number>();
  const building: { kind: ComponentKind; compat: Uint8Array[]; runner: boolean; count: number }[] = [];
  const classOf = new Int32Array(groups.length);
  groups.forEach((g, i) => {
    const rows = options[i]!.map((v) => table.row(v));
    const key = `${g.kind}|${rows.map(idOf).join(",")}`;
    let c = byKey.get(key);
    if (c === undefined) {
      c = building.length;
      byKey.set(key, c);
      building.push({ kind: g.kind, compat: rows, runner: g.kind === "runner", count: 0 });
    }
    building[c]!.count += g.ids.length;
    classOf[i] = c;
  });
  return { classes: building, classOf };
}

export function search(input: SearchInput): SearchResult {
  const { states, groups, options } = input;
  const last = states.length - 1;
  const table =
    input.table !== undefined && input.table.states === states ? input.table : new CompatTable(states);
  const { classes, classOf } = classify(groups, options, table);
  const initial = classes.map(({ compat }) => {
    const f = new Float64Array(compat.length + 1).fill(Number.POSITIVE_INFINITY);
    f[0] = 0; // the status quo, even if it is broken already
    return f;
  });

  const adv = (fs: readonly Float64Array[], a: number, b: number): Float64Array[] | undefined => {
    const out: Float64Array[] = [];
    for (let c = 0; c < fs.length; c++) {
      const next = advance(fs[c]!, classes[c]!.compat, a, b, classes[c]!.runner);
      if (!hasFinite(next)) return undefined;
      out.push(next);
    }
    return out;
  };
  const costOf = (fs: readonly Float64Array[], hops: number, final: boolean): Cost => {
    const cost = { entrypointRedeploys: 0, runnerMoves: 0, clientMoves: 0, serverHops: hops, offline: 0 };
    for (let c = 0; c < fs.length; c++) {
      const f = fs[c]!;
      let best = Number.POSITIVE_INFINITY;
      for (let i = 0; i < (final ? f.length - 1 : f.length); i++) best = Math.min(best, f[i]!);
      add(cost, classes[c]!.kind, classes[c]!.count, best);
    }
    return cost;
  };

  let best: { path: number[]; cost: Cost } | undefined;
  const finish = (fs: readonly Float64Array[], path: number[]) => {
    const done = adv(fs, last, last);
    // At the end every group must be online: offline is only a way across server hops.
    if (!done || done.some((f) => !hasFinite(f.subarray(0, f.length - 1)))) return;
    const cost = costOf(done, path.length - 1, true);
    if (!best || compareCost(cost, best.cost) < 0) best = { path: [...path], cost };
  };

  const stops = states.length - 1;
  if (stops <= input.exhaustiveStops) {
    const dfs = (at: number, fs: readonly Float64Array[], path: number[]) => {
      if (at === last) return finish(fs, path);
      for (let next = at + 1; next <= last; next++) {
        if (!hopAllowed(states[at]!.version, states[next]!)) continue;
        const nf = adv(fs, at, next);
        if (!nf) continue;
        path.push(next);
        const bound = costOf(nf, path.length - 1 + (next === last ? 0 : 1), false);
        if (!best || compareCost(bound, best.cost) <= 0) dfs(next, nf, path);
        path.pop();
      }
    };
    dfs(0, initial, [0]);
  } else {
    // One label per stop: the cheapest way found to stand there.
    const labels: ({ fs: Float64Array[]; path: number[]; cost: Cost } | undefined)[] = new Array(
      states.length,
    );
    labels[0] = { fs: initial, path: [0], cost: costOf(initial, 0, false) };
    for (let at = 0; at < last; at++) {
      const here = labels[at];
      if (!here) continue;
      for (let next = at + 1; next <= last; next++) {
        if (!hopAllowed(states[at]!.version, states[next]!)) continue;
        const nf = adv(here.fs, at, next);
        if (!nf) continue;
        const cost = costOf(nf, here.path.length, false);
        const there = labels[next];
        if (!there || compareCost(cost, there.cost) < 0)
          labels[next] = { fs: nf, path: [...here.path, next], cost };
      }
    }
    const end = labels[last];
    if (end) finish(end.fs, end.path);
  }

  if (!best) return { ok: false, reachable: serverReachable(states) };
  return { ok: true, path: best.path, schedules: reconstruct(best.path), cost: best.cost };

  function reconstruct(path: readonly number[]): Schedule[] {
    const hops: [number, number][] = [];
    for (let i = 1; i < path.length; i++) hops.push([path[i - 1]!, path[i]!]);
    hops.push([last, last]);
    // Per class: its moves as option indices (-1: offline), in order.
    const traces = classes.map(({ compat, runner }, c) => {
      // Forward: keep every array so the choices can be traced back.
      const arrays: Float64Array[] = [initial[c]!];
      for (const [a, b] of hops) arrays.push(advance(arrays[arrays.length - 1]!, compat, a, b, runner));
      const off = compat.length;
      const fin = arrays[arrays.length - 1]!;
      // Among the cheapest final versions, the highest: straight to the target whenever that is as cheap.
      let u = 0;
      for (let i = 0; i < off; i++) if (fin[i]! <= fin[u]!) u = i;
      const moves: { phase: number; to: number }[] = [];
      for (let h = hops.length - 1; h >= 0; h--) {
        const before = arrays[h]!;
        const after = arrays[h + 1]!;
        const phase = hops[h]![0];
        const val = after[u]!;
        if (u === off) {
          if (before[off] === val) continue;
          u = argminOnline(before, off);
          moves.push({ phase, to: -1 });
          continue;
        }
        if (before[u] === val) continue;
        if (before[off]! + MOVE === val) {
          moves.push({ phase, to: u });
          u = off;
          continue;
        }
        moves.push({ phase, to: u });
        let w = 0;
        for (let i = 0; i < u; i++) if (before[i]! + MOVE === val) w = i;
        u = w;
      }
      return moves.reverse();
    });
    return groups.map((_, g) => {
      const opts = options[g]!;
      const moves: Move[] = traces[classOf[g]!]!.map(({ phase, to }) =>
        to < 0 ? { phase, off: true } : { phase, to: opts[to]! },
      );
      const lastTo = [...moves]
        .reverse()
        .find((m): m is Extract<Move, { to: ComponentVersion }> => "to" in m);
      return { moves, final: lastTo?.to ?? opts[0]! };
    });
  }
}

/**
 * One step of a group's programme: the server stands at state `a`, the group
 * may move (once) or go offline, then the server goes to `b` (a = b for the
 * final round at the target). f[i] is the cheapest cost of running option i;
 * f[last] is "offline" (runners only).
 */
export function advance(
  f: Float64Array,
  compat: readonly Uint8Array[],
  a: number,
  b: number,
  mayGoOffline: boolean,
): Float64Array {
  const n = compat.length;
  const out = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
  let before = Number.POSITIVE_INFINITY;
  let minOnline = Number.POSITIVE_INFINITY;
  const fromOff = f[n]!;
  for (let u = 0; u < n; u++) {
    const row = compat[u]!;
    if (row[b]) {
      let v = f[u]!;
      if (row[a]) v = Math.min(v, Math.min(before, fromOff) + MOVE);
      out[u] = v;
    }
    before = Math.min(before, f[u]!);
    minOnline = Math.min(minOnline, f[u]!);
  }
  if (mayGoOffline) out[n] = Math.min(fromOff, minOnline + OFF_COST);
  return out;
}

function hasFinite(f: Float64Array): boolean {
  for (const v of f) if (v !== Number.POSITIVE_INFINITY) return true;
  return false;
}

function argminOnline(f: Float64Array, off: number): number {
  let u = 0;
  for (let i = 0; i < off; i++) if (f[i]! < f[u]!) u = i;
  return u;
}

function add(
  c: { -readonly [K in keyof Cost]: number },
  kind: ComponentKind,
  count: number,
  encoded: number,
): void {
  const moves = Math.floor(encoded / MOVE) * count;
  const offs = (encoded % MOVE) * count;
  if (kind === "entrypoint") c.entrypointRedeploys += moves;
  else if (kind === "runner") c.runnerMoves += moves;
  else c.clientMoves += moves;
  c.offline += offs;
}

/** Lexicographic: entrypoint redeploys, runner moves, client moves, server hops, offline periods. */
export function compareCost(a: Cost, b: Cost): number {
  return (
    a.entrypointRedeploys - b.entrypointRedeploys ||
    a.runnerMoves - b.runnerMoves ||
    a.clientMoves - b.clientMoves ||
    a.serverHops - b.serverHops ||
    a.offline - b.offline
  );
}

/** Whether any chain of allowed hops leads from states[0] to the last state. */
function serverReachable(states: readonly ServerState[]): boolean {
  const reach = new Array<boolean>(states.length).fill(false);
  reach[0] = true;
  for (let a = 0; a < states.length; a++) {
    if (!reach[a]) continue;
    for (let b = a + 1; b < states.length; b++)
      if (hopAllowed(states[a]!.version, states[b]!)) reach[b] = true;
  }
  return reach[states.length - 1]!;
}
