import type { ProtocolRange } from "./range.js";

/**
 * The api protocol this build speaks (CLI, console, runners and every RPC of
 * the Waypoint service).
 *
 * Bump `current` when a message or RPC changes in a way an older peer cannot
 * handle; raise `min` only when this build stops serving the older protocol
 * (a backwards-incompatible release: the release catalog must say so).
 */
export const API_PROTOCOL: ProtocolRange = Object.freeze({ min: 1, current: 1 });

/**
 * The entrypoint protocol this build speaks (the Entrypoint service).
 *
 * Entrypoints are baked into deployed apps and are the most expensive thing to
 * upgrade: raise `min` only after a release that serves both old and new
 * entrypoints has been out long enough for fleets to redeploy.
 */
export const ENTRYPOINT_PROTOCOL: ProtocolRange = Object.freeze({ min: 1, current: 1 });

/** What a component advertises: its version and its protocol ranges. */
export interface VersionInfo {
  readonly version: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  /** True when version and ranges come from a release catalog (emulation), not from the build. */
  readonly emulated: boolean;
}

/** The VersionInfo of a build whose package version is `version`. */
export function buildVersionInfo(version: string): VersionInfo {
  return Object.freeze({ version, api: API_PROTOCOL, entrypoint: ENTRYPOINT_PROTOCOL, emulated: false });
}

/** "0.1.0" or "0.1.0 (emulated)". */
export function formatVersion(info: Pick<VersionInfo, "version" | "emulated">): string {
  return info.emulated ? `${info.version} (emulated)` : info.version;
}
