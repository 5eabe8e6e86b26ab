import { dirname } from "node:path";
import { Readable, Writable } from "node:stream";
import { AppError } from "../protocol/errors.js";
import type { VersionInfo } from "../protocol/version-info.js";
import type { TokenCache } from "./auth.js";
import type { InventoryRecorder } from "./inventory-recorder.js";
import type { ServerLogger } from "./logger.js";
import { cancelStaged, restoreLive, stagedStatus, stageSnapshot } from "./snapshot/restore.js";
import type { SnapshotMeta } from "./snapshot/types.js";
import { type WriteOptions, writeSnapshot } from "./snapshot/write.js";
import { SnapshotLock } from "./snapshot-lock.js";
import type { SnapshotRecord, Store } from "./store/store.js";

/** Largest piece of archive handed to a sink at once: well under the 4 MiB gRPC message limit. */
export const ARCHIVE_CHUNK_BYTES = 1024 * 1024;

/** Progress messages are sent at most this often per phase (plus each phase's first and last). */
const PROGRESS_EVERY_MS = 100;

export interface SnapshotProgress {
  readonly phase: "copy" | "archive";
  readonly done: number;
  readonly total: number;
}

/** Where a snapshot archive goes: a TakeSnapshot stream or a GET /v1/snapshot response. */
export interface ArchiveSink {
  /** Called once, before the first data (HTTP sends its headers here). */
  meta(meta: SnapshotMeta): void;
  /** Small and throttled, so sent without waiting for the sink. */
  progress(p: SnapshotProgress): void;
  /** One piece of the archive, in order; false asks the caller to wait for drained(). */
  data(chunk: Buffer): boolean;
  /** Resolves when the sink takes more; rejects when it is gone (cancelled, disconnected). */
  drained(): Promise<void>;
}

export interface StagedRestoreInfo {
  readonly meta: SnapshotMeta;
  readonly path: string;
  readonly bytes: number;
  readonly stagedAt: string;
}

export interface LiveRestoreOutcome {
  readonly meta: SnapshotMeta;
  readonly keptAs: string;
  readonly previousIndex: number;
  readonly index: number;
}

/**
 * Snapshot work shared by the gRPC service and the HTTP endpoint: take,
 * stage, live restore, staged status and cancel. Two locks order it:
 * - `database`: takes share it, a live restore holds it alone (the swap
 *   closes the database a take may be copying);
 * - `stageFile`: stages and cancels hold it alone (they all write
 *   waypoint-restore.db), so a cancel removes the stage that was in progress.
 * After a live restore the token cache is rebuilt, since every token now
 * comes from the snapshot.
 */
export class SnapshotControl {
  private readonly database = new SnapshotLock();
  private readonly stageFile = new SnapshotLock();

  constructor(
    private readonly d: {
      readonly store: Store;
      readonly tokens: TokenCache;
      /** Told to write connected components into a restored database. */
      readonly recorder?: InventoryRecorder;
      /** Told to end every entrypoint's config stream after a live restore. */
      readonly entrypoints?: { endAll(): number };
      /** Told to drop instance rows queued for the replaced database (they register again). */
      readonly instances?: { clear(): void };
      /** Told that the jobs are the restored ones (leases start over, runners reconnect). */
      readonly jobs?: { restored(): void };
      readonly dbPath: string;
      readonly versionInfo: VersionInfo;
      /** How long an upload may send nothing before the restore is abandoned (default 60 s). */
      readonly uploadIdleMs?: number;
      readonly logger: ServerLogger;
    },
  ) {}

  /** `input` as a restore reads it: failing with UPLOAD_STALLED when it sends nothing for too long. */
  private upload(input: Readable): Readable {
    return Readable.from(stallLimited(input, this.d.uploadIdleMs ?? 60_000), { objectMode: false });
  }

  /**
   * Writes a snapshot into `sink`, respecting its backpressure. `signal` aborts when the receiver
   * goes away; the writer then fails at its next write and cleans up its temp file.
   */
  take(sink: ArchiveSink, signal: AbortSignal, by?: string): Promise<SnapshotMeta> {
    return this.database.shared(async () => {
      let announced = false;
      const out = sinkWritable(sink, () => announced);
      const abort = () =>
        out.destroy(new AppError("UNAVAILABLE", "the receiver went away before the snapshot was complete"));
      if (signal.aborted) abort();
      signal.addEventListener("abort", abort, { once: true });
      try {
        const options: WriteOptions = {
          versionInfo: this.d.versionInfo,
          // The data dir: the copy of data.db can be as large as data.db, which a tmpfs may not hold.
          tmpDir: dirname(this.d.dbPath),
          onProgress: throttled((p) => sink.progress(p)),
          // Once the copy is made, before the first archive byte.
          onMeta: (meta) => {
            announced = true;
            sink.meta(meta);
          },
        };
        // The writer ends `out` once the archive is complete, after the sink took the last chunk.
        const meta = await writeSnapshot(this.d.store, out, options);
        this.recordTaken({ id: meta.id, index: meta.index, takenAt: new Date().toISOString() });
        this.d.logger.notice({ snapshot: meta.id, index: meta.index, by }, "snapshot taken");
        return meta;
      } finally {
        signal.removeEventListener("abort", abort);
      }
    });
  }

