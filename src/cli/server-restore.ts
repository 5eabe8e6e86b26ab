import { createWriteStream, rmSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Connection, RestoreResult } from "../client/connection.js";
import { AppError } from "../protocol/errors.js";
import { EXIT_AFTER_STAGED_RESTORE, hashToken, RESTORE_FILE } from "../server/offline.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import type { ParsedFlags } from "./flags.js";
import { interruptible } from "./interrupt.js";
import { PASSPHRASE_ENV } from "./passphrase.js";
import { byteCounter, progressLine } from "./progress.js";
import {
  checkedFile,
  credentialsFrom,
  describeMeta,
  errnoText,
  IDENTITY_FLAG,
  plainArchive,
  verifyFile,
  workDir,
} from "./snapshot-files.js";
import { stagedStatus } from "./staged-status.js";

type Action =
  | { readonly kind: "status" }
  | { readonly kind: "cancel" }
  | { readonly kind: "restore"; readonly mode: "stage" | "live"; readonly file: string };

export const serverRestore: Command = {
  name: "server restore",
  summary: "Restore a snapshot: staged for the server's next start (default) or live",
  args: "[FILE|-]",
  help:
    "The snapshot is verified here first (nothing is sent if it fails), decrypted here when it is encrypted\n" +
    `(${PASSPHRASE_ENV} or a prompt; -identity for recipients), then uploaded; the server verifies it again.\n` +
    `Staged (default): stored as ${RESTORE_FILE} in the server's data dir and applied at its next start; the\n` +
    "current data stays live until then, and a new stage replaces the old one. -exit then makes the server\n" +
    `exit with code ${EXIT_AFTER_STAGED_RESTORE} so its supervisor (systemd, Kubernetes, Nomad) restarts it into the restored data.\n` +
    "-live swaps the data in atomically while the server serves; the previous database is kept beside it.\n" +
    "Restoring replaces every token with the snapshot's: if your token is not in the snapshot the restore is\n" +
    "refused unless -force. With - the snapshot is read from stdin into a private temp file (in TMPDIR) first.\n" +
    "-status shows what is staged (-json for JSON); -cancel removes it.\n" +
    "Offline restore needs no command: copy the snapshot to <data dir>/waypoint-restore.db and start the server.",
  flags: [
    { name: "live", type: "boolean", usage: "swap the data in now, while the server serves" },
    {
      name: "exit",
      type: "boolean",
      usage: `after staging, make the server exit with code ${EXIT_AFTER_STAGED_RESTORE} so its supervisor restarts it`,
    },
    { name: "status", type: "boolean", usage: "show the staged restore (no FILE)" },
    { name: "cancel", type: "boolean", usage: "remove the staged restore (no FILE)" },
    { name: "force", type: "boolean", usage: "restore even if your token is not in the snapshot" },
    { name: "json", type: "boolean", usage: "with -status: print JSON" },
    IDENTITY_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const action = actionFrom(flags);
    const conn = connect(flags, io);
    try {
      if (action.kind === "status") return await stagedStatus(conn, io, flags.bool("json"));
      if (action.kind === "cancel") {
        const removed = await conn.cancelStagedRestore();
        writeLine(io.stdout, removed ? "Removed the staged restore." : "Nothing was staged.");
        return 0;
      }
      return await restore(conn, action.file, action.mode, flags, io);
    } finally {
      conn.close();
    }
  },
};

function actionFrom(flags: ParsedFlags): Action {
  const usage = (message: string) =>
    new AppError("USAGE", message, { hint: 'Run "waypoint server restore -help" to see its usage.' });
  const file = flags.args[0];
  for (const query of ["status", "cancel"] as const) {
    if (!flags.bool(query)) continue;
    const other = query === "status" ? "cancel" : "status";
    if (flags.bool(other)) throw usage("-status and -cancel do not combine");
    if (file !== undefined) throw usage(`-${query} takes no FILE`);
    for (const f of ["live", "exit", "force"])
      if (flags.bool(f)) throw usage(`-${f} does not combine with -${query}`);
    if (flags.list("identity").length > 0) throw usage(`-identity does not combine with -${query}`);
    if (query === "cancel" && flags.bool("json")) throw usage("-json applies to -status only");
    return { kind: query };
  }
  if (flags.bool("json")) throw usage("-json applies to -status only");
  if (file === undefined)
    throw usage("waypoint server restore needs FILE (or - for stdin), -status or -cancel");
  if (flags.bool("live") && flags.bool("exit")) {
    throw usage("-exit applies to staged restores; a -live restore needs no restart");
  }
  return { kind: "restore", mode: flags.bool("live") ? "live" : "stage", file };
}

