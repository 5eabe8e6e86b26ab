/**
 * What the console does on disk and with snapshots: the real `SnapshotDesk` behind its Snapshots and
 * Plan screens, loaded on first use by console-desk.ts. The same code paths as `waypoint server snapshot`, `snapshot verify` and
 * `server restore`: snapshots are written through a temp file that is verified before it takes its
 * name, restores upload only a file that verified here first.
 */
import { createReadStream, readdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Connection } from "../client/connection.js";
import { AppError, isAppError } from "../protocol/errors.js";
import { hashToken, readSnapshotMeta } from "../server/offline.js";
import type {
  DeskProgress,
  SnapshotDesk,
  SnapshotFileInfo,
  TakenFile,
  VerifyOutcome,
} from "../tui/snapshot-desk.js";
import type { Io } from "./command.js";
import type { Scope } from "./interrupt.js";
import type { Progress } from "./progress.js";
import { defaultSnapshotName } from "./server-snapshot.js";
import {
  type Credentials,
  errnoText,
  isEncryptedFile,
  plainArchive,
  verifyFile,
  workDir,
} from "./snapshot-files.js";
import { alreadyExists, exists, snapshotToFile } from "./snapshot-write.js";
import { writeNewFile } from "./upgrade-plan.js";

/** Names the Snapshots screen lists: what `server snapshot` writes, and archives named as such. */
const SNAPSHOT_NAME = /\.(snap|tar\.gz|tgz|age)$/;

/** Files are listed with their meta; more than this many are listed by name and size only. */
const MAX_META_READS = 200;

