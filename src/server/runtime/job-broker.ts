import type { Job } from "../../gen/waypoint/v1/Job.js";
import type { JobAssignment } from "../../gen/waypoint/v1/JobAssignment.js";
import type { RunnerResponse } from "../../gen/waypoint/v1/RunnerResponse.js";
import { AppError } from "../../protocol/errors.js";
import { mintToken, type TokenCache } from "../auth.js";
import type { ServerLogger } from "../logger.js";
import { FINAL_JOB_STATES, type JobRecord, type Store } from "../store/store.js";

/** One connected runner's stream, as the broker sees it. */
export interface RunnerLink {
  /** The id jobs are assigned under. */
  readonly id: string;
  /** Takes only jobs queued for it (a CLI running its own jobs). */
  readonly targetedOnly: boolean;
  readonly labels: readonly string[];
  /** The runner process's session: the same across its reconnects. */
  readonly session: string;
  /** Writes to the stream; false when it is closed. */
  send(message: RunnerResponse): boolean;
  /** Ends the stream (a newer connection of the same runner replaced it, or a restore). */
  end(): void;
}

/** What a runner says about a job it ended. */
export interface JobOutcome {
  readonly exitCode?: number;
  readonly error?: string;
  readonly cancelled?: boolean;
}

/** A WatchJob subscriber: each change of the job, and each piece of its output. */
export interface JobWatcher {
  job(job: JobRecord): void;
  /** A chunk of output, ending at `end` bytes into output log `log` (see `outputSoFar`). */
  output(stream: string, data: Buffer, at: OutputPosition): void;
  /** The job is not in the data any more (a live restore replaced it). */
  gone(): void;
}

export interface JobBrokerOptions {
  readonly store: Store;
  readonly tokens: TokenCache;
  readonly logger: ServerLogger;
  /** How long a job's lease lasts without word from its runner. */
  readonly leaseMs: number;
  /** The entrypoint listener's port (-listen-entrypoint), for deploy jobs' entrypoints; undefined when none. */
  readonly entrypointPort?: () => number | undefined;
  /** Output kept in memory per job (oldest dropped first). */
  readonly outputBytes?: number;
  /** Jobs whose output is kept (the oldest job's is dropped first). */
  readonly outputJobs?: number;
}

interface Lease {
  readonly runner: string;
  timer: NodeJS.Timeout;
}

interface OutputLog {
  /** Distinct for every log the broker makes: a job's log that was let go (or replaced by a restore) and made again is another. */
  readonly id: number;
  chunks: { stream: string; data: Buffer }[];
  bytes: number;
  dropped: number;
}

/** A place in a job's output: bytes since the start of output log `log` (0: the job has none). */
export interface OutputPosition {
  readonly log: number;
  readonly end: number;
}

/** Where `log` ends: every byte it was given, dropped ones included. */
function endOf(log: OutputLog): OutputPosition {
  return { log: log.id, end: log.dropped + log.bytes };
}

/**
 * Hands queued jobs to connected runners and takes them back from runners that went away
 * (DESIGN §10, ARCHITECTURE "Jobs and runners").
 *
 * Invariants:
 * - a runner holds at most one job; a job is assigned in one store write (`assignJob`), so two
 *   runners never get the same job;
 * - every assigned or running job has a lease while this server runs; any word from its runner
 *   about it renews the lease; when it runs out, an assigned job or a running build goes back to the
 *   queue, a running deploy or release ends in error (repeating it could deploy twice), a job with a
 *   cancel asked for ends cancelled, and a job targeted at one runner ends in error (no other runner
 *   may take it);
 * - a targeted-only runner (a CLI) that stays away for a whole lease takes its queued jobs with it:
 *   they end in error instead of waiting for a runner that will not come back;
 * - every state change goes through the store's `transitionJob` with the states it may come from,
 *   so a late message from a runner that lost its job changes nothing.
 * Leases live in memory: after a restart (`start`) every assigned or running job gets a fresh one.
 */
export class JobBroker {
  private readonly runners = new Map<string, RunnerLink>();
  /** Runner id → the job it holds. */
  private readonly holding = new Map<string, string>();
  /**
   * Runner id → a job it was told to stop (it lost the job while running it). The runner gets no new
   * job until it reports that job done or says hello without it: it still runs the old command.
   */
  private readonly stopping = new Map<string, string>();
  private readonly leases = new Map<string, Lease>();
  /** Targeted-only runners gone, by id: the timer that fails their queued jobs. */
  private readonly absent = new Map<string, NodeJS.Timeout>();
  private readonly outputs = new Map<string, OutputLog>();
  /** Output logs made so far (their ids). */
  private outputLogs = 0;
  private readonly watchers = new Map<string, Set<JobWatcher>>();
  private readonly outputBytes: number;
  private readonly outputJobs: number;