async function restore(
  conn: Connection,
  file: string,
  mode: "stage" | "live",
  flags: ParsedFlags,
  io: Io,
): Promise<number> {
  const token = conn.settings.token;
  if (!token) {
    throw new AppError("UNAUTHENTICATED", "waypoint server restore needs a management token");
  }
  const fromStdin = file === "-";
  if (fromStdin && io.stdin.isTTY) {
    throw new AppError("USAGE", "refusing to read a snapshot from a terminal", {
      hint: "Give a FILE, or redirect stdin from one (waypoint server restore - < backup.snap).",
    });
  }
  const creds = credentialsFrom(flags, io, fromStdin);
  const progress = progressLine(io.stderr);
  const result = await interruptible(async (scope) => {
    const work = workDir(scope, undefined, "waypoint-restore-");
    try {
      const path = fromStdin ? join(work, "snapshot") : file;
      if (fromStdin) await spool(io.stdin, path, scope.signal);
      const size = checkedFile(path);
      const verified = await verifyFile(path, {
        dir: work,
        creds,
        io,
        signal: scope.signal,
        tokenHash: hashToken(token),
        onBytes: byteCounter(progress, "verifying", size),
      });
      rmSync(verified.dbPath, { force: true });
      progress.done();
      if (verified.hasToken === false) {
        const what =
          "your token is not in this snapshot: restoring replaces every token with the snapshot's, so it would " +
          "stop working and you could lock yourself out";
        if (!flags.bool("force")) throw new AppError("RESTORE_LOCKOUT", `refusing to restore: ${what}`);
        writeLine(io.stderr, `Warning: ${what} (going ahead: -force).`);
      }
      let sent = 0;
      const upload = plainArchive(path, verified.encrypted, creds, scope.signal, (n) => {
        sent += n;
        progress.update(sent < size ? "uploading" : "uploaded; the server verifies it", sent, size);
      });
      return await conn.restoreSnapshot(upload, { mode, exit: flags.bool("exit") });
    } finally {
      progress.done();
      rmSync(work, { recursive: true, force: true });
    }
  });
  printResult(result, flags.bool("exit"), io);
  return 0;
}

/** stdin into a private file, so it can be verified before anything is sent and then read again. */
async function spool(stdin: NodeJS.ReadableStream, path: string, signal: AbortSignal): Promise<void> {
  try {
    await pipeline(stdin, createWriteStream(path, { flags: "wx", mode: 0o600 }), { signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new AppError(
      "WRITE_FAILED",
      `cannot keep the snapshot read from stdin in ${path}: ${errnoText(err)}`,
    );
  }
}

function printResult(r: RestoreResult, exitAsked: boolean, io: Io): void {
  const out = (text: string) => writeLine(io.stdout, text);
  if (r.mode === "live") {
    out(`Restored snapshot ${describeMeta(r.meta)} live.`);
    out(
      `The server's state index went from ${r.previousIndex} to ${r.index}; it serves the snapshot's data now.`,
    );
    out(`The previous database is kept at ${r.keptAs}.`);
    return;
  }
  out(`Staged snapshot ${describeMeta(r.meta)} at ${r.stagedPath}.`);
  out("The current data stays live; the snapshot is applied at the next start of the server.");
  if (r.exiting) {
    out(
      `The server is exiting with code ${EXIT_AFTER_STAGED_RESTORE} so its supervisor restarts it into the restored data.`,
    );
  } else if (exitAsked) {
    writeLine(
      io.stderr,
      "Warning: this server cannot exit by itself (it is embedded); restart it to apply the stage.",
    );
  }
}
