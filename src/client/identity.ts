import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_VERSION_INFO } from "../build-info.js";
import { parseCatalog } from "../protocol/catalog.js";
import { emulatedVersionInfo } from "../protocol/emulation.js";
import { AppError } from "../protocol/errors.js";
import { isComponentId } from "../protocol/validate.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { ensureDirs, writeAtomic } from "./contexts.js";

/** Where emulation comes from: flags win over WAYPOINT_EMULATE_VERSION / WAYPOINT_CATALOG. */
export interface EmulationInput {
  readonly emulateVersion?: string;
  readonly catalog?: string;
}

/**
 * The VersionInfo this process advertises: the build's, or a catalog
 * release's when emulating (DESIGN §4). Both a version and a catalog are
 * needed; one without the other is an error rather than a silent no-op.
 */
export function resolveVersionInfo(input: EmulationInput, env: NodeJS.ProcessEnv): VersionInfo {
  const version = input.emulateVersion ?? (env.WAYPOINT_EMULATE_VERSION || undefined);
  const catalogPath = input.catalog ?? (env.WAYPOINT_CATALOG || undefined);
  if (version === undefined && catalogPath === undefined) return BUILD_VERSION_INFO;
  if (version === undefined) {
    // A catalog alone is used by other commands (the planner); it does not emulate.
    return BUILD_VERSION_INFO;
  }
  if (catalogPath === undefined) {
    throw new AppError("EMULATION_INVALID", `emulating ${version} needs a release catalog`, {
      hint: "Set WAYPOINT_CATALOG=FILE or pass -catalog=FILE (e.g. fixtures/catalogs/legacy.json).",
    });
  }
  return emulatedVersionInfo(readCatalogFile(catalogPath), version);
}

export function readCatalogFile(path: string) {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new AppError(
      "CATALOG_INVALID",
      `cannot read catalog ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
    );
  }
  return parseCatalog(text, path);
}

/**
 * A stable id for this installation, created on first use in the config dir
 * (`client-id`, mode 0600; `runner-id` for a runner agent). Falls back to a
 * per-process id when the config dir cannot be written, so a read-only home
 * never stops the CLI.
 */
export function installationId(configDir: string, kind: "cli" | "runner" = "cli"): string {
  const file = join(configDir, kind === "cli" ? "client-id" : "runner-id");
  try {
    const id = readFileSync(file, "utf8").trim();
    if (isComponentId(id)) return id;
  } catch {
    // First run: create it below.
  }
  const id = `${kind}_${randomBytes(10).toString("hex")}`;
  try {
    ensureDirs(configDir);
    writeAtomic(file, `${id}\n`, false);
  } catch {
    return id;
  }
  return id;
}

/** Kept here for the callers that build an identity with the rest of this module. */
export { clientIdentity } from "../protocol/headers.js";