  constructor(private readonly d: JobBrokerOptions) {
    this.outputBytes = d.outputBytes ?? 256 * 1024;
    this.outputJobs = d.outputJobs ?? 100;
  }

  get leaseMs(): number {
    return this.d.leaseMs;
  }

  /** Leases for the jobs runners held when the server stopped; absence timers for targeted runners. */
  start(): void {
    for (const job of this.d.store.listJobs({ states: ["assigned", "running"] })) {
      if (!job.runner) continue;
      this.holding.set(job.runner, job.id);
      this.lease(job.id, job.runner);
    }
    for (const job of this.d.store.listJobs({ states: ["queued"] })) {
      if (job.target && !this.runners.has(job.target)) this.markAbsent(job.target);
    }
    this.d.logger.debug({ leases: this.leases.size }, "job leases restored");
  }

  /** Clears every timer. */
  stop(): void {
    for (const l of this.leases.values()) clearTimeout(l.timer);
    for (const t of this.absent.values()) clearTimeout(t);
    this.leases.clear();
    this.absent.clear();
    this.holding.clear();
  }

  /**
   * After a live restore: the jobs are the snapshot's. Every runner is asked to reconnect (each says
   * again which job it runs, and is told to stop one the restored data does not give it), and leases
   * start over from the restored jobs.
   */
  restored(): void {
    this.stop();
    this.stopping.clear();
    const links = [...this.runners.values()];
    this.runners.clear();
    for (const link of links) link.end();
    // Output belongs to jobs of the replaced data (ids are reused from the snapshot's sequence).
    this.outputs.clear();
    for (const [jobId, set] of this.watchers) {
      const job = this.d.store.getJob(jobId);
      for (const w of [...set]) {
        if (job) w.job(job);
        else w.gone();
      }
    }
    this.start();
  }

  isConnected(runner: string): boolean {
    return this.runners.has(runner);
  }

  /** Connected runners, for the inventory of who can take jobs. */
  connected(): RunnerLink[] {
    return [...this.runners.values()];
  }

  /**
   * ALREADY_EXISTS when another runner process (another session) is connected under `id`: two
   * runners sharing an id would take each other's jobs away. The same process reconnecting is fine.
   */
  checkFree(id: string, session: string): void {
    const current = this.runners.get(id);
    if (current && current.session !== session)
      throw new AppError("RUNNER_ID_IN_USE", `runner id ${id} is in use by another connected runner`);
  }

  /**
   * Lists a runner's stream. A stream already open under the same id (the same runner, reconnected
   * before the server noticed it had gone) is ended: the newer one wins.
   * `runningJob` is the job the runner says it still runs (after a reconnect): kept when the store
   * still gives it to this runner, else the runner is told to stop it. Returns the detach function.
   */
  attach(link: RunnerLink, runningJob: string): () => void {
    const previous = this.runners.get(link.id);
    this.runners.set(link.id, link);
    if (previous) previous.end();
    const timer = this.absent.get(link.id);
    if (timer) {
      clearTimeout(timer);
      this.absent.delete(link.id);
    }
    if (runningJob) {
      const job = this.d.store.getJob(runningJob);
      if (job && job.runner === link.id && (job.state === "assigned" || job.state === "running")) {
        this.holding.set(link.id, job.id);
        this.lease(job.id, link.id);
        if (job.cancelRequested) link.send({ cancel: { job: job.id, reason: "cancelled" } });
      } else {
        // It still runs (or has just finished) a job that is no longer its: stop it, and give it
        // nothing new until it reports that job done.
        this.stopping.set(link.id, runningJob);
        link.send({ cancel: { job: runningJob, reason: lostReason(job) } });
      }
    } else {
      this.stopping.delete(link.id);
      // It runs nothing: a job the store still gives it (say the runner restarted) was lost with it.
      const held = this.holding.get(link.id);
      if (held) this.expire(held, "its runner restarted without it", false);
    }
    this.d.logger.info(
      { runner: link.id, targetedOnly: link.targetedOnly, labels: link.labels },
      "runner connected",
    );
    this.tryAssign(link);
    return () => {
      if (this.runners.get(link.id) !== link) return;
      this.runners.delete(link.id);
      this.d.logger.info({ runner: link.id }, "runner disconnected");
      // Jobs queued for this runner alone fail if it stays away for a lease (nobody else may take them).
      this.markAbsent(link.id);
    };
  }

