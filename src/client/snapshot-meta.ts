import { AppError } from "../protocol/errors.js";
import type { VersionInfo } from "../protocol/version-info.js";

/** A snapshot's meta.json (DESIGN §8) as the server announces it. */
export interface SnapshotMetaJson {
  readonly format: number;
  readonly id: string;
  /** RFC 3339. */
  readonly createdAt: string;
  readonly server: VersionInfo;
  readonly schemaVersion: number;
  /** The state index the snapshot holds. */
  readonly index: number;
  /** Rows per table. */
  readonly tables: Readonly<Record<string, number>>;
}

/** Parses the meta_json a server sent; the fields a client relies on are checked. */
export function parseSnapshotMetaJson(text: string): SnapshotMetaJson {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const v = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const problems = [
    typeof v.format === "number" ? "" : "format",
    typeof v.id === "string" && v.id !== "" ? "" : "id",
    typeof v.createdAt === "string" ? "" : "createdAt",
    typeof v.server === "object" && v.server !== null ? "" : "server",
    Number.isSafeInteger(v.schemaVersion) ? "" : "schemaVersion",
    Number.isSafeInteger(v.index) && (v.index as number) >= 0 ? "" : "index",
    typeof v.tables === "object" && v.tables !== null ? "" : "tables",
  ].filter(Boolean);
  if (problems.length > 0) {
    throw new AppError(
      "INTERNAL",
      `the server sent snapshot metadata without a valid ${problems.join(", ")}: ${text.slice(0, 200)}`,
    );
  }
  return v as unknown as SnapshotMetaJson;
}
