import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import semver from "semver";
import { readCatalogFile } from "../client/identity.js";
import { type Catalog, findRelease } from "../protocol/catalog.js";
import { AppError } from "../protocol/errors.js";
import type { InventoryJson } from "../protocol/inventory.js";
import { parseInventory } from "../protocol/inventory-parse.js";
import type { Io } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import type { FlagSpec, ParsedFlags } from "./flags.js";

/**
 * The project's own release catalog, shipped in the package (package.json
 * "files"). Relative to this file, so it resolves from src/cli, dist/cli and
 * the CLI's bundle, whose files are two levels below the package root too
 * (dist/bin, dist/chunks: scripts/bundle-cli.mjs).
 */
export const SHIPPED_CATALOG = fileURLToPath(
  new URL("../../fixtures/catalogs/waypoint-ops.json", import.meta.url),
);

/**
 * Connection and emulation flags for a command that plans: -catalog (shared
 * with emulation, where a catalog alone emulates nothing) is also the catalog
 * the plan is made from.
 */
export const PLANNING_FLAGS: readonly FlagSpec[] = [
  ...CONNECTION_FLAGS,
  ...EMULATION_FLAGS.map((f) =>
    f.name === "catalog"
      ? {
          ...f,
          usage: "release catalog JSON file to plan with (and to emulate from); if unset, the shipped one",
        }
      : f,
  ),
];

/** The catalog to plan with and where it came from: -catalog > WAYPOINT_CATALOG > the shipped one. */
export function planningCatalog(flags: ParsedFlags, io: Io): { catalog: Catalog; path: string } {
  const path = flags.string("catalog") || io.env.WAYPOINT_CATALOG || SHIPPED_CATALOG;
  return { catalog: readCatalogFile(path), path };
}

/**
 * The target release given by flag `-flag` as the catalog spells it
 * ("v0.11.4" is accepted), or undefined for the catalog's newest. An unknown
 * target names the catalog.
 */
export function planningTarget(
  flag: string,
  text: string | undefined,
  catalog: Catalog,
  path: string,
): string | undefined {
  if (text === undefined || text === "") return undefined;
  const version = semver.clean(text) ?? text;
  if (findRelease(catalog, version)) return version;
  const known = catalog.releases.map((r) => r.version);
  const shown = known.length > 8 ? [...known.slice(0, 3), "…", ...known.slice(-4)] : known;
  throw new AppError(
    "INVALID_ARGUMENT",
    `-${flag}=${text}: not a release in the catalog ${path} (it lists ${shown.join(", ")})`,
    { hint: "Pick a listed release, or pass -catalog=FILE with a catalog that has it." },
  );
}

/** The inventory from -inventory=FILE ("-" = stdin), or the live server's active components. */
export async function planningInventory(
  file: string | undefined,
  flags: ParsedFlags,
  io: Io,
): Promise<InventoryJson> {
  if (file === undefined || file === "") {
    const conn = connect(flags, io);
    try {
      const { generatedAt: _ignored, ...inv } = await conn.inventory(false);
      return inv;
    } finally {
      conn.close();
    }
  }
  if (file === "-") {
    if (io.stdin.isTTY) {
      throw new AppError("USAGE", "-inventory=- reads the inventory from stdin, which is a terminal", {
        hint: "Pipe it in (waypoint versions -json | waypoint upgrade plan -inventory=-) or name a file.",
      });
    }
    return parseInventory(await readAll(io.stdin), "stdin");
  }
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new AppError(
      "INVENTORY_INVALID",
      `cannot read inventory ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return parseInventory(text, file);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  stream.setEncoding("utf8");
  for await (const chunk of stream) text += String(chunk);
  return text;
}
