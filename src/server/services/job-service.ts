import type { Job } from "../../gen/waypoint/v1/Job.js";
import type { WaypointHandlers } from "../../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../../protocol/errors.js";
import { OPERATIONS, type OperationName } from "../../protocol/operations.js";
import { isComponentId } from "../../protocol/validate.js";
import type { Guard } from "../guard.js";
import type { ServerLogger } from "../logger.js";
import { FINAL_JOB_STATES, JOB_STATES, type JobRecord, type JobState, type Store } from "../store/store.js";
import { requireApp } from "./runtime-service.js";

export interface JobServiceDeps {
  readonly guard: Guard;
  readonly store: Store;
  readonly logger: ServerLogger;
}

type JobHandlers = Pick<WaypointHandlers, "QueueJob" | "ListJobs" | "GetJob" | "CancelJob">;

/** Queueing, listing and cancelling jobs: runs of an app's operations (DESIGN §10). */
export function jobService(d: JobServiceDeps): JobHandlers {
  const requireJob = (id: string): JobRecord => {
    const job = id ? d.store.getJob(id) : undefined;
    if (!job)
      throw new AppError("NOT_FOUND", `no job ${JSON.stringify(id)}`, {
        hint: "See `waypoint job list` for the jobs there are.",
      });
    return job;
  };

  return {
    QueueJob: d.guard.unary((req, ctx) => {
      const operation = operationOf(req.operation);
      if (req.target && !isComponentId(req.target))
        throw new AppError(
          "INVALID_ARGUMENT",
          `the target runner id ${JSON.stringify(req.target)} is not valid`,
        );
      const app = requireApp(d.store, req.app);
      const command = app.operations[operation];
      if (!command)
        throw new AppError("INVALID_ARGUMENT", `app ${app.name} has no ${operation} operation`, {
          hint: `Give it one with \`waypoint app update ${app.name} -${operation}=COMMAND\`.`,
        });
      const job = d.store.queueJob({
        app: app.name,
        operation,
        command,
        ...(req.target ? { target: req.target } : {}),
        queuedAt: new Date().toISOString(),
      });
      d.logger.info(
        { job: job.id, app: job.app, operation, target: job.target, by: ctx.token?.id },
        "job queued",
      );
      return jobOut(job);
    }),

    ListJobs: d.guard.unary((req) => {
      if (req.app) requireApp(d.store, req.app);
      const states = req.states.map(stateOf);
      return {
        jobs: d.store
          .listJobs({ ...(req.app ? { app: req.app } : {}), ...(states.length > 0 ? { states } : {}) })
          .map(jobOut),
      };
    }),

    GetJob: d.guard.unary((req) => jobOut(requireJob(req.id))),

    CancelJob: d.guard.unary((req, ctx) => {
      const job = requireJob(req.id);
      if (FINAL_JOB_STATES.has(job.state))
        throw new AppError(
          "INVALID_ARGUMENT",
          `${job.id} has already ended (${job.state}): there is nothing to cancel`,
        );
      // Queued: nobody holds it, so it ends here. Held by a runner: the runner is told and stops it.
      const cancelled =
        job.state === "queued"
          ? d.store.transitionJob(job.id, ["queued"], "cancelled", { error: "cancelled before it started" })
          : undefined;
      const out = cancelled ?? d.store.requestJobCancel(job.id) ?? job;
      d.logger.info({ job: job.id, state: out.state, by: ctx.token?.id }, "job cancel asked");
      return jobOut(out);
    }),
  };
}

function operationOf(name: string): OperationName {
  if ((OPERATIONS as readonly string[]).includes(name)) return name as OperationName;
  throw new AppError(
    "INVALID_ARGUMENT",
    `unknown operation ${JSON.stringify(name)}: it is one of ${OPERATIONS.join(", ")}`,
  );
}

function stateOf(name: string): JobState {
  if ((JOB_STATES as readonly string[]).includes(name)) return name as JobState;
  throw new AppError(
    "INVALID_ARGUMENT",
    `unknown job state ${JSON.stringify(name)}: it is one of ${JOB_STATES.join(", ")}`,
  );
}

/** A job as the API shows it: absent times and ids as "", the exit code only once there is one. */
export function jobOut(j: JobRecord): Job {
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
