import { randomBytes } from "node:crypto";
import { AppError } from "../../protocol/errors.js";
import type { ProtocolRange } from "../../protocol/range.js";
import type { VersionInfo } from "../../protocol/version-info.js";
import { SNAPSHOT_FORMAT, type SnapshotMeta } from "./types.js";

/**
 * meta.json, parsed strictly at the edge: every field present and typed, no
 * field this build does not know (a typo or a field from a newer writer must
 * not be silently dropped). The format number is judged first: a file from a
 * newer format is SNAPSHOT_INCOMPATIBLE (another release can read it), any
 * other defect is SNAPSHOT_INVALID naming the field.
 */

const META_KEYS = ["format", "id", "createdAt", "server", "schemaVersion", "index", "tables"] as const;
const SERVER_KEYS = ["version", "api", "entrypoint", "emulated"] as const;
const RANGE_KEYS = ["min", "current"] as const;

/** "snap_" + 20 hex digits. */
export function newSnapshotId(): string {
  return `snap_${randomBytes(10).toString("hex")}`;
}

const ID_PATTERN = /^snap_[0-9A-Za-z_-]{1,64}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export function parseSnapshotMeta(text: string): SnapshotMeta {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw invalid(`is not valid JSON (${(err as Error).message})`);
  }
  const obj = record(raw, "meta.json");
  checkFormat(obj.format);
  onlyKeys(obj, META_KEYS, "");
  return {
    format: SNAPSHOT_FORMAT,
    id: matching(obj.id, "id", ID_PATTERN, 'a "snap_" id'),
    createdAt: timestamp(obj.createdAt, "createdAt"),
    server: versionInfo(obj.server),
    schemaVersion: count(obj.schemaVersion, "schemaVersion"),
    index: count(obj.index, "index"),
    tables: tables(obj.tables),
  };
}

/**
 * Judges only the `format` field: SNAPSHOT_INCOMPATIBLE for a number other
 * than this build's, SNAPSHOT_INVALID for a missing or non-integer one.
 */
export function checkFormat(format: unknown): void {
  if (format === undefined) throw invalid('has no "format" field');
  if (typeof format !== "number" || !Number.isSafeInteger(format)) {
    throw invalid('field "format" must be an integer');
  }
  if (format !== SNAPSHOT_FORMAT) {
    throw new AppError(
      "SNAPSHOT_INCOMPATIBLE",
      `unknown snapshot format ${format} (this build reads format ${SNAPSHOT_FORMAT})`,
    );
  }
}

function versionInfo(value: unknown): VersionInfo {
  const obj = record(value, 'field "server"');
  onlyKeys(obj, SERVER_KEYS, "server.");
  if (typeof obj.emulated !== "boolean") throw invalid('field "server.emulated" must be true or false');
  return {
    version: matching(obj.version, "server.version", /^\S{1,64}$/, "a version"),
    api: range(obj.api, "server.api"),
    entrypoint: range(obj.entrypoint, "server.entrypoint"),
    emulated: obj.emulated,
  };
}

function range(value: unknown, field: string): ProtocolRange {
  const obj = record(value, `field "${field}"`);
  onlyKeys(obj, RANGE_KEYS, `${field}.`);
  return { min: count(obj.min, `${field}.min`), current: count(obj.current, `${field}.current`) };
}

function tables(value: unknown): Record<string, number> {
  const obj = record(value, 'field "tables"');
  const out: Record<string, number> = {};
  for (const [name, rows] of Object.entries(obj)) {
    if (name === "" || name.length > 128) throw invalid(`field "tables" has a bad table name "${name}"`);
    out[name] = count(rows, `tables.${name}`);
  }
  return out;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalid(what === "meta.json" ? "is not a JSON object" : `${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function onlyKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) throw invalid(`has an unknown field "${prefix}${key}"`);
  }
  for (const key of known) {
    if (!(key in obj)) throw invalid(`has no "${prefix}${key}" field`);
  }
}

function count(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`field "${field}" must be a whole number ≥ 0`);
  }
  return value;
}

function matching(value: unknown, field: string, pattern: RegExp, what: string): string {
  if (typeof value !== "string" || !pattern.test(value)) throw invalid(`field "${field}" must be ${what}`);
  return value;
}

function timestamp(value: unknown, field: string): string {
  const text = matching(value, field, RFC3339, "an RFC 3339 time");
  if (Number.isNaN(Date.parse(text))) throw invalid(`field "${field}" must be an RFC 3339 time`);
  return text;
}

function invalid(what: string): AppError {
  return new AppError("SNAPSHOT_INVALID", `meta.json ${what}`);
}
