import { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import { loadWaypointProto } from "../gen/load.js";
import type { App__Output } from "../gen/waypoint/v1/App.js";
import type { CancelStagedRestoreResponse__Output } from "../gen/waypoint/v1/CancelStagedRestoreResponse.js";
import type { CreatedDeployment__Output } from "../gen/waypoint/v1/CreatedDeployment.js";
import type { EntrypointClient } from "../gen/waypoint/v1/Entrypoint.js";
import type { EntrypointConfigRequest } from "../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { ExecRequest } from "../gen/waypoint/v1/ExecRequest.js";
import type { ExecResponse__Output } from "../gen/waypoint/v1/ExecResponse.js";
import type { GetConfigResponse__Output } from "../gen/waypoint/v1/GetConfigResponse.js";
import type { GetVersionInfoResponse__Output } from "../gen/waypoint/v1/GetVersionInfoResponse.js";
import type { Inventory__Output } from "../gen/waypoint/v1/Inventory.js";
import type { Job__Output } from "../gen/waypoint/v1/Job.js";
import type { JobEvent__Output } from "../gen/waypoint/v1/JobEvent.js";
import type { ListAppsResponse__Output } from "../gen/waypoint/v1/ListAppsResponse.js";
import type { ListDeploymentsResponse__Output } from "../gen/waypoint/v1/ListDeploymentsResponse.js";
import type { ListInstancesResponse__Output } from "../gen/waypoint/v1/ListInstancesResponse.js";
import type { ListJobsResponse__Output } from "../gen/waypoint/v1/ListJobsResponse.js";
import type { LogBatch__Output } from "../gen/waypoint/v1/LogBatch.js";
import type { NewToken__Output } from "../gen/waypoint/v1/NewToken.js";
import type { RestoreResult__Output } from "../gen/waypoint/v1/RestoreResult.js";
import type { RunnerRequest } from "../gen/waypoint/v1/RunnerRequest.js";
import type { RunnerResponse__Output } from "../gen/waypoint/v1/RunnerResponse.js";
import type { ServerStatus__Output } from "../gen/waypoint/v1/ServerStatus.js";
import type { SetConfigResponse__Output } from "../gen/waypoint/v1/SetConfigResponse.js";
import type { SnapshotChunk__Output } from "../gen/waypoint/v1/SnapshotChunk.js";
import type { StagedRestore__Output } from "../gen/waypoint/v1/StagedRestore.js";
import type { StateEvent__Output } from "../gen/waypoint/v1/StateEvent.js";
import type { WaypointClient } from "../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../protocol/errors.js";
import { type ClientIdentity, encodeClientHeaders } from "../protocol/headers.js";
import type { InventoryJson } from "../protocol/inventory.js";
import type { AppOperations } from "../protocol/operations.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { fromServiceError } from "./errors.js";
import { callMetadata, channelCredentials, MAX_RECEIVE_MESSAGE_BYTES } from "./grpc-call.js";
import { inventoryFromProto } from "./inventory-convert.js";
import {
  type AppInfo,
  type AppUpdate,
  appFromProto,
  type ConfigEntryInfo,
  type CreatedDeploymentInfo,
  configEntryFromProto,
  type DeploymentInfo,
  deploymentFromProto,
  type InstanceInfo,
  instanceFromProto,
  type JobInfo,
  jobFromProto,
  type LogLineInfo,
  logLineFromProto,
} from "./runtime.js";
import type { ConnectionSettings } from "./settings.js";
import { parseSnapshotMetaJson, type SnapshotMetaJson } from "./snapshot-meta.js";

/** Default deadline of unary calls. */
const UNARY_DEADLINE_MS = 10_000;
/** CancelStagedRestore waits for a stage in progress (an upload) to land before removing it. */
const CANCEL_STAGE_DEADLINE_MS = 10 * 60_000;
/** Largest data message of a restore upload: well under the server's 4 MiB message limit. */
const RESTORE_CHUNK_BYTES = 1024 * 1024;

export type { SnapshotMetaJson };

export interface SnapshotProgress {
  /** "copy" (the online copy of the database) or "archive" (writing the archive). */
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

export interface RestoreResult {
  readonly mode: "stage" | "live";
  readonly meta: SnapshotMetaJson;
  /** Live: the previous database, kept beside data.db. */
  readonly keptAs?: string;
  /** Stage: waypoint-restore.db in the server's data dir, applied at its next start. */
  readonly stagedPath?: string;
  /** Live: the state index before the swap and the one the server serves now. */
  readonly previousIndex?: number;
  readonly index?: number;
  /** Stage with exit: the server is shutting down (exit code 75) to apply the stage. */
  readonly exiting: boolean;
}

export interface ServerStatusInfo {
  /** RFC 3339: when the server process started serving. */
  readonly startedAt: string;
  readonly databaseBytes: number;
  readonly stateIndex: number;
  readonly lastSnapshot?: { readonly id: string; readonly index: number; readonly takenAt: string };
}

export type StagedRestore =
  | { readonly staged: false }
  | {
      readonly staged: true;
      readonly meta: SnapshotMetaJson;
      readonly path: string;
      /** RFC 3339. */
      readonly stagedAt: string;
      readonly bytes: number;
    };

/** What to run with `exec`: exactly one of instance and app. */
export interface ExecOptions {
  readonly instance?: string;
  readonly app?: string;
  readonly args: readonly string[];
  readonly tty?: { readonly rows: number; readonly cols: number; readonly term?: string };
}

/**
 * An exec session. `started` resolves once the instance's entrypoint accepted it; `exit` resolves
 * with the command's exit code (or rejects with an AppError). Output arrives through the callbacks
 * given to `exec`, in order.
 */
export interface ExecSession {
  readonly started: Promise<{ readonly instance: string; readonly session: string }>;
  readonly exit: Promise<number>;
  /** Sends stdin bytes; resolves when the stream can take more (backpressure). */
  writeStdin(data: Buffer): Promise<void>;
  endStdin(): void;
  resize(rows: number, cols: number): void;
  cancel(): void;
}

/** A job event of WatchJob: the job as it is now, or a piece of its output. */
export type JobEventInfo =
  | { readonly kind: "job"; readonly job: JobInfo }
  | { readonly kind: "output"; readonly stream: string; readonly data: Buffer }
  /** Earlier output the server no longer keeps; it counts as received. */
  | { readonly kind: "skipped"; readonly bytes: number };

/** What a runner says first on its stream. */
export interface RunnerHelloInfo {
  readonly labels: readonly string[];
  /** After a reconnect: the job it still runs. */
  readonly runningJob?: string;
  /** Only jobs queued for this runner (a CLI running its own jobs). */
  readonly targetedOnly: boolean;
  /** After a reconnect of a targeted-only runner: the id the server gave it. */
  readonly runnerId?: string;
  /** Random per runner process, the same across its reconnects. */
  readonly session: string;
}

/** What the server tells a runner. */
export type RunnerEvent =
  | {
      readonly kind: "welcome";
      readonly runnerId: string;
      readonly leaseMs: number;
      readonly heartbeatMs: number;
    }
  | {
      readonly kind: "assignment";
      readonly job: JobInfo;
      readonly entrypointToken: string;
      /** The server's entrypoint listener's port (-listen-entrypoint); 0 when it has none. */
      readonly entrypointPort: number;
    }
  | { readonly kind: "cancel"; readonly job: string; readonly reason: string };

/** How a job ended, as its runner reports it. */
export interface JobOutcomeInfo {
  readonly exitCode?: number;
  readonly error?: string;
  readonly cancelled?: boolean;
}

/** A runner's open stream: what it reports about the job it runs. */
export interface RunnerStream {
  started(job: string): void;
  heartbeat(job: string): void;
  /** False when the stream's buffer is full: wait for `drained` before sending more. */
  output(job: string, stream: "stdout" | "stderr", data: Buffer): boolean;
  done(job: string, outcome: JobOutcomeInfo): void;
  /** Resolves when the stream can take more output, or has ended. */
  drained(): Promise<void>;
  /** Ends the stream once what was sent is out; resolves when the server ended its side. */
  close(): Promise<void>;
}

/** A handle on an open server stream. */
export interface StreamHandle {
  cancel(): void;
}

/** A server stream whose reader can stop taking messages for a while (flow control reaches the server). */
export interface PausableStream extends StreamHandle {
  pause(): void;
  resume(): void;
}

/**
 * The typed connection used by the CLI, console, runners, entrypoints and the
 * fleet simulator. Every call carries the identity headers and, when a token
 * is set, `authorization: Bearer …`; every failure is an AppError.
 */
export class Connection {
  readonly address: string;
  private readonly waypoint: WaypointClient;
  private readonly entrypoint: EntrypointClient;
  private readonly headers: Record<string, string>;

  constructor(
    readonly settings: ConnectionSettings,
    readonly identity: ClientIdentity,
    options: { channel?: grpc.ChannelOptions } = {},
  ) {
    this.address = settings.address;
    const { grpc: proto } = loadWaypointProto();
    const creds = channelCredentials(settings);
    const channelOptions = {
      "grpc.max_receive_message_length": MAX_RECEIVE_MESSAGE_BYTES,
      ...options.channel,
    };
    this.waypoint = new proto.waypoint.v1.Waypoint(settings.address, creds, channelOptions);
    // Share the channel: one TCP connection per Connection.
    this.entrypoint = new proto.waypoint.v1.Entrypoint(settings.address, creds, {
      ...channelOptions,
      channelOverride: this.waypoint.getChannel(),
    });
    this.headers = encodeClientHeaders(this.identity);
  }

  /** Where the address came from, when that helps someone who cannot reach it. */
  private get sourceNote(): string | undefined {
    return this.settings.source === "default"
      ? "the default: no -server-addr, WAYPOINT_SERVER_ADDR or current context"
      : this.settings.source.startsWith("context ")
        ? `from ${this.settings.source}`
        : undefined;
  }

  private metadata(): grpc.Metadata {
    return callMetadata(this.headers, this.settings.token);
  }

  private unary<Req, Res>(
    method: (
      req: Req,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => unknown,
    req: Req,
    deadlineMs = UNARY_DEADLINE_MS,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method(req, this.metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err || res === undefined)
          reject(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
        else resolve(res);
      });
    });
  }

  async versionInfo(): Promise<VersionInfo> {
    const res = await this.unary<object, GetVersionInfoResponse__Output>(
      this.waypoint.GetVersionInfo.bind(this.waypoint),
      {},
    );
    const info = res.info;
    return {
      version: info?.version ?? "",
      api: { min: info?.api?.min ?? 0, current: info?.api?.current ?? 0 },
      entrypoint: { min: info?.entrypoint?.min ?? 0, current: info?.entrypoint?.current ?? 0 },
      emulated: info?.emulated ?? false,
    };
  }

  /** The server process and its database: uptime, size, state index, the last snapshot taken. */
  async serverStatus(): Promise<ServerStatusInfo> {
    const res = await this.unary<object, ServerStatus__Output>(
      this.waypoint.GetServerStatus.bind(this.waypoint),
      {},
    );
    const last = res.lastSnapshot;
    return {
      startedAt: res.startedAt,
      databaseBytes: res.databaseBytes,
      stateIndex: res.stateIndex,
      ...(last ? { lastSnapshot: { id: last.id, index: last.index, takenAt: last.takenAt } } : {}),
    };
  }

  bootstrap(): Promise<NewToken__Output> {
    return this.unary<object, NewToken__Output>(this.waypoint.BootstrapToken.bind(this.waypoint), {});
  }

  createToken(req: {
    kind: string;
    app?: string;
    deployment?: string;
    description?: string;
  }): Promise<NewToken__Output> {
    return this.unary<typeof req, NewToken__Output>(this.waypoint.CreateToken.bind(this.waypoint), req);
  }

  async inventory(includeInactive = false): Promise<InventoryJson & { generatedAt: string }> {
    return inventoryFromProto(
      await this.unary<object, Inventory__Output>(this.waypoint.GetInventory.bind(this.waypoint), {
        includeInactive,
      }),
    );
  }

  /** Opens WatchState; `onEnd` receives undefined when the server ended it cleanly. */
  watchState(onEvent: (e: StateEvent__Output) => void, onEnd: (err?: Error) => void): StreamHandle {
    const call = this.waypoint.WatchState({}, this.metadata());
    return this.follow(call, onEvent, onEnd);
  }

  /**
   * Takes a snapshot: the returned stream is the archive (gzip-compressed tar), with the server's
   * backpressure. `onMeta` runs once before the first byte (its index is the state index the snapshot
   * holds); `onProgress` runs while the server copies and archives. A failure destroys the stream
   * with an AppError; destroying it cancels the call.
   */
  takeSnapshot(
    onProgress: (p: SnapshotProgress) => void = () => {},
    onMeta: (meta: SnapshotMetaJson) => void = () => {},
  ): Readable {
    const call = this.waypoint.TakeSnapshot({}, this.metadata());
    let meta: SnapshotMetaJson | undefined;
    let ended = false;
    const out = new Readable({
      read: () => {
        call.resume();
      },
      destroy: (err, callback) => {
        if (!ended) call.cancel();
        callback(err);
      },
    });
    call.on("data", (chunk: SnapshotChunk__Output) => {
      try {
        if (chunk.chunk === "progress" && chunk.progress) {
          onProgress({ phase: chunk.progress.phase, done: chunk.progress.done, total: chunk.progress.total });
        } else if (chunk.chunk === "metaJson") {
          meta = parseSnapshotMetaJson(chunk.metaJson ?? "");
          onMeta(meta);
        } else if (chunk.chunk === "data" && chunk.data) {
          if (!meta)
            throw new AppError("INTERNAL", "the server sent archive bytes before the snapshot's meta");
          if (!out.push(chunk.data)) call.pause();
        }
      } catch (err) {
        out.destroy(err instanceof Error ? err : new Error(String(err)));
      }
    });
    call.on("error", (err: grpc.ServiceError) => {
      ended = true;
      out.destroy(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
    });
    // grpc-js emits a failed status as "error" before "end": a failed stream never ends cleanly here.
    call.on("end", () => {
      ended = true;
      if (out.destroyed) return;
      if (meta) out.push(null);
      else out.destroy(new AppError("INTERNAL", "the snapshot stream ended without the snapshot's meta"));
    });
    return out;
  }

  /**
   * Restores the archive read from `input`, staged for the server's next start or live. Nothing
   * changes on the server unless the whole archive verifies. `input` is consumed; it is destroyed if
   * the server answers before reading all of it (a refusal).
   */
  restoreSnapshot(input: Readable, opts: { mode: "stage" | "live"; exit?: boolean }): Promise<RestoreResult> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const call = this.waypoint.RestoreSnapshot(this.metadata(), (err, res) => {
        if (settled) return;
        settled = true;
        if (err || !res) reject(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
        else resolve(restoreResultFromProto(res));
      });
      const drained = () =>
        new Promise<void>((done) => {
          const finish = () => {
            call.off("drain", finish);
            call.off("status", finish);
            done();
          };
          call.on("drain", finish);
          call.on("status", finish);
        });
      const upload = async () => {
        call.write({ options: { mode: opts.mode, exit: opts.exit ?? false } });
        for await (const piece of input) {
          if (settled) return;
          const buf = typeof piece === "string" ? Buffer.from(piece) : (piece as Buffer);
          for (let at = 0; at < buf.length && !settled; at += RESTORE_CHUNK_BYTES) {
            if (!call.write({ data: buf.subarray(at, at + RESTORE_CHUNK_BYTES) })) await drained();
          }
        }
        call.end();
      };
      upload().catch((err: unknown) => {
        if (settled) return;
        settled = true;
        call.cancel();
        if (err instanceof AppError) reject(err);
        else {
          const why = err instanceof Error ? err.message : String(err);
          reject(
            new AppError("INVALID_ARGUMENT", `cannot read the snapshot to restore: ${why}`, { cause: err }),
          );
        }
      });
    });
  }

  /** Whether a restore is staged on the server for its next start, and which. */
  async stagedRestore(): Promise<StagedRestore> {
    const res = await this.unary<object, StagedRestore__Output>(
      this.waypoint.GetStagedRestore.bind(this.waypoint),
      {},
    );
    if (!res.staged) return { staged: false };
    return {
      staged: true,
      meta: parseSnapshotMetaJson(res.metaJson),
      path: res.path,
      stagedAt: res.stagedAt,
      bytes: res.bytes,
    };
  }

  /** Removes the staged restore; false when nothing was staged. */
  async cancelStagedRestore(): Promise<boolean> {
    const res = await this.unary<object, CancelStagedRestoreResponse__Output>(
      this.waypoint.CancelStagedRestore.bind(this.waypoint),
      {},
      CANCEL_STAGE_DEADLINE_MS,
    );
    return res.removed;
  }

  async createApp(
    name: string,
    opts: {
      readonly operations?: AppOperations;
      readonly entrypointDisabled?: boolean;
      readonly urlDisabled?: boolean;
    } = {},
  ): Promise<AppInfo> {
    return appFromProto(
      await this.unary<object, App__Output>(this.waypoint.CreateApp.bind(this.waypoint), {
        name,
        operations: opts.operations ?? {},
        entrypointDisabled: opts.entrypointDisabled ?? false,
        urlDisabled: opts.urlDisabled ?? false,
      }),
    );
  }

  /** Changes an app's operations ("" removes one), its entrypoint setting or its URL setting. */
  async updateApp(name: string, change: AppUpdate): Promise<AppInfo> {
    return appFromProto(
      await this.unary<object, App__Output>(this.waypoint.UpdateApp.bind(this.waypoint), {
        name,
        ...change.operations,
        ...(change.entrypointDisabled === undefined ? {} : { entrypointDisabled: change.entrypointDisabled }),
        ...(change.urlDisabled === undefined ? {} : { urlDisabled: change.urlDisabled }),
      }),
    );
  }

  async listApps(): Promise<AppInfo[]> {
    const res = await this.unary<object, ListAppsResponse__Output>(
      this.waypoint.ListApps.bind(this.waypoint),
      {},
    );
    return res.apps.map(appFromProto);
  }

  async createDeployment(app: string): Promise<CreatedDeploymentInfo> {
    const res = await this.unary<object, CreatedDeployment__Output>(
      this.waypoint.CreateDeployment.bind(this.waypoint),
      { app },
    );
    return {
      deployment: deploymentFromProto(res.deployment),
      token: res.token,
      tokenId: res.tokenId,
      ...(res.entrypointPort > 0 ? { entrypointPort: res.entrypointPort } : {}),
    };
  }

  async listDeployments(app = ""): Promise<DeploymentInfo[]> {
    const res = await this.unary<object, ListDeploymentsResponse__Output>(
      this.waypoint.ListDeployments.bind(this.waypoint),
      { app },
    );
    return res.deployments.map((d) => deploymentFromProto(d));
  }

  /** Sets and unsets variables of one scope (app "" = global) in one write. */
  async setConfig(req: {
    app?: string;
    set?: readonly { name: string; value: string; secret?: boolean }[];
    unset?: readonly string[];
  }): Promise<{ notFound: string[]; pushed: number }> {
    const res = await this.unary<object, SetConfigResponse__Output>(
      this.waypoint.SetConfig.bind(this.waypoint),
      {
        app: req.app ?? "",
        set: req.set ?? [],
        unset: req.unset ?? [],
      },
    );
    return { notFound: res.notFound, pushed: res.pushed };
  }

  /** A scope's variables; with app and resolved, what the app's instances receive. */
  /** Secret variables come back with `value: null` unless `reveal`. */
  async getConfig(
    req: { app?: string; resolved?: boolean; reveal?: boolean } = {},
  ): Promise<ConfigEntryInfo[]> {
    const res = await this.unary<object, GetConfigResponse__Output>(
      this.waypoint.GetConfig.bind(this.waypoint),
      {
        app: req.app ?? "",
        resolved: req.resolved ?? false,
        reveal: req.reveal ?? false,
      },
    );
    return res.entries.map((e) => configEntryFromProto(e, req.reveal ?? false));
  }

  /** Queues a job of the app's operation; with `target`, only the runner with that id may take it. */
  async queueJob(req: { app: string; operation: string; target?: string }): Promise<JobInfo> {
    return jobFromProto(
      await this.unary<object, Job__Output>(this.waypoint.QueueJob.bind(this.waypoint), {
        app: req.app,
        operation: req.operation,
        target: req.target ?? "",
      }),
    );
  }

  /** Jobs, oldest first; `app` and `states` filter. */
  async listJobs(req: { app?: string; states?: readonly string[] } = {}): Promise<JobInfo[]> {
    const res = await this.unary<object, ListJobsResponse__Output>(
      this.waypoint.ListJobs.bind(this.waypoint),
      {
        app: req.app ?? "",
        states: req.states ?? [],
      },
    );
    return res.jobs.map(jobFromProto);
  }

  async getJob(id: string): Promise<JobInfo> {
    return jobFromProto(
      await this.unary<object, Job__Output>(this.waypoint.GetJob.bind(this.waypoint), { id }),
    );
  }

  /** Cancels a queued job at once; a job a runner holds is marked, and the runner stops it. */
  async cancelJob(id: string): Promise<JobInfo> {
    return jobFromProto(
      await this.unary<object, Job__Output>(this.waypoint.CancelJob.bind(this.waypoint), { id }),
    );
  }

  /**
   * Follows a job: `onEvent` gets the job as it is, the output kept so far, then every change and
   * piece of output; the stream ends (onEnd without an error) once the job has ended.
   */
  watchJob(
    id: string,
    onEvent: (e: JobEventInfo) => void,
    onEnd: (err?: Error) => void,
    opts: { readonly skipBytes?: number } = {},
  ): PausableStream {
    const call = this.waypoint.WatchJob({ id, skipBytes: opts.skipBytes ?? 0 }, this.metadata());
    return this.follow(
      call,
      (e: JobEvent__Output) => {
        if (e.event === "job") onEvent({ kind: "job", job: jobFromProto(e.job ?? null) });
        else if (e.event === "output" && e.output)
          onEvent({ kind: "output", stream: e.output.stream, data: e.output.data });
        else if (e.event === "skipped") onEvent({ kind: "skipped", bytes: Number(e.skipped ?? 0) });
      },
      onEnd,
    );
  }

  /**
   * Opens a runner's stream (RunnerJobs) and says hello. Events arrive through `onEvent`: the welcome
   * first, then assignments and cancels; `onEnd` is called once when the stream ends or fails.
   */
  runnerJobs(
    hello: RunnerHelloInfo,
    onEvent: (e: RunnerEvent) => void,
    onEnd: (err?: AppError) => void,
  ): RunnerStream {
    const call = this.waypoint.RunnerJobs(this.metadata());
    let ended = false;
    let cancelled = false;
    const end = (err?: AppError) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on("data", (m: RunnerResponse__Output) => {
      if (m.response === "welcome" && m.welcome)
        onEvent({
          kind: "welcome",
          runnerId: m.welcome.runnerId,
          leaseMs: m.welcome.leaseMs,
          heartbeatMs: m.welcome.heartbeatMs,
        });
      else if (m.response === "assignment" && m.assignment)
        onEvent({
          kind: "assignment",
          job: jobFromProto(m.assignment.job ?? null),
          entrypointToken: m.assignment.entrypointToken,
          entrypointPort: m.assignment.entrypointPort,
        });
      else if (m.response === "cancel" && m.cancel)
        onEvent({ kind: "cancel", job: m.cancel.job, reason: m.cancel.reason });
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (cancelled && err.code === grpc.status.CANCELLED) end();
      else end(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
    });
    call.on("end", () => end());
    const send = (req: RunnerRequest): boolean => {
      if (!ended && !call.writableEnded) return call.write(req);
      return true;
    };
    send({
      hello: {
        labels: [...hello.labels],
        runningJob: hello.runningJob ?? "",
        targetedOnly: hello.targetedOnly,
        runnerId: hello.runnerId ?? "",
        session: hello.session,
      },
    });
    return {
      started: (job) => {
        send({ started: { job } });
      },
      heartbeat: (job) => {
        send({ heartbeat: { job } });
      },
      output: (job, stream, data) => send({ output: { job, stream, data } }),
      drained: () => (ended || call.writableEnded ? Promise.resolve() : drainOrEnd(call)),
      done: (job, outcome) => {
        send({
          done: {
            job,
            ...(outcome.exitCode === undefined ? {} : { exitCode: outcome.exitCode }),
            error: outcome.error ?? "",
            cancelled: outcome.cancelled ?? false,
          },
        });
      },
      close: () =>
        new Promise<void>((resolve) => {
          // Half-close, so what was written (a done report) reaches the server; cut the call if the
          // server does not end its side soon.
          cancelled = true;
          if (ended) {
            resolve();
            return;
          }
          const timer = setTimeout(() => call.cancel(), 2000);
          call.on("status", () => {
            clearTimeout(timer);
            resolve();
          });
          call.on("error", () => {});
          if (!call.writableEnded) call.end();
        }),
    };
  }

  async listInstances(
    req: { app?: string; deployment?: string; includeInactive?: boolean } = {},
  ): Promise<InstanceInfo[]> {
    const res = await this.unary<object, ListInstancesResponse__Output>(
      this.waypoint.ListInstances.bind(this.waypoint),
      { app: req.app ?? "", deployment: req.deployment ?? "", includeInactive: req.includeInactive ?? false },
    );
    return res.instances.map(instanceFromProto);
  }

  /**
   * Streams buffered log lines (and, with follow, new ones as they arrive) in batches. `onEnd`
   * receives undefined when the server ended the stream cleanly (without follow: after the buffer).
   */
  logs(
    req: { app?: string; deployment?: string; instance?: string; follow?: boolean; tail?: number },
    onLines: (lines: LogLineInfo[]) => void,
    onEnd: (err?: Error) => void,
  ): PausableStream {
    const call = this.waypoint.GetLogs(
      {
        app: req.app ?? "",
        deployment: req.deployment ?? "",
        instance: req.instance ?? "",
        follow: req.follow ?? false,
        tail: req.tail ?? 0,
      },
      this.metadata(),
    );
    return this.follow(call, (b: LogBatch__Output) => onLines(b.lines.map(logLineFromProto)), onEnd);
  }

  /** Runs a command in an instance (management token). See ExecSession. */
  exec(
    opts: ExecOptions,
    output: { stdout: (data: Buffer) => void; stderr: (data: Buffer) => void },
  ): ExecSession {
    const call = this.waypoint.Exec(this.metadata());
    let onStarted!: (s: { instance: string; session: string }) => void;
    let onExit!: (code: number) => void;
    let onFail!: (err: AppError) => void;
    let onStartFailed!: (err: AppError) => void;
    const started = new Promise<{ instance: string; session: string }>((resolve, reject) => {
      onStarted = resolve;
      onStartFailed = reject;
    });
    let onExitFailed!: (err: AppError) => void;
    const exit = new Promise<number>((resolve, reject) => {
      onExit = resolve;
      onExitFailed = reject;
    });
    // A failure before the session started rejects both; after it, `started` stays resolved.
    onFail = (err) => {
      onStartFailed(err);
      onExitFailed(err);
    };
    // Unhandled if the caller awaits only `exit`: `exit` carries the same failure.
    started.catch(() => {});
    let done = false;
    let code: number | undefined;
    call.on("data", (m: ExecResponse__Output) => {
      if (m.response === "started" && m.started)
        onStarted({ instance: m.started.instance, session: m.started.session });
      else if (m.response === "stdout" && m.stdout) output.stdout(m.stdout);
      else if (m.response === "stderr" && m.stderr) output.stderr(m.stderr);
      else if (m.response === "exitCode") code = m.exitCode ?? 0;
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (done) return;
      done = true;
      onFail(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
    });
    call.on("end", () => {
      if (done) return;
      done = true;
      if (code === undefined)
        onFail(new AppError("UNAVAILABLE", "the exec session ended without an exit code"));
      else onExit(code);
    });
    const send = (req: ExecRequest) => {
      if (!done && !call.writableEnded) return call.write(req);
      return true;
    };
    send({
      start: {
        instance: opts.instance ?? "",
        app: opts.app ?? "",
        args: [...opts.args],
        tty: opts.tty !== undefined,
        rows: opts.tty?.rows ?? 0,
        cols: opts.tty?.cols ?? 0,
        term: opts.tty?.term ?? "",
      },
    });
    return {
      started,
      exit,
      writeStdin: (data) => (send({ stdin: data }) ? Promise.resolve() : drainOrEnd(call)),
      endStdin: () => {
        send({ stdinEof: true });
      },
      resize: (rows, cols) => {
        send({ window: { rows, cols } });
      },
      cancel: () => {
        done = true;
        call.cancel();
        onFail(new AppError("INTERRUPTED", "the exec session was cancelled"));
      },
    };
  }

  entrypointConfig(
    req: EntrypointConfigRequest,
    onConfig: (c: EntrypointConfigResponse__Output) => void,
    onEnd: (err?: Error) => void,
  ): StreamHandle {
    const call = this.entrypoint.EntrypointConfig(req, this.metadata());
    return this.follow(call, onConfig, onEnd);
  }

  private follow<T>(
    call: grpc.ClientReadableStream<T>,
    onData: (v: T) => void,
    onEnd: (err?: Error) => void,
  ): PausableStream {
    let cancelled = false;
    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on("data", onData);
    call.on("error", (err: grpc.ServiceError) => {
      if (cancelled && err.code === grpc.status.CANCELLED) end();
      else end(fromServiceError(err, this.address, this.sourceNote, this.settings.tls));
    });
    call.on("end", () => end());
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
      pause: () => call.pause(),
      resume: () => call.resume(),
    };
  }

  close(): void {
    this.waypoint.close();
  }
}

/** Resolves when a client stream can take more writes ('drain') or has ended ('status'). */
function drainOrEnd(
  call: grpc.ClientWritableStream<never> | grpc.ClientDuplexStream<never, never>,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = () => {
      call.off("drain", finish);
      call.off("status", finish);
      resolve();
    };
    call.on("drain", finish);
    call.on("status", finish);
  });
}

function restoreResultFromProto(res: RestoreResult__Output): RestoreResult {
  const meta = parseSnapshotMetaJson(res.metaJson);
  if (res.mode === "live") {
    return {
      mode: "live",
      meta,
      keptAs: res.keptAs,
      previousIndex: res.previousIndex,
      index: res.index,
      exiting: false,
    };
  }
  if (res.mode === "stage") return { mode: "stage", meta, stagedPath: res.stagedPath, exiting: res.exiting };
  throw new AppError(
    "INTERNAL",
    `the server answered a restore with an unknown mode ${JSON.stringify(res.mode)}`,
  );
}
