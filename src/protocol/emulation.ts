import { type Catalog, findRelease } from "./catalog.js";
import { AppError } from "./errors.js";
import type { VersionInfo } from "./version-info.js";

/**
 * The VersionInfo a component advertises when it emulates release `version`
 * of `catalog` (WAYPOINT_EMULATE_VERSION / -emulate-version). Only the
 * advertised version and ranges change; the build's behaviour does not.
 */
export function emulatedVersionInfo(catalog: Catalog, version: string): VersionInfo {
  const release = findRelease(catalog, version);
  if (!release) {
    const known = catalog.releases.map((r) => r.version);
    const shown = known.length > 8 ? [...known.slice(0, 3), "…", ...known.slice(-4)] : known;
    throw new AppError(
      "EMULATION_INVALID",
      `cannot emulate ${JSON.stringify(version)}: the catalog has no such release (it lists ${shown.join(", ")})`,
    );
  }
  return Object.freeze({
    version: release.version,
    api: release.api,
    entrypoint: release.entrypoint,
    emulated: true,
  });
}
