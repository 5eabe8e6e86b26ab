import { readFileSync } from "node:fs";
import { buildVersionInfo, type VersionInfo } from "./protocol/version-info.js";

/**
 * The version of this build, read from package.json. The relative path holds
 * both for src/ (run through tsx) and for dist/ (compiled).
 */
export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** This build's VersionInfo (not emulated). */
export const BUILD_VERSION_INFO: VersionInfo = buildVersionInfo(PACKAGE_VERSION);
