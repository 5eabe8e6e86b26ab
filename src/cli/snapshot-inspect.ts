import { createReadStream, rmSync } from "node:fs";
import { type AppError, isAppError } from "../protocol/errors.js";
import { formatRange } from "../protocol/range.js";
import { formatVersion } from "../protocol/version-info.js";
import {
  readSnapshotMeta,
  resolveLimits,
  type SnapshotMeta,
  type VerifiedSnapshot,
} from "../server/offline.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { fields, table } from "./format.js";
import { interruptible } from "./interrupt.js";
import { byteCounter, formatBytes, progressLine } from "./progress.js";
import {
  type Credentials,
  checkedFile,
  credentialsFrom,
  IDENTITY_FLAG,
  isEncryptedFile,
  verifyFile,
  workDir,
} from "./snapshot-files.js";

/** `waypoint snapshot inspect -json` (stable). */
export interface InspectJson {
  readonly file: string;
  /** Size of the file as stored. */
  readonly bytes: number;
  readonly encrypted: boolean;
  /** meta.json; when verification failed, read without checking its hash (or null if unreadable). */
  readonly meta: SnapshotMeta | null;
  /** Whether the whole file passed the full verification (the dry run of a restore). */
  readonly verified: boolean;
  /** Size of data.db; null when verification did not get that far. */
  readonly dbBytes: number | null;
  /** Rows per table (from meta.json), bytes per table (from data.db, when verified and known). */
  readonly tables: readonly { readonly name: string; readonly rows: number; readonly bytes: number | null }[];
  readonly error: { readonly code: string; readonly message: string } | null;
}

export const snapshotInspect: Command = {
  name: "snapshot inspect",
  summary: "Show a snapshot file's meta, tables and verification result (no server needed)",
  args: "FILE",
  help:
    "Runs the full verification of `waypoint snapshot verify` and shows what the file holds: its meta.json\n" +
    "(id, creation time, server version, schema, state index), rows and bytes per table, sizes and whether it\n" +
    "is encrypted. When verification fails it still shows what it could read (meta.json, marked unverified),\n" +
    "then the error, and exits 1. Encrypted files: WAYPOINT_SNAPSHOT_PASSPHRASE or a prompt, or -identity.",
  flags: [{ name: "json", type: "boolean", usage: "print JSON" }, IDENTITY_FLAG],
  async run(flags, io) {
    const file = flags.args[0]!;
    const bytes = checkedFile(file);
    const creds = credentialsFrom(flags, io, false);
    const { report, error } = await inspect(file, bytes, creds, io);
    if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(report, null, 2));
    else writeLine(io.stdout, renderInspect(report));
    if (error) throw error;
    return 0;
  },
};

async function inspect(
  file: string,
  bytes: number,
  creds: Credentials,
  io: Io,
): Promise<{ report: InspectJson; error?: AppError }> {
  const progress = progressLine(io.stderr);
  let verified: VerifiedSnapshot | undefined;
  let error: AppError | undefined;
  await interruptible(async (scope) => {
    const work = workDir(scope);
    try {
      verified = await verifyFile(file, {
        dir: work,
        creds,
        io,
        signal: scope.signal,
        onBytes: byteCounter(progress, "verifying", bytes),
      });
    } catch (err) {
      if (!isAppError(err) || err.code === "INTERRUPTED") throw err;
      error = err;
    } finally {
      progress.done();
      rmSync(work, { recursive: true, force: true });
    }
  });
  let meta: SnapshotMeta | null = verified?.meta ?? null;
  if (!verified) {
    // What can still be read; the passphrase, if any, was asked for already and is not asked again.
    meta = await readSnapshotMeta(createReadStream(file), {
      limits: resolveLimits({}, io.env),
      passphrase: () => creds.passphrase.get(),
      identities: creds.identities,
    }).catch(() => null);
  }
  const tableBytes = verified?.tableBytes;
  const report: InspectJson = {
    file,
    bytes,
    encrypted: verified?.encrypted ?? isEncryptedFile(file),
    meta,
    verified: verified !== undefined,
    dbBytes: verified?.dbBytes ?? null,
    tables: Object.entries(meta?.tables ?? {}).map(([name, rows]) => ({
      name,
      rows,
      bytes: tableBytes?.[name] ?? null,
    })),
    error: error ? { code: error.code, message: error.message } : null,
  };
  return error ? { report, error } : { report };
}

export function renderInspect(r: InspectJson): string {
  const out: string[] = [];
  const rows: [string, string][] = [
    [
      "File",
      `${r.file} (${formatBytes(r.bytes)}, ${r.encrypted ? "age-encrypted" : "gzip'd tar, not encrypted"})`,
    ],
  ];
  const m = r.meta;
  if (m) {
    const unverified = r.verified ? "" : "  (unverified)";
    rows.push(
      ["Snapshot", `${m.id}${unverified}`],
      ["Created", m.createdAt],
      [
        "Server",
        `${formatVersion(m.server)} (api ${formatRange(m.server.api)}, entrypoint ${formatRange(m.server.entrypoint)})`,
      ],
      ["Format", String(m.format)],
      ["Schema version", String(m.schemaVersion)],
      ["State index", String(m.index)],
    );
  } else {
    rows.push(["Snapshot", "meta.json could not be read"]);
  }
  if (r.dbBytes !== null) rows.push(["Database", formatBytes(r.dbBytes)]);
  out.push(fields(rows, ""));
  if (r.tables.length > 0) {
    out.push(
      "",
      table(
        ["TABLE", "ROWS", "BYTES"],
        r.tables.map((t) => [t.name, String(t.rows), t.bytes === null ? "-" : formatBytes(t.bytes)]),
      ),
    );
  }
  out.push(
    "",
    r.error
      ? `Verification: FAILED: ${r.error.message}`
      : "Verification: ok (SHA-256 sums match, data.db passes integrity_check and agrees with meta.json, " +
          "format and schema restorable by this build)",
  );
  return out.join("\n");
}
