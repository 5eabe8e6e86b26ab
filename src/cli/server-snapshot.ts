import { resolve } from "node:path";
import { Readable } from "node:stream";
import { AppError } from "../protocol/errors.js";
import { encrypt } from "../server/offline.js";
import { compactTimeStamp } from "../time-stamp.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import type { ParsedFlags } from "./flags.js";
import { interruptible } from "./interrupt.js";
import { newPassphrase, PASSPHRASE_ENV } from "./passphrase.js";
import { formatBytes, progressLine } from "./progress.js";
import {
  alreadyExists,
  type Encryption,
  exists,
  snapshotToFile,
  snapshotToStream,
} from "./snapshot-write.js";

/** The seeds' warning (seed 000), printed for every unencrypted snapshot. */
export const UNENCRYPTED_WARNING =
  "Warning! The snapshot data contains secret and sensitive information (such as auth tokens) unencrypted. " +
  "Snapshots are highly sensitive and should be carefully protected.";

export const serverSnapshot: Command = {
  name: "server snapshot",
  summary: "Take an online snapshot of the server's data (writes continue meanwhile)",
  args: "[FILE|-]",
  help:
    "Writes a gzip'd tar of meta.json, data.db and SHA256SUMS holding one point in time (its state index).\n" +
    "FILE defaults to waypoint-snapshot-<UTC time>.snap in the current directory. The file is written to a\n" +
    "temp file beside it (mode 0600), read back and fully verified, then renamed into place; an existing\n" +
    "file is never replaced without -force. With - the archive streams to stdout (refused on a terminal);\n" +
    "it is not read back, so check the copy with `waypoint snapshot verify FILE`.\n" +
    `-encrypt age-encrypts the whole file with a passphrase (${PASSPHRASE_ENV}, or asked twice on the\n` +
    "terminal); -recipient=age1… encrypts it for age recipients instead. `age -d` decrypts either.\n" +
    "A management token is needed. Progress shows on stderr when it is a terminal; the summary line goes to\n" +
    "stdout (to stderr with -).",
  flags: [
    { name: "force", type: "boolean", usage: "replace FILE if it exists" },
    {
      name: "encrypt",
      type: "boolean",
      usage: "age-encrypt the whole file with a passphrase",
      env: PASSPHRASE_ENV,
    },
    {
      name: "recipient",
      type: "string-list",
      usage: "age-encrypt for this recipient (age1…) instead of a passphrase; implies -encrypt",
      placeholder: "AGE1…",
    },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const target = flags.args[0];
    const toStdout = target === "-";
    if (toStdout && io.stdout.isTTY) {
      throw new AppError("USAGE", "refusing to write a snapshot to a terminal", {
        hint: "Redirect stdout to a file or a pipe (waypoint server snapshot - > backup.snap), or give a FILE.",
      });
    }
    if (toStdout && flags.bool("force")) throw new AppError("USAGE", "-force applies to a FILE, not to -");
    const name = target ?? defaultSnapshotName();
    const path = resolve(name);
    if (!toStdout && !flags.bool("force") && exists(path)) throw alreadyExists(name);
    const encryption = await encryptionFrom(flags, io);
    const progress = progressLine(io.stderr);
    const conn = connect(flags, io);
    try {
      const taken = await interruptible((scope) =>
        toStdout
          ? snapshotToStream(conn, io.stdout, { encryption, scope, progress })
          : snapshotToFile(conn, path, { encryption, scope, progress, force: flags.bool("force") }),
      );
      const how =
        encryption.kind === "none"
          ? "not encrypted"
          : encryption.kind === "passphrase"
            ? "age-encrypted with a passphrase"
            : `age-encrypted for ${encryption.recipients.length} recipient${encryption.recipients.length === 1 ? "" : "s"}`;
      const summary =
        `Snapshot ${taken.meta.id} (state index ${taken.meta.index}) written to ${toStdout ? "stdout" : name}: ` +
        `${formatBytes(taken.bytes)}, ${how}${toStdout ? ", not read back" : ", read back and verified"}`;
      writeLine(toStdout ? io.stderr : io.stdout, summary);
      if (encryption.kind === "none") {
        writeLine(io.stderr, UNENCRYPTED_WARNING);
        writeLine(io.stderr, "Pass -encrypt (or -recipient=age1…) to encrypt the whole file with age.");
      }
      return 0;
    } finally {
      conn.close();
    }
  },
};

/** `waypoint-snapshot-20261122T101500Z.snap`: sorts by time, safe on every file system. */
export function defaultSnapshotName(now = new Date()): string {
  return `waypoint-snapshot-${compactTimeStamp(now)}.snap`;
}

/** Settled before the server is called, so a bad recipient or a missing passphrase fails fast. */
async function encryptionFrom(flags: ParsedFlags, io: Io): Promise<Encryption> {
  const recipients = flags.list("recipient");
  if (recipients.length > 0) {
    // encrypt() checks every recipient when called; the stream it returns is never read.
    encrypt(Readable.from([]), { recipients }).destroy();
    return { kind: "recipients", recipients };
  }
  if (!flags.bool("encrypt")) return { kind: "none" };
  return { kind: "passphrase", passphrase: await newPassphrase(io) };
}
