import { randomBytes } from "node:crypto";
import type { Connection, RunnerEvent, RunnerStream } from "../client/connection.js";
import type { JobInfo } from "../client/runtime.js";
import { entrypointEnv, withPort } from "../protocol/entrypoint-env.js";
import { AppError } from "../protocol/errors.js";
import { type JobProcess, type JobProcessResult, startJobProcess } from "./job-process.js";

/** What a runner is doing, for its log or the CLI's output. */
export type RunnerActivity =
  | { readonly kind: "connected"; readonly runnerId: string }
  | { readonly kind: "disconnected"; readonly error?: AppError; readonly retryInMs: number }
  | { readonly kind: "assigned"; readonly job: JobInfo }
  | {
      readonly kind: "output";
      readonly job: string;
      readonly stream: "stdout" | "stderr";
      readonly data: Buffer;
    }
  | { readonly kind: "finished"; readonly job: string; readonly result: JobProcessResult }
  | { readonly kind: "cancelling"; readonly job: string; readonly reason: string };

export interface RunnerOptions {
  readonly connection: Connection;
  readonly labels?: readonly string[];
  /** Take only jobs queued for this runner (the CLI running its own jobs). */
  readonly targetedOnly: boolean;
  /** The environment jobs start from (WAYPOINT_SERVER_TOKEN is never passed on). */
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Seconds between SIGTERM and SIGKILL when a job is cancelled. */
  readonly graceSeconds?: number;
  readonly onActivity?: (a: RunnerActivity) => void;
  /** Reconnect delays: the first, and the cap it doubles up to (each with ±20% jitter). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** Output kept while the server is unreachable; more is dropped and counted. */
const PENDING_OUTPUT_BYTES = 1024 * 1024;

/** Errors a reconnect cannot fix: the runner stops and says why. */
const FATAL = new Set([
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "INVALID_ARGUMENT",
  "USAGE",
  "CLIENT_OUTDATED",
  "SERVER_OUTDATED",
  "INVALID_HEADER",
]);

interface CurrentJob {
  readonly job: JobInfo;
  readonly process: JobProcess;
  result?: JobProcessResult;
  /** The server asked to stop it, or the runner is stopping. */
  stopReason?: string;
}

/**
 * A runner: one RunnerJobs stream, kept open with reconnects, running one job at a time
 * (ARCHITECTURE "Jobs and runners").
 *
 * Invariants: a job it was given is reported to the server as done until the server shows it got the
 * report: it gives the runner its next job, or says the job is not the runner's any more (a cancel,
 * answered to a repeated report). A finished job is kept until then, and every hello names it, so a
 * report lost with a broken stream is sent again after the reconnect (the server ignores a repeat);
 * while a job runs a heartbeat goes out every `heartbeatMs`; the job's
 * process group never outlives it (see job-process.ts); output goes out in order, at most
 * PENDING_OUTPUT_BYTES of it held while disconnected.
 */
export class Runner {
  private stream: RunnerStream | undefined;
  /** The server welcomed the current stream: what is sent on it is read by the server. */
  private welcomed = false;
  private runnerId: string | undefined;
  private heartbeatMs = 10_000;
  private current: CurrentJob | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private pending: { stream: "stdout" | "stderr"; data: Buffer }[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  private stopping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private delay: number;
  /** The same in every hello of this runner, so the server tells its reconnects from another runner. */
  private readonly session = randomBytes(12).toString("base64url");
  private onReady!: (id: string) => void;
  private onStopped!: () => void;
  private onFailed!: (err: AppError) => void;
  /** Resolves with the runner id at the first welcome. */
  readonly ready: Promise<string>;
  /** Resolves when `stop` finished; rejects when the server refused the runner for good. */
  readonly stopped: Promise<void>;

  constructor(private readonly o: RunnerOptions) {
    this.delay = o.backoff?.initialMs ?? 250;
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve;
      this.onFailed = (err) => {
        reject(err);
        failStopped(err);
      };
    });
    let failStopped!: (err: AppError) => void;
    this.stopped = new Promise((resolve, reject) => {
      this.onStopped = resolve;
      failStopped = reject;
    });
    this.ready.catch(() => {});
    this.stopped.catch(() => {});
  }

  start(): this {
    this.connect();
    return this;
  }

  /** The job it runs now, if any. */
  get running(): JobInfo | undefined {
    return this.current?.result ? undefined : this.current?.job;
  }

  /**
   * Stops: no new jobs; a running one is cancelled (SIGTERM to its group, SIGKILL after the grace
   * period) and reported as cancelled; then the stream closes.
   */
  async stop(reason = "the runner was stopped"): Promise<void> {
    if (this.stopping) return this.stopped;
    this.stopping = true;
    clearTimeout(this.retryTimer);
    const cur = this.current;
    if (cur && !cur.result) {
      cur.stopReason ??= reason;
      cur.process.cancel();
      await cur.process.result;
    }
    const stream = this.stream;
    this.stream = undefined;
    await stream?.close();
    this.onStopped();
    return this.stopped;
  }

  private connect(): void {
    if (this.stopping) return;
    let welcomed = false;
    this.welcomed = false;
    const stream = this.o.connection.runnerJobs(
      {
        labels: this.o.labels ?? [],
        targetedOnly: this.o.targetedOnly,
        session: this.session,
        ...(this.current ? { runningJob: this.current.job.id } : {}),
        ...(this.runnerId && this.o.targetedOnly ? { runnerId: this.runnerId } : {}),
      },
      (e) => {
        if (e.kind === "welcome") welcomed = true;
        this.onEvent(stream, e);
      },
      (err) => this.onEnd(stream, welcomed, err),
    );
    this.stream = stream;
  }

