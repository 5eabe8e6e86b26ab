import semver from "semver";
import type { CatalogRole, Release } from "../protocol/catalog.js";
import type { ComponentKind } from "../protocol/inventory.js";
import { formatRange, type ProtocolFamily, type ProtocolRange, rangesOverlap } from "../protocol/range.js";

/** A server state: a release (or the running server when its version is not in the catalog). */
export interface ServerState {
  readonly version: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  /** Catalog entry; absent when the version is not in the catalog (constraints unknown). */
  readonly release?: Release;
}

/** A component version: what a group runs now, or a release it could move to. */
export interface ComponentVersion {
  readonly kind: ComponentKind;
  readonly version: string;
  /** The range of its family (api for clients and runners, entrypoint for entrypoints). */
  readonly range: ProtocolRange;
  readonly release?: Release;
}

export function familyOf(kind: ComponentKind): ProtocolFamily {
  return kind === "entrypoint" ? "entrypoint" : "api";
}

export function roleOf(kind: ComponentKind): CatalogRole {
  return kind;
}

/**
 * Memo tables for the two semver questions the planner asks over and over
 * (a catalog of a thousand releases and a fleet of hundreds of groups ask the
 * same few hundred questions hundreds of thousands of times). Both answers are
 * pure functions of their arguments; the tables are emptied when they grow
 * large, so they stay bounded whatever the inputs.
 */
const MEMO_LIMIT = 50_000;
let satisfiesMemo = new Map<string, Map<string, boolean>>();
let satisfiesEntries = 0;
let parsedMemo = new Map<string, semver.SemVer | null>();

export function satisfies(version: string, range: string): boolean {
  const known = satisfiesMemo.get(range)?.get(version);
  if (known !== undefined) return known;
  const answer = semver.satisfies(version, range, { includePrerelease: true });
  if (satisfiesEntries >= MEMO_LIMIT) {
    satisfiesMemo = new Map();
    satisfiesEntries = 0;
  }
  let byVersion = satisfiesMemo.get(range);
  if (byVersion === undefined) {
    byVersion = new Map();
    satisfiesMemo.set(range, byVersion);
  }
  byVersion.set(version, answer);
  satisfiesEntries += 1;
  return answer;
}

function parsedVersion(version: string): semver.SemVer | null {
  let v = parsedMemo.get(version);
  if (v === undefined) {
    v = semver.parse(version);
    if (parsedMemo.size >= MEMO_LIMIT) parsedMemo = new Map();
    parsedMemo.set(version, v);
  }
  return v;
}

/** `semver.compare(a, b)`, with parsed versions memoised (invalid ones still throw exactly as semver does). */
export function compareVersions(a: string, b: string): number {
  const pa = parsedVersion(a);
  const pb = parsedVersion(b);
  return pa !== null && pb !== null ? pa.compare(pb) : semver.compare(a, b);
}

/**
 * Why component version `c` cannot work with server `s`, or undefined when it
 * can (DESIGN §6): the protocol ranges of its family overlap, and every
 * catalog constraint that applies holds — the component release's own
 * (`when` = its role, requiring a server version) and the server release's
 * (`when` = server, requiring a version of the component's role).
 */
export function incompatibility(c: ComponentVersion, s: ServerState): string | undefined {
  if (compatible(c, s)) return undefined;
  const family = familyOf(c.kind);
  if (!rangesOverlap(c.range, s[family])) {
    return `${c.kind} ${c.version} speaks ${family} protocol ${formatRange(c.range)}, server ${s.version} speaks ${formatRange(s[family])}`;
  }
  const role = roleOf(c.kind);
  for (const k of c.release?.constraints ?? []) {
    const need = k.when === role ? k.requires.server : undefined;
    if (need !== undefined && !satisfies(s.version, need)) {
      return `${c.kind} ${c.version} requires server ${need}: ${k.why}`;
    }
  }
  for (const k of s.release?.constraints ?? []) {
    const need = k.when === "server" ? k.requires[role] : undefined;
    if (need !== undefined && !satisfies(c.version, need)) {
      return `server ${s.version} requires ${role} ${need}: ${k.why}`;
    }
  }
  return undefined;
}

