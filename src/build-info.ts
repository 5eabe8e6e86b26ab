import { readFileSync } from "node:fs";
import { buildVersionInfo, type VersionInfo } from "./protocol/version-info.js";

/**
 * Written in by the bundles (scripts/bundle-entrypoint.mjs, scripts/bundle-cli.mjs), which are not beside
 * package.json.
 */
declare const __WAYPOINT_PACKAGE_VERSION__: string | undefined;

/**
 * The version of this build, read from package.json. The relative path holds
 * both for src/ (run through tsx) and for dist/ (compiled); the bundles of the
 * entrypoint and the CLI have it written in.
 */
export const PACKAGE_VERSION: string =
  typeof __WAYPOINT_PACKAGE_VERSION__ === "string"
    ? __WAYPOINT_PACKAGE_VERSION__
    : (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
        .version;

/** This build's VersionInfo (not emulated). */
export const BUILD_VERSION_INFO: VersionInfo = buildVersionInfo(PACKAGE_VERSION);
