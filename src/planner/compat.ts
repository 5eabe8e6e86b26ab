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

export function satisfies(version: string, range: string): boolean {
  return semver.satisfies(version, range, { includePrerelease: true });
}

/**
 * Why component version `c` cannot work with server `s`, or undefined when it
 * can (DESIGN §6): the protocol ranges of its family overlap, and every
 * catalog constraint that applies holds — the component release's own
 * (`when` = its role, requiring a server version) and the server release's
 * (`when` = server, requiring a version of the component's role).
 */
export function incompatibility(c: ComponentVersion, s: ServerState): string | undefined {
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