  /** A job was queued: an idle runner that may take it gets it. */
  queued(job: JobRecord): void {
    this.notify(job);
    if (job.target) {
      const link = this.runners.get(job.target);
      if (link) this.tryAssign(link);
      return;
    }
    for (const link of this.runners.values()) {
      if (!link.targetedOnly && !this.holding.has(link.id) && !this.stopping.has(link.id)) {
        this.tryAssign(link);
        return;
      }
    }
  }

  /** The runner started the job's command: assigned → running. */
  started(runner: string, jobId: string): void {
    if (!this.owns(runner, jobId)) return;
    this.lease(jobId, runner);
    const job = this.d.store.transitionJob(jobId, ["assigned"], "running");
    if (job) {
      this.d.logger.info({ job: jobId, runner }, "job started");
      this.notify(job);
    }
  }

  heartbeat(runner: string, jobId: string): void {
    if (this.owns(runner, jobId)) this.lease(jobId, runner);
  }

  output(runner: string, jobId: string, stream: string, data: Buffer): void {
    if (!this.owns(runner, jobId)) return;
    this.lease(jobId, runner);
    const log = this.outputLog(jobId);
    log.chunks.push({ stream, data });
    log.bytes += data.length;
    while (log.bytes > this.outputBytes && log.chunks.length > 1) {
      const gone = log.chunks.shift()!;
      log.bytes -= gone.data.length;
      log.dropped += gone.data.length;
    }
    const at = endOf(log);
    for (const w of this.watchers.get(jobId) ?? []) w.output(stream, data, at);
  }

  /** The runner ended the job: success on exit code 0, cancelled when it stopped it on request, else error. */
  done(runner: string, jobId: string, outcome: JobOutcome): void {
    if (this.stopping.has(runner) && this.holding.get(runner) !== jobId) {
      // The job it was told to stop (or was busy with when it refused one) has ended: it is free again.
      this.stopping.delete(runner);
      const link = this.runners.get(runner);
      if (link) this.tryAssign(link);
      return;
    }
    if (!this.owns(runner, jobId)) return;
    this.release(jobId, runner);
    const code = outcome.exitCode;
    const current = this.d.store.getJob(jobId);
    if (current?.state === "assigned" && code === undefined && outcome.cancelled !== true) {
      // Refused before it started (the runner was busy): back to the queue for another runner; this
      // one gets work again once it reports what it is busy with.
      const requeued = this.d.store.transitionJob(jobId, ["assigned"], "queued");
      this.d.logger.warn({ job: jobId, runner, why: outcome.error }, "runner refused a job; requeued");
      if (requeued) {
        this.stopping.set(runner, "");
        this.queued(requeued);
      }
      return;
    }
    const job =
      outcome.cancelled === true
        ? this.d.store.transitionJob(jobId, ["assigned", "running"], "cancelled", {
            error: outcome.error || "cancelled",
            ...(code === undefined ? {} : { exitCode: code }),
          })
        : code === 0
          ? this.d.store.transitionJob(jobId, ["running", "assigned"], "success", { exitCode: 0 })
          : this.d.store.transitionJob(jobId, ["assigned", "running"], "error", {
              ...(code === undefined ? {} : { exitCode: code }),
              error: outcome.error || (code === undefined ? "the command did not run" : `exit code ${code}`),
            });
    if (job) {
      this.d.logger.info({ job: jobId, runner, state: job.state, exitCode: code }, "job ended");
      this.notify(job);
    }
    const link = this.runners.get(runner);
    if (link) this.tryAssign(link);
  }

  /**
   * Cancels a job: a queued one ends here; one a runner holds is marked and its runner told to stop
   * it (it reports back cancelled). Returns the job as it is now.
   */
  cancel(job: JobRecord): JobRecord {
    if (job.state === "queued") {
      const cancelled = this.d.store.transitionJob(job.id, ["queued"], "cancelled", {
        error: "cancelled before it started",
      });
      if (cancelled) {
        this.notify(cancelled);
        return cancelled;
      }
    }
    const marked = this.d.store.requestJobCancel(job.id) ?? job;
    if (marked.runner)
      this.runners.get(marked.runner)?.send({ cancel: { job: job.id, reason: "cancelled" } });
    this.notify(marked);
    return marked;
  }

