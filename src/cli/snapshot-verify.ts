import { rmSync } from "node:fs";
import { PACKAGE_VERSION } from "../build-info.js";
import { isAppError } from "../protocol/errors.js";
import { hashToken } from "../server/offline.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connectionSettings } from "./common-flags.js";
import type { ParsedFlags } from "./flags.js";
import { interruptible } from "./interrupt.js";
import { byteCounter, progressLine } from "./progress.js";
import {
  checkedFile,
  credentialsFrom,
  describeMeta,
  IDENTITY_FLAG,
  verifyFile,
  workDir,
} from "./snapshot-files.js";

export const snapshotVerify: Command = {
  name: "snapshot verify",
  summary: "Dry-run a restore of a snapshot file against this build (no server needed)",
  args: "FILE",
  help:
    "Does everything a restore does short of replacing data: decrypts (WAYPOINT_SNAPSHOT_PASSPHRASE or a\n" +
    "prompt, or -identity), unpacks strictly, checks both SHA-256 sums, runs integrity_check on data.db,\n" +
    'compares it with meta.json, and checks that this build reads its format and schema. Prints "ok: …" or\n' +
    "the error (exit 1). When a token is configured (-server-token, WAYPOINT_SERVER_TOKEN or the context) it\n" +
    "also says whether that token is in the snapshot: a restore replaces every token, so if it is not, the\n" +
    "restore would lock you out (a warning; the exit code stays 0).",
  flags: [IDENTITY_FLAG, ...CONNECTION_FLAGS],
  async run(flags, io) {
    const file = flags.args[0]!;
    const bytes = checkedFile(file);
    const creds = credentialsFrom(flags, io, false);
    const token = configuredToken(flags, io);
    const progress = progressLine(io.stderr);
    const verified = await interruptible(async (scope) => {
      const work = workDir(scope);
      try {
        const v = await verifyFile(file, {
          dir: work,
          creds,
          io,
          signal: scope.signal,
          tokenHash: token === undefined ? undefined : hashToken(token),
          onBytes: byteCounter(progress, "verifying", bytes),
        });
        rmSync(v.dbPath, { force: true });
        return v;
      } finally {
        progress.done();
        rmSync(work, { recursive: true, force: true });
      }
    });
    writeLine(
      io.stdout,
      `ok: ${describeMeta(verified.meta)}${verified.encrypted ? ", age-encrypted" : ""}: SHA-256 sums match, ` +
        `data.db passes integrity_check and agrees with meta.json, format ${verified.meta.format} and schema ` +
        `${verified.meta.schemaVersion} can be restored by this build (${PACKAGE_VERSION})`,
    );
    if (verified.hasToken === true) {
      writeLine(io.stdout, "token: the token you use is in this snapshot; restoring it keeps your access");
    } else if (verified.hasToken === false) {
      writeLine(
        io.stderr,
        "Warning: the token you use is NOT in this snapshot. Restoring it replaces every token on the server, " +
          "so this token would stop working and you could lock yourself out; keep a management token that is " +
          "in the snapshot at hand before restoring it.",
      );
    }
    return 0;
  },
};

/** The token this CLI would use with a server, if any; a broken context only skips the token check. */
function configuredToken(flags: ParsedFlags, io: Io): string | undefined {
  try {
    return connectionSettings(flags, io).token;
  } catch (err) {
    if (!isAppError(err)) throw err;
    writeLine(io.stderr, `Warning: cannot read the connection settings (${err.message}); no token check.`);
    return undefined;
  }
}
