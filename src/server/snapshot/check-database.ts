import { closeSync, openSync, readSync } from "node:fs";
import { AppError, isAppError } from "../../protocol/errors.js";
import { type InspectResult, inspectDatabaseFile } from "../store/inspect.js";
import type { SnapshotMeta } from "./types.js";

/**
 * Judges an extracted data.db against its meta.json (after the hashes
 * matched): a standalone SQLite file (rollback-journal mode: a WAL-mode file
 * would need -wal/-shm files, and opening it would create them), a sound
 * waypoint database (PRAGMA integrity_check), a real schema version, and
 * facts — schema version, state index, rows per table — equal to what
 * meta.json claims. Whether this build can open that schema is the caller's
 * call. Every failure is SNAPSHOT_INVALID.
 */

const SQLITE_MAGIC = Buffer.from("SQLite format 3\0", "latin1");
/** Header bytes 18 and 19: file format write/read version, 1 = rollback journal, 2 = WAL. */
const JOURNAL_VERSION_OFFSET = 18;
const PROBLEMS_SHOWN = 3;

export function checkDatabase(
  dbPath: string,
  meta: SnapshotMeta,
  tokenHash?: string,
  opts: { tableBytes?: boolean } = {},
): InspectResult {
  checkHeader(dbPath);
  let facts: InspectResult;
  try {
    facts = inspectDatabaseFile(dbPath, {
      ...(tokenHash === undefined ? {} : { tokenHash }),
      ...(opts.tableBytes === false ? { tableBytes: false } : {}),
    });
  } catch (err) {
    if (!isAppError(err) || err.code !== "DB_INVALID") throw err;
    throw invalid(err.message.replaceAll(dbPath, "data.db"));
  }
  if (facts.problems.length > 0) {
    const more = facts.problems.length - PROBLEMS_SHOWN;
    throw invalid(
      `data.db fails PRAGMA integrity_check: ${facts.problems.slice(0, PROBLEMS_SHOWN).join("; ")}` +
        (more > 0 ? ` (and ${more} more)` : ""),
    );
  }
  const diffs = differences(meta, facts);
  if (diffs.length > 0) throw invalid(`meta.json does not match data.db: ${diffs.join("; ")}`);
  if (facts.schemaVersion < 1)
    throw invalid(`data.db has schema version ${facts.schemaVersion}, which no release writes`);
  return facts;
}

function differences(meta: SnapshotMeta, facts: InspectResult): string[] {
  const diffs: string[] = [];
  const compare = (what: string, claimed: number | undefined, actual: number | undefined) => {
    if (claimed === actual) return;
    diffs.push(`${what}: ${claimed ?? "absent"} in meta.json, ${actual ?? "absent"} in data.db`);
  };
  compare("schema version", meta.schemaVersion, facts.schemaVersion);
  compare("state index", meta.index, facts.index);
  const names = [...new Set([...Object.keys(meta.tables), ...Object.keys(facts.tables)])].sort();
  for (const name of names) compare(`rows in table ${name}`, meta.tables[name], facts.tables[name]);
  return diffs;
}

function checkHeader(dbPath: string): void {
  const head = Buffer.alloc(JOURNAL_VERSION_OFFSET + 2);
  const fd = openSync(dbPath, "r");
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (n < head.length || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
    throw invalid("data.db is not a SQLite database");
  }
  if (head[JOURNAL_VERSION_OFFSET] !== 1 || head[JOURNAL_VERSION_OFFSET + 1] !== 1) {
    throw invalid("data.db is in WAL mode; a snapshot's database must stand alone (rollback-journal mode)");
  }
}

function invalid(message: string): AppError {
  return new AppError("SNAPSHOT_INVALID", message);
}