  /**
   * The output kept for a job, oldest first, how many bytes were dropped before it, and which log it is
   * (0: none). Positions count from the start of that log: when it changes, positions start again.
   */
  outputSoFar(jobId: string): {
    chunks: readonly { stream: string; data: Buffer }[];
    dropped: number;
    log: number;
  } {
    const log = this.outputs.get(jobId);
    return { chunks: log ? [...log.chunks] : [], dropped: log?.dropped ?? 0, log: log?.id ?? 0 };
  }

  /** Where a job's output ends now. */
  outputEnd(jobId: string): OutputPosition {
    const log = this.outputs.get(jobId);
    return log ? endOf(log) : { log: 0, end: 0 };
  }

  watch(jobId: string, watcher: JobWatcher): () => void {
    let set = this.watchers.get(jobId);
    if (!set) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(watcher);
    return () => {
      set.delete(watcher);
      if (set.size === 0 && this.watchers.get(jobId) === set) this.watchers.delete(jobId);
    };
  }

  private owns(runner: string, jobId: string): boolean {
    if (this.holding.get(runner) === jobId) return true;
    // A runner reporting on a job it no longer holds (its lease ran out): tell it to stop.
    this.runners
      .get(runner)
      ?.send({ cancel: { job: jobId, reason: lostReason(this.d.store.getJob(jobId)) } });
    return false;
  }

  private tryAssign(link: RunnerLink): void {
    if (this.holding.has(link.id) || this.stopping.has(link.id) || this.runners.get(link.id) !== link) return;
    const at = new Date().toISOString();
    let job = this.d.store.assignJob(link.id, at, { targetedOnly: link.targetedOnly });
    if (!job) return;
    let entrypointToken = "";
    try {
      const withDeployment = this.prepareDeploy(job);
      job = withDeployment.job;
      entrypointToken = withDeployment.token;
    } catch (err) {
      const failed = this.d.store.transitionJob(job.id, ["assigned"], "error", {
        error: `could not prepare the deploy: ${(err as Error).message}`,
      });
      this.d.logger.error({ err, job: job.id }, "could not prepare a deploy job");
      if (failed) this.notify(failed);
      this.tryAssign(link);
      return;
    }
    this.holding.set(link.id, job.id);
    this.lease(job.id, link.id);
    const assignment: JobAssignment = {
      job: jobMessage(job),
      entrypointToken,
      entrypointPort: entrypointToken ? (this.d.entrypointPort?.() ?? 0) : 0,
    };
    this.d.logger.info(
      { job: job.id, runner: link.id, operation: job.operation, app: job.app },
      "job assigned",
    );
    this.notify(job);
    link.send({ assignment });
  }

  /**
   * A deploy job of an app whose deploys get the entrypoint: its deployment and a token for it. The
   * deployment is made at the first assignment; a job assigned again (its runner was lost before
   * starting it) keeps that deployment and gets a new token, since the first one's secret went to
   * the runner that was lost.
   */
  private prepareDeploy(job: JobRecord): { job: JobRecord; token: string } {
    if (job.operation !== "deploy") return { job, token: "" };
    const app = this.d.store.getApp(job.app);
    if (!app) throw new AppError("NOT_FOUND", `app ${job.app} no longer exists`);
    if (app.entrypointDisabled) return { job, token: "" };
    if (job.deployment) {
      const minted = mintToken("entrypoint", {
        app: job.app,
        deployment: job.deployment,
        description: `entrypoint of ${job.deployment} (${job.id})`,
      });
      this.d.store.insertToken(minted.record);
      this.d.tokens.add(minted.record);
      return { job, token: minted.secret };
    }
    let secret = "";
    const deployment = this.d.store.createDeployment(job.app, new Date().toISOString(), (dep) => {
      const minted = mintToken("entrypoint", {
        app: dep.app,
        deployment: dep.id,
        description: `entrypoint of ${dep.id} (${job.id})`,
      });
      secret = minted.secret;
      this.d.tokens.add(minted.record);
      return minted.record;
    });
    const updated = this.d.store.transitionJob(job.id, ["assigned"], "assigned", {
      ...(job.assignedAt ? { at: job.assignedAt } : {}),
      deployment: deployment.id,
    });
    return { job: updated ?? job, token: secret };
  }

  private lease(jobId: string, runner: string): void {
    const existing = this.leases.get(jobId);
    if (existing && existing.runner === runner) {
      existing.timer.refresh();
      return;
    }
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(
      () => this.expire(jobId, "its runner sent nothing for the lease timeout"),
      this.d.leaseMs,
    );
    timer.unref();
    this.leases.set(jobId, { runner, timer });
  }

