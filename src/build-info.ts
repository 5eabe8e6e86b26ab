import { readFileSync } from "node:fs";
import { buildVersionInfo, type VersionInfo } from "./protocol/version-info.js";

/** Written in by the entrypoint's bundle (scripts/bundle-entrypoint.mjs), which is not beside package.json. */
declare const __WAYPOINT_PACKAGE_VERSION__: string | undefined;

/**
 * The version of this build, read from package.json. The relative path holds
 * both for src/ (run through tsx) and for dist/ (compiled); the entrypoint's
 * bundle has it written in.
 */
export const PACKAGE_VERSION: string =
  typeof __WAYPOINT_PACKAGE_VERSION__ === "string"
    ? __WAYPOINT_PACKAGE_VERSION__
    : (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
        .version;

/** This build's VersionInfo (not emulated). */
export const BUILD_VERSION_INFO: VersionInfo = buildVersionInfo(PACKAGE_VERSION);