  private onEvent(stream: RunnerStream, e: RunnerEvent): void {
    if (stream !== this.stream) return;
    switch (e.kind) {
      case "welcome": {
        this.welcomed = true;
        this.runnerId = e.runnerId;
        this.heartbeatMs = e.heartbeatMs > 0 ? e.heartbeatMs : 10_000;
        this.delay = this.o.backoff?.initialMs ?? 250;
        this.onReady(e.runnerId);
        this.o.onActivity?.({ kind: "connected", runnerId: e.runnerId });
        this.flush();
        return;
      }
      case "assignment":
        this.run(e.job, e.entrypointToken, e.entrypointPort);
        return;
      case "cancel": {
        const cur = this.current;
        if (!cur || cur.job.id !== e.job) return;
        if (cur.result) {
          // Finished and reported: the server is done with it.
          this.current = undefined;
          return;
        }
        cur.stopReason ??= e.reason || "cancelled";
        this.o.onActivity?.({ kind: "cancelling", job: e.job, reason: cur.stopReason });
        cur.process.cancel();
        return;
      }
    }
  }

  private onEnd(stream: RunnerStream, welcomed: boolean, err?: AppError): void {
    if (stream !== this.stream) return;
    this.stream = undefined;
    this.welcomed = false;
    if (this.stopping) return;
    if (err && FATAL.has(err.code)) {
      this.stopping = true;
      this.current?.process.cancel();
      this.onFailed(err);
      return;
    }
    const max = this.o.backoff?.maxMs ?? 10_000;
    const wait = Math.round(this.delay * (0.8 + Math.random() * 0.4));
    this.delay = Math.min(max, welcomed ? (this.o.backoff?.initialMs ?? 250) : this.delay * 2);
    this.o.onActivity?.({ kind: "disconnected", ...(err ? { error: err } : {}), retryInMs: wait });
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  private run(job: JobInfo, entrypointToken: string, entrypointPort: number): void {
    const stream = this.stream;
    // A new job means the server has the report of the finished one.
    if (this.current?.result) this.current = undefined;
    if (this.current || !stream) {
      // One job at a time: the server never does this; refuse rather than run two.
      stream?.done(job.id, { error: "the runner is already running a job" });
      return;
    }
    this.o.onActivity?.({ kind: "assigned", job });
    const env: NodeJS.ProcessEnv = { ...this.o.env };
    delete env.WAYPOINT_SERVER_TOKEN;
    env.WAYPOINT_JOB_ID = job.id;
    env.WAYPOINT_APP = job.app;
    env.WAYPOINT_OPERATION = job.operation;
    if (entrypointToken && job.deployment) {
      const s = this.o.connection.settings;
      Object.assign(
        env,
        entrypointEnv({
          // The server's entrypoint listener when it has one (-listen-entrypoint), on the host called.
          address: (entrypointPort > 0 ? withPort(s.address, entrypointPort) : undefined) ?? s.address,
          tls: s.tls,
          tlsSkipVerify: s.tlsSkipVerify,
          token: entrypointToken,
          deployment: job.deployment,
        }),
      );
    }
    const process = startJobProcess({
      command: job.command,
      env,
      cwd: this.o.cwd,
      graceSeconds: this.o.graceSeconds ?? 10,
      onOutput: (s, data) => this.output(job.id, s, data),
    });
    const cur: CurrentJob = { job, process };
    this.current = cur;
    stream.started(job.id);
    this.heartbeat = setInterval(() => this.stream?.heartbeat(job.id), this.heartbeatMs);
    void process.result.then((result) => {
      clearInterval(this.heartbeat);
      cur.result = result;
      this.o.onActivity?.({ kind: "finished", job: job.id, result });
      this.report();
    });
  }

  private output(job: string, s: "stdout" | "stderr", data: Buffer): void {
    this.o.onActivity?.({ kind: "output", job, stream: s, data });
    const stream = this.welcomed ? this.stream : undefined;
    if (stream && this.pending.length === 0) {
      if (!stream.output(job, s, data)) {
        // The stream's buffer is full: stop reading the command's output until it drains.
        const cur = this.current;
        cur?.process.pause();
        void stream.drained().then(() => cur?.process.resume());
      }
      return;
    }
    if (this.pendingBytes + data.length > PENDING_OUTPUT_BYTES) {
      this.dropped += data.length;
      return;
    }
    this.pending.push({ stream: s, data });
    this.pendingBytes += data.length;
  }

  /** After a (re)connect: output held while away, then a done report that waited. */
  private flush(): void {
    const stream = this.stream;
    const cur = this.current;
    if (!stream) return;
    if (cur) {
      if (this.dropped > 0)
        stream.output(
          cur.job.id,
          "stderr",
          Buffer.from(
            `[waypoint runner: ${this.dropped} bytes of output were dropped while the server was unreachable]\n`,
          ),
        );
      for (const p of this.pending) stream.output(cur.job.id, p.stream, p.data);
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.dropped = 0;
    this.report();
  }

  /** Sends the done report of a finished job, once a welcomed stream is up and its output flushed. */
  private report(): void {
    const cur = this.current;
    const stream = this.stream;
    if (!cur?.result || !stream || !this.welcomed || this.pending.length > 0) return;
    const r = cur.result;
    const cancelled = cur.stopReason !== undefined;
    stream.done(cur.job.id, {
      ...(r.exitCode === undefined ? {} : { exitCode: r.exitCode }),
      ...(cancelled ? { cancelled: true, error: cur.stopReason } : r.error ? { error: r.error } : {}),
    });
  }
}

/** Whether `err` is one the runner gives up on (for callers that report it). */
export function isFatalRunnerError(err: unknown): boolean {
  return err instanceof AppError && FATAL.has(err.code);
}