  /** Verifies `input` and stages it as waypoint-restore.db for the next start. */
  stage(input: Readable, by?: string): Promise<{ meta: SnapshotMeta; path: string }> {
    return this.stageFile.exclusive(async () => {
      const staged = await stageSnapshot(this.upload(input), this.d.dbPath);
      this.d.logger.notice(
        { snapshot: staged.meta.id, index: staged.meta.index, path: staged.path, by },
        "restore staged; it is applied at the next start",
      );
      return staged;
    });
  }

  /** Verifies `input` and swaps it in while serving; tokens are reloaded from the restored data. */
  live(input: Readable, by?: string): Promise<LiveRestoreOutcome> {
    return this.database.exclusive(async () => {
      // The last snapshot taken stays the last one taken: the restored data only knows of older ones.
      const lastTaken = this.d.store.lastSnapshot();
      try {
        const restored = await restoreLive(this.d.store, this.upload(input), {
          dbPath: this.d.dbPath,
          onSwapped: () => {
            this.d.instances?.clear();
            if (lastTaken) this.recordTaken(lastTaken);
            this.reloadTokens();
            this.d.recorder?.resync();
            // Each entrypoint reconnects and is checked against the restored data: an instance whose
            // deployment or token the snapshot does not hold is refused (its app keeps running), the
            // others register again and are written into the restored database.
            this.d.jobs?.restored();
            const ended = this.d.entrypoints?.endAll() ?? 0;
            if (ended > 0)
              this.d.logger.info({ entrypoints: ended }, "entrypoints asked to reconnect after the restore");
          },
        });
        this.d.logger.notice(
          {
            snapshot: restored.meta.id,
            snapshotIndex: restored.meta.index,
            previousIndex: restored.previousIndex,
            index: restored.index,
            keptAs: restored.keptAs,
            by,
          },
          "live restore done; the previous database is kept beside it",
        );
        return restored;
      } finally {
        // Also after a failure: whichever database the store holds now, the cache must match it.
        this.reloadTokens();
      }
    });
  }

  staged(): Promise<StagedRestoreInfo | undefined> {
    return stagedStatus(this.d.dbPath);
  }

  /** Removes the staged restore; waits for a stage in progress, so it is the one removed. */
  cancelStaged(by?: string): Promise<boolean> {
    return this.stageFile.exclusive(async () => {
      const removed = cancelStaged(this.d.dbPath);
      if (removed) this.d.logger.notice({ by }, "staged restore cancelled");
      return removed;
    });
  }

  /** Resolves once no snapshot or restore runs or waits (shutdown waits for this before closing the store). */
  async settled(): Promise<void> {
    await Promise.all([this.database.idle(), this.stageFile.idle()]);
  }

  private recordTaken(taken: SnapshotRecord): void {
    try {
      this.d.store.recordSnapshot(taken);
    } catch (err) {
      // The snapshot itself is fine; only the overview's "last snapshot" misses it.
      this.d.logger.warn({ err, snapshot: taken.id }, "could not record the snapshot taken");
    }
  }

  private reloadTokens(): void {
    try {
      this.d.tokens.reload();
    } catch (err) {
      this.d.logger.error({ err }, "could not reload tokens after a restore");
    }
  }
}

/**
 * The stream the snapshot writer writes into: pieces of at most ARCHIVE_CHUNK_BYTES go to the sink,
 * and the write callback waits for the sink to drain, so a slow receiver slows the writer down.
 */
function sinkWritable(sink: ArchiveSink, announced: () => boolean): Writable {
  return new Writable({
    highWaterMark: ARCHIVE_CHUNK_BYTES,
    write(chunk: Buffer, _encoding, callback) {
      if (!announced()) {
        callback(
          new AppError("INTERNAL", "the snapshot writer wrote archive bytes before announcing the meta"),
        );
        return;
      }
      (async () => {
        for (let at = 0; at < chunk.length; at += ARCHIVE_CHUNK_BYTES) {
          if (!sink.data(chunk.subarray(at, at + ARCHIVE_CHUNK_BYTES))) await sink.drained();
        }
      })().then(() => callback(), callback);
    },
  });
}

function throttled(send: (p: SnapshotProgress) => void): (p: SnapshotProgress) => void {
  let lastAt = 0;
  let lastPhase: string | undefined;
  return (p) => {
    const now = Date.now();
    if (p.phase === lastPhase && p.done < p.total && now - lastAt < PROGRESS_EVERY_MS) return;
    lastAt = now;
    lastPhase = p.phase;
    send(p);
  };
}

/**
 * The chunks of `input`, failing with UPLOAD_STALLED when one does not come within `ms` of being asked
 * for. The time runs only while the restore waits for data: a restore slow to take it (a disk, a key
 * derivation) is not the uploader's stall. On a stall the input is left as it is, not destroyed: an HTTP
 * request's socket stays open for the answer that says so.
 */
export async function* stallLimited(input: Readable, ms: number): AsyncGenerator<Buffer> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new AppError(
              "UPLOAD_STALLED",
              `the upload sent nothing for ${ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${ms} ms`}, so the restore was abandoned; nothing was changed`,
            ),
          ),
        ms,
      );
    });
    let next: IteratorResult<Buffer>;
    try {
      next = await Promise.race([chunks.next(), stalled]);
    } finally {
      clearTimeout(timer);
    }
    if (next.done) return;
    yield next.value;
  }
}