export function filesDesk(conn: Connection, dir: string, io: Io): SnapshotDesk {
  const root = resolve(dir);
  // The console owns the terminal: nothing prompts. Encrypted files are listed, and verifying or
  // restoring them points to the CLI, which can ask for the passphrase.
  const creds: Credentials = {
    passphrase: {
      get: async () => {
        throw new AppError("USAGE", "this snapshot is encrypted; the console cannot ask for its passphrase", {
          hint: "Use `waypoint snapshot verify FILE` or `waypoint server restore FILE`, which ask for it.",
        });
      },
      known: () => undefined,
    },
    identities: [],
  };
  const running = new Set<AbortController>();
  const metaCache = new Map<string, { meta: NonNullable<SnapshotFileInfo["meta"]> } | { problem: string }>();
  const scoped = async <T>(work: (scope: Scope) => Promise<T>): Promise<T> => {
    const controller = new AbortController();
    const tracked = new Set<string>();
    running.add(controller);
    try {
      return await work({ signal: controller.signal, track: (p) => tracked.add(p) });
    } finally {
      running.delete(controller);
      for (const p of tracked) rmSync(p, { recursive: true, force: true });
    }
  };
  const inDir = (name: string) => {
    const path = resolve(root, name);
    if (!path.startsWith(`${root}/`))
      throw new AppError("INVALID_ARGUMENT", `${name} is not a file in ${root}`, {
        hint: "The console acts only on the files it lists in its snapshot directory.",
      });
    return path;
  };
  /** The full verification of `path` (and whether our token is in it), its work dir removed after. */
  const verifyHere = async (path: string, scope: Scope, onProgress: (p: DeskProgress) => void) => {
    const work = workDir(scope);
    try {
      const bytes = statSync(path).size;
      let done = 0;
      return await verifyFile(path, {
        dir: work,
        creds,
        io,
        signal: scope.signal,
        tokenHash: conn.settings.token ? hashToken(conn.settings.token) : undefined,
        onBytes: (n) => {
          done += n;
          onProgress({ phase: "verifying", done, total: bytes });
        },
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  };
  return {
    dir: root,

    async list(): Promise<SnapshotFileInfo[]> {
      let names: string[];
      try {
        names = readdirSync(root).filter((n) => SNAPSHOT_NAME.test(n) && !n.startsWith("."));
      } catch (err) {
        throw new AppError("NOT_FOUND", `cannot list ${root}: ${errnoText(err)}`, {
          hint: "Start the console with -snapshot-dir=DIR naming a directory you may read.",
        });
      }
      const files: SnapshotFileInfo[] = [];
      const seen = new Set<string>();
      for (const name of names) {
        const path = join(root, name);
        let st: ReturnType<typeof statSync>;
        try {
          st = statSync(path);
        } catch {
          continue; // removed meanwhile
        }
        if (!st.isFile()) continue;
        const base = { name, path, bytes: st.size, modifiedAt: st.mtime.toISOString() };
        let encrypted = false;
        try {
          encrypted = isEncryptedFile(path);
        } catch (err) {
          files.push({ ...base, encrypted, problem: `unreadable: ${errnoText(err)}` });
          continue;
        }
        if (encrypted || files.length >= MAX_META_READS) {
          files.push({ ...base, encrypted });
          continue;
        }
        // Read once per version of the file: the list is polled, and a foreign archive is read to its end.
        const key = `${name}\0${st.size}\0${st.mtimeMs}`;
        seen.add(key);
        let read = metaCache.get(key);
        if (!read) {
          try {
            read = { meta: await readSnapshotMeta(createReadStream(path)) };
          } catch (err) {
            read = { problem: isAppError(err) ? err.message : errnoText(err) };
          }
          metaCache.set(key, read);
        }
        files.push({ ...base, encrypted, ...read });
      }
      for (const key of metaCache.keys()) if (!seen.has(key)) metaCache.delete(key);
      // Newest first: the name's time stamp sorts, the meta's creation time decides.
      return files.sort((a, b) =>
        (b.meta?.createdAt ?? b.modifiedAt).localeCompare(a.meta?.createdAt ?? a.modifiedAt),
      );
    },

    take(onProgress: (p: DeskProgress) => void): Promise<TakenFile> {
      return scoped(async (scope) => {
        const name = defaultSnapshotName();
        const path = join(root, name);
        if (exists(path)) throw alreadyExists(path);
        const taken = await snapshotToFile(conn, path, {
          encryption: { kind: "none" },
          scope,
          progress: progressTo(onProgress),
          force: false,
        });
        return { name, path, meta: taken.meta, bytes: taken.bytes };
      });
    },

    verify(name: string, onProgress: (p: DeskProgress) => void): Promise<VerifyOutcome> {
      return scoped(async (scope) => {
        const v = await verifyHere(inDir(name), scope, onProgress);
        return { meta: v.meta, encrypted: v.encrypted, hasToken: v.hasToken };
      });
    },

    restore(name: string, mode: "stage" | "live", onProgress: (p: DeskProgress) => void) {
      return scoped(async (scope) => {
        const path = inDir(name);
        const bytes = statSync(path).size;
        const verified = await verifyHere(path, scope, onProgress);
        // A restore replaces every token: one without ours would lock the console out mid-operation.
        if (verified.hasToken === false)
          throw new AppError("INVALID_ARGUMENT", `${name} does not hold the token this console uses`, {
            hint: "Restoring it would lock this console out. Use `waypoint server restore` with a token that is in the snapshot at hand.",
          });
        let sent = 0;
        const upload = plainArchive(path, verified.encrypted, creds, scope.signal, (n) => {
          sent += n;
          onProgress({ phase: "uploading", done: sent, total: bytes });
        });
        return await conn.restoreSnapshot(upload, { mode });
      });
    },

    async exportPlan(name: string, text: string): Promise<string> {
      const path = join(root, name);
      if (exists(path)) throw alreadyExists(path);
      writeNewFile(path, text.endsWith("\n") ? text : `${text}\n`, false);
      return path;
    },

    abortAll(): void {
      for (const c of running) c.abort(new AppError("INTERRUPTED", "the console closed"));
    },
  };
}

/** The CLI's progress interface, reported to the console instead of drawn on stderr. */
function progressTo(onProgress: (p: DeskProgress) => void): Progress {
  return {
    update: (phase, done, total) => onProgress({ phase, done, total }),
    done: () => {},
  };
}
