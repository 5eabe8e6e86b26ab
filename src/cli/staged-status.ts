import type { Connection } from "../client/connection.js";
import type { Io } from "./command.js";
import { writeLine } from "./command.js";
import { fields } from "./format.js";
import { formatBytes } from "./progress.js";

/**
 * `waypoint server restore -status`. JSON (stable): `{"staged": false}` or
 * `{"staged": true, "path", "stagedAt", "bytes", "meta": <meta.json>}`.
 */
export async function stagedStatus(conn: Connection, io: Io, json: boolean): Promise<number> {
  const staged = await conn.stagedRestore();
  if (json) {
    writeLine(io.stdout, JSON.stringify(staged, null, 2));
    return 0;
  }
  if (!staged.staged) {
    writeLine(io.stdout, "Nothing is staged.");
    return 0;
  }
  const m = staged.meta;
  writeLine(io.stdout, `Staged restore: ${staged.path}`);
  writeLine(
    io.stdout,
    fields([
      ["snapshot", m.id],
      ["created", m.createdAt],
      ["server version", `${m.server.version}${m.server.emulated ? " (emulated)" : ""}`],
      ["state index", String(m.index)],
      ["size", formatBytes(staged.bytes)],
      ["staged at", staged.stagedAt],
    ]),
  );
  writeLine(
    io.stdout,
    "It is applied at the next start of the server; `waypoint server restore -cancel` removes it.",
  );
  return 0;
}
