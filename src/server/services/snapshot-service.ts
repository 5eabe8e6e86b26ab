import { Readable } from "node:stream";
import type * as grpc from "@grpc/grpc-js";
import type { RestoreResult } from "../../gen/waypoint/v1/RestoreResult.js";
import type { RestoreSnapshotRequest__Output } from "../../gen/waypoint/v1/RestoreSnapshotRequest.js";
import type { SnapshotChunk } from "../../gen/waypoint/v1/SnapshotChunk.js";
import type { WaypointHandlers } from "../../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../../protocol/errors.js";
import type { Guard } from "../guard.js";
import type { ServerLogger } from "../logger.js";
import type { ArchiveSink, SnapshotControl } from "../snapshot-control.js";

/** The exit code of a server that stopped after staging a restore (-exit): a supervisor restarts it. */
export const EXIT_AFTER_STAGED_RESTORE = 75;

export interface SnapshotServiceDeps {
  readonly guard: Guard;
  readonly snapshots: SnapshotControl;
  readonly logger: ServerLogger;
  /**
   * Asks the process hosting the server to shut it down and exit with `code`. Absent when the host
   * cannot exit (an embedded server): a restore asking for `exit` then stages without exiting.
   */
  readonly requestExit?: (code: number) => void;
}

type SnapshotHandlers = Pick<
  WaypointHandlers,
  "TakeSnapshot" | "RestoreSnapshot" | "GetStagedRestore" | "CancelStagedRestore"
>;

/** Handlers of the snapshot RPCs of the Waypoint service (DESIGN §8); management tokens only. */
export function snapshotService(d: SnapshotServiceDeps): SnapshotHandlers {
  return {
    // A finite stream: at shutdown it may finish within the grace period instead of being ended early,
    // which would hand the client a truncated archive with status OK.
    TakeSnapshot: d.guard.serverStream(
      async (call, ctx) => {
        const gone = new AbortController();
        const abort = () => gone.abort();
        call.on("cancelled", abort);
        call.on("close", abort);
        try {
          await d.snapshots.take(grpcSink(call), gone.signal, ctx.token?.id);
        } catch (err) {
          if (call.cancelled) {
            d.logger.info({ by: ctx.token?.id }, "snapshot cancelled by the client");
            return;
          }
          throw err;
        } finally {
          call.off("cancelled", abort);
          call.off("close", abort);
        }
        call.end();
      },
      { endAtShutdown: false },
    ),

    RestoreSnapshot: d.guard.clientStream(async (call, ctx): Promise<RestoreResult> => {
      const messages = call[Symbol.asyncIterator]() as AsyncIterator<RestoreSnapshotRequest__Output>;
      const first = await messages.next();
      const options = first.done ? undefined : first.value.options;
      if (!options || first.value?.request !== "options") {
        throw new AppError(
          "INVALID_ARGUMENT",
          "the first RestoreSnapshot message must be the options (mode, exit), then the archive as data",
        );
      }
      const { mode, exit } = options;
      if (mode !== "stage" && mode !== "live") {
        throw new AppError(
          "INVALID_ARGUMENT",
          `restore mode ${JSON.stringify(mode)} is unknown; use "stage" or "live"`,
        );
      }
      if (exit && mode !== "stage") {
        throw new AppError("INVALID_ARGUMENT", "exit applies to staged restores only, not to live ones");
      }
      const input = Readable.from(archiveData(messages), { objectMode: false });
      const by = ctx.token?.id;
      const exiting = exit && d.requestExit !== undefined;
      let result: RestoreResult;
      try {
        if (mode === "live") {
          const r = await d.snapshots.live(input, by);
          result = {
            mode,
            metaJson: JSON.stringify(r.meta),
            keptAs: r.keptAs,
            previousIndex: r.previousIndex,
            index: r.index,
          };
        } else {
          const r = await d.snapshots.stage(input, by);
          result = { mode, metaJson: JSON.stringify(r.meta), stagedPath: r.path, exiting };
        }
      } catch (err) {
        // A client that cancels mid-upload ends the input early: the restore fails and changes nothing.
        if (!call.cancelled) throw err;
        throw new AppError("UNAVAILABLE", "the client cancelled the restore; nothing was changed", {
          cause: err,
        });
      }
      if (exit && !exiting) {
        d.logger.warn("a staged restore asked the server to exit, but this server cannot exit by itself");
      }
      const requestExit = d.requestExit;
      if (exiting && requestExit) {
        // After the reply has been handed to grpc-js (the guard answers in a microtask; this runs
        // later), so the graceful shutdown lets it reach the client.
        setImmediate(() => {
          d.logger.notice(
            { code: EXIT_AFTER_STAGED_RESTORE },
            "exiting to apply the staged restore, as the client asked",
          );
          requestExit(EXIT_AFTER_STAGED_RESTORE);
        });
      }
      return result;
    }),

    GetStagedRestore: d.guard.unary(async () => {
      const staged = await d.snapshots.staged();
      if (!staged) return { staged: false };
      return {
        staged: true,
        metaJson: JSON.stringify(staged.meta),
        path: staged.path,
        stagedAt: staged.stagedAt,
        bytes: staged.bytes,
      };
    }),

    CancelStagedRestore: d.guard.unary(async (_req, ctx) => ({
      removed: await d.snapshots.cancelStaged(ctx.token?.id),
    })),
  };
}

/** The archive bytes of a RestoreSnapshot stream, after its options message. */
async function* archiveData(messages: AsyncIterator<RestoreSnapshotRequest__Output>): AsyncGenerator<Buffer> {
  for (;;) {
    const next = await messages.next();
    if (next.done) return;
    const { request, data } = next.value;
    if (request !== "data" || !data) {
      throw new AppError("INVALID_ARGUMENT", "after the options, RestoreSnapshot takes only data messages");
    }
    if (data.length > 0) yield data;
  }
}

/** Writes an archive into a TakeSnapshot stream: meta_json, then data chunks with progress between them. */
function grpcSink(call: grpc.ServerWritableStream<unknown, SnapshotChunk>): ArchiveSink {
  return {
    meta: (meta) => call.write({ metaJson: JSON.stringify(meta) }),
    progress: (p) => call.write({ progress: { phase: p.phase, done: p.done, total: p.total } }),
    data: (chunk) => call.write({ data: chunk }),
    drained: () =>
      new Promise((resolve, reject) => {
        if (call.cancelled || call.destroyed) {
          reject(new AppError("UNAVAILABLE", "the client cancelled the snapshot"));
          return;
        }
        const done = (err?: AppError) => {
          call.off("drain", onDrain);
          call.off("cancelled", onGone);
          call.off("close", onGone);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onGone = () => done(new AppError("UNAVAILABLE", "the client cancelled the snapshot"));
        call.on("drain", onDrain);
        call.on("cancelled", onGone);
        call.on("close", onGone);
      }),
  };
}