  private release(jobId: string, runner: string): void {
    const l = this.leases.get(jobId);
    if (l) clearTimeout(l.timer);
    this.leases.delete(jobId);
    if (this.holding.get(runner) === jobId) this.holding.delete(runner);
  }

  /** The lease of `jobId` ran out (or its runner came back without it): the rule in the class comment. */
  private expire(jobId: string, why: string, cutOff = true): void {
    const lease = this.leases.get(jobId);
    const job = this.d.store.getJob(jobId);
    const runner = lease?.runner ?? job?.runner ?? "";
    this.release(jobId, runner);
    if (!job || FINAL_JOB_STATES.has(job.state) || job.state === "queued") return;
    const from = [job.state];
    const lost = `runner ${runner} lost: ${why}`;
    let next: JobRecord | undefined;
    if (job.cancelRequested) {
      next = this.d.store.transitionJob(jobId, from, "cancelled", { error: `cancelled; ${lost}` });
    } else if (job.target) {
      next = this.d.store.transitionJob(jobId, from, "error", {
        error: `${lost}; only that runner could take it, so it is not requeued`,
      });
    } else if (job.state === "assigned" || job.operation === "build") {
      next = this.d.store.transitionJob(jobId, from, "queued");
    } else {
      next = this.d.store.transitionJob(jobId, from, "error", {
        error: `${lost} while the ${job.operation} ran; a ${job.operation} is not repeated on its own: queue it again once you have checked what it did`,
      });
    }
    if (!next) return;
    this.d.logger.warn({ job: jobId, runner, state: next.state, why }, "job lease ran out");
    // A runner that looks connected but said nothing for a whole lease (hung, or a connection that
    // died without closing) is cut off (not one that has just said hello without the job): a live one reconnects, names the job and is told to stop it;
    // meanwhile it is not given the job back.
    const silent = cutOff ? this.runners.get(runner) : undefined;
    if (silent) {
      this.runners.delete(runner);
      silent.send({ cancel: { job: jobId, reason: lost } });
      silent.end();
      this.markAbsent(runner);
    }
    // Back in the queue it is handed out like a new job (which tells its watchers); else it ended here.
    if (next.state === "queued") this.queued(next);
    else this.notify(next);
  }

  private markAbsent(runner: string): void {
    if (this.absent.has(runner)) return;
    const timer = setTimeout(() => {
      this.absent.delete(runner);
      if (this.runners.has(runner)) return;
      for (const job of this.d.store.listJobs({ states: ["queued"] })) {
        if (job.target !== runner) continue;
        const failed = this.d.store.transitionJob(job.id, ["queued"], "error", {
          error: `runner ${runner}, the only one that could take it, went away before taking it`,
        });
        if (failed) this.notify(failed);
      }
    }, this.d.leaseMs);
    timer.unref();
    this.absent.set(runner, timer);
  }

  private outputLog(jobId: string): OutputLog {
    let log = this.outputs.get(jobId);
    if (!log) {
      log = { id: ++this.outputLogs, chunks: [], bytes: 0, dropped: 0 };
      this.outputs.set(jobId, log);
      // Maps keep insertion order: the first key is the oldest job with output.
      while (this.outputs.size > this.outputJobs) this.outputs.delete(this.outputs.keys().next().value!);
    }
    return log;
  }

  private notify(job: JobRecord): void {
    for (const w of this.watchers.get(job.id) ?? []) w.job(job);
  }
}

function lostReason(job: JobRecord | undefined): string {
  if (!job) return "the server has no such job";
  if (FINAL_JOB_STATES.has(job.state)) return `the job has already ended (${job.state})`;
  return "the job is no longer assigned to this runner";
}

/** A job as the API shows it: absent times and ids as "", the exit code only once there is one. */
export function jobMessage(j: JobRecord): Job {
  return {
    id: j.id,
    app: j.app,
    operation: j.operation,
    command: j.command,
    state: j.state,
    target: j.target ?? "",
    runner: j.runner ?? "",
    deployment: j.deployment ?? "",
    queuedAt: j.queuedAt,
    assignedAt: j.assignedAt ?? "",
    startedAt: j.startedAt ?? "",
    finishedAt: j.finishedAt ?? "",
    ...(j.exitCode === undefined ? {} : { exitCode: j.exitCode }),
    error: j.error ?? "",
    attempts: j.attempts,
    cancelRequested: j.cancelRequested,
  };
}