/** Whether the server may go from version `from` straight to release `to` (its serverUpgradeFrom). */
export function hopAllowed(from: string, to: ServerState): boolean {
  const range = to.release?.serverUpgradeFrom;
  return range === undefined || satisfies(from, range);
}

/** `incompatibility(c, s) === undefined`, without building the explanation. */
export function compatible(c: ComponentVersion, s: ServerState): boolean {
  const family = familyOf(c.kind);
  if (!rangesOverlap(c.range, s[family])) return false;
  const role = roleOf(c.kind);
  const own = c.release?.constraints;
  if (own !== undefined) {
    for (const k of own) {
      const need = k.when === role ? k.requires.server : undefined;
      if (need !== undefined && !satisfies(s.version, need)) return false;
    }
  }
  const theirs = s.release?.constraints;
  if (theirs !== undefined) {
    for (const k of theirs) {
      const need = k.when === "server" ? k.requires[role] : undefined;
      if (need !== undefined && !satisfies(c.version, need)) return false;
    }
  }
  return true;
}

/**
 * Compatibility of component versions with a fixed list of server states: a
 * row per version (one byte per state, 1 = compatible), computed a rule at a
 * time over all states rather than state by state, and memoised per version
 * object (the candidate versions of a kind are shared by every group of that
 * kind, so each row is computed once per plan). `row(c)[i]` is exactly
 * `incompatibility(c, states[i]) === undefined`.
 */
export class CompatTable {
  readonly states: readonly ServerState[];
  private readonly rows = new Map<ComponentVersion, Uint8Array>();
  /** Range → whether each state's version satisfies it. */
  private readonly serverSatisfies = new Map<string, Uint8Array>();
  /** Role → the distinct ranges the states' releases require of that role, each with the states requiring it. */
  private readonly serverNeeds = new Map<CatalogRole, { need: string; states: number[] }[]>();

  constructor(states: readonly ServerState[]) {
    this.states = states;
  }

  /** The row of `c` (shared: do not modify it). */
  row(c: ComponentVersion): Uint8Array {
    let row = this.rows.get(c);
    if (row === undefined) {
      row = this.compute(c);
      this.rows.set(c, row);
    }
    return row;
  }

  private compute(c: ComponentVersion): Uint8Array {
    const { states } = this;
    const n = states.length;
    const out = new Uint8Array(n);
    const family = familyOf(c.kind);
    for (let i = 0; i < n; i++) out[i] = rangesOverlap(c.range, states[i]![family]) ? 1 : 0;
    const role = roleOf(c.kind);
    for (const k of c.release?.constraints ?? []) {
      const need = k.when === role ? k.requires.server : undefined;
      if (need === undefined) continue;
      const ok = this.satisfiedBy(need);
      for (let i = 0; i < n; i++) out[i] = out[i]! & ok[i]!;
    }
    for (const { need, states: requiring } of this.needsOf(role)) {
      if (satisfies(c.version, need)) continue;
      for (const i of requiring) out[i] = 0;
    }
    return out;
  }

  private satisfiedBy(need: string): Uint8Array {
    let ok = this.serverSatisfies.get(need);
    if (ok === undefined) {
      ok = Uint8Array.from(this.states, (s) => (satisfies(s.version, need) ? 1 : 0));
      this.serverSatisfies.set(need, ok);
    }
    return ok;
  }

  private needsOf(role: CatalogRole): readonly { need: string; states: number[] }[] {
    let list = this.serverNeeds.get(role);
    if (list === undefined) {
      list = [];
      for (let i = 0; i < this.states.length; i++) {
        for (const k of this.states[i]!.release?.constraints ?? []) {
          const need = k.when === "server" ? k.requires[role] : undefined;
          if (need === undefined) continue;
          let entry = list.find((e) => e.need === need);
          if (!entry) {
            entry = { need, states: [] };
            list.push(entry);
          }
          if (entry.states[entry.states.length - 1] !== i) entry.states.push(i);
        }
      }
      this.serverNeeds.set(role, list);
    }
    return list;
  }
}
