import { randomBytes } from "node:crypto";
import type { JobEvent } from "../../gen/waypoint/v1/JobEvent.js";
import type { RunnerHello__Output } from "../../gen/waypoint/v1/RunnerHello.js";
import type { RunnerRequest__Output } from "../../gen/waypoint/v1/RunnerRequest.js";
import type { RunnerResponse } from "../../gen/waypoint/v1/RunnerResponse.js";
import type { WaypointHandlers } from "../../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../../protocol/errors.js";
import { OPERATIONS, type OperationName } from "../../protocol/operations.js";
import { isComponentId, RUNNER_LABEL_PATTERN } from "../../protocol/validate.js";
import { toStatus } from "../grpc-errors.js";
import type { CallContext, Guard } from "../guard.js";
import type { InventoryRecorder } from "../inventory-recorder.js";
import type { ServerLogger } from "../logger.js";
import { firstMessage } from "../runtime/first-message.js";
import { type JobBroker, jobMessage } from "../runtime/job-broker.js";
import { FINAL_JOB_STATES, JOB_STATES, type JobRecord, type JobState, type Store } from "../store/store.js";
import { requireApp } from "./runtime-service.js";

export interface JobServiceDeps {
  readonly guard: Guard;
  readonly store: Store;
  readonly broker: JobBroker;
  readonly recorder: InventoryRecorder;
  readonly logger: ServerLogger;
}

type JobHandlers = Pick<
  WaypointHandlers,
  "QueueJob" | "ListJobs" | "GetJob" | "CancelJob" | "WatchJob" | "RunnerJobs"
>;

const OUTPUT_STREAMS = new Set(["stdout", "stderr"]);
/** Largest piece of output a runner may send in one message. */
const MAX_OUTPUT_CHUNK = 1024 * 1024;

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
      if (req.target && !d.broker.isConnected(req.target))
        throw new AppError("RUNNER_NOT_CONNECTED", `no runner ${req.target} is connected to take the job`);
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
      d.broker.queued(job);
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
      const out = d.broker.cancel(job);
      d.logger.info({ job: job.id, state: out.state, by: ctx.token?.id }, "job cancel asked");
      return jobOut(out);
    }),

    WatchJob: d.guard.serverStream((call) => {
      const job = requireJob(call.request.id);
      // Where the caller is in the job's output: `at` bytes into the broker's output log `log`, skipped
      // ones counted. While the call pushes back (a caller that stopped reading), nothing more is written:
      // the output waits in the broker's bounded log, and what that drops meanwhile reaches the caller as
      // `skipped`, so a stuck watcher costs the server no more than the job's kept output. Job changes
      // that come meanwhile wait too, each sent after the output that came before it.
      const initial = d.broker.outputEnd(job.id);
      let log = initial.log;
      let at = Number(call.request.skipBytes ?? 0);
      let waiting = false;
      const held: { e: JobEvent; log: number; end: number }[] = [];
      let stop = () => {};
      /** End the call once caught up (the job has ended). */
      let ending = false;
      const isFinal = (state: string | undefined) =>
        (FINAL_JOB_STATES as ReadonlySet<string>).has(state ?? "");
      const writable = () => !call.cancelled && !call.writableEnded;
      const send = (e: JobEvent): boolean => (writable() ? call.write(e) : true);
      const finish = () => {
        stop();
        if (!call.writableEnded) call.end();
      };
      const waitForDrain = () => {
        waiting = true;
        call.once("drain", catchUp);
      };
      /** Sends the held job changes that came before `upTo` in log `log` (all that came in another log). */
      const sendHeld = (upTo: number) => {
        while (held.length > 0 && (held[0]!.log !== log || held[0]!.end <= upTo)) {
          const h = held.shift()!;
          send(h.e);
          if (isFinal(h.e.job?.state)) ending = true;
        }
      };
      /** Sends the kept output from `at` on, with the held job changes in place, until done or the call pushes back. */
      const catchUp = () => {
        waiting = false;
        if (!writable()) return;
        const so = d.broker.outputSoFar(job.id);
        if (so.log !== log) {
          // Another log (the job's was let go among older jobs', or a restore replaced it): all it holds is new.
          sendHeld(Number.POSITIVE_INFINITY);
          log = so.log;
          at = 0;
        }
        sendHeld(at);
        if (at < so.dropped) {
          send({ skipped: so.dropped - at });
          at = so.dropped;
        }
        let start = so.dropped;
        for (const c of so.chunks) {
          const end = start + c.data.length;
          if (end > at) {
            sendHeld(Math.max(start, at));
            const more = send({
              output: { job: job.id, stream: c.stream, data: c.data.subarray(at - start) },
            });
            at = end;
            if (!more) {
              waitForDrain();
              return;
            }
          }
          start = end;
        }
        sendHeld(Number.POSITIVE_INFINITY);
        if (ending) finish();
      };
      // A caller that already has more than this server kept watched a server that has since restarted.
      if (!Number.isSafeInteger(at) || at < 0 || at > initial.end) at = 0;
      // The job as it is, then its kept output, then changes and output as they come.
      ending = isFinal(job.state);
      if (send({ job: jobOut(job) })) catchUp();
      else waitForDrain();
      if (ending) return;
      stop = d.broker.watch(job.id, {
        job: (j) => {
          const e = { job: jobOut(j) };
          if (waiting) {
            held.push({ e, ...d.broker.outputEnd(job.id) });
            return;
          }
          send(e);
          if (isFinal(j.state)) finish();
        },
        output: (stream, data, pos) => {
          // Not waiting: everything before this chunk was sent, so it is the next (or the first of a new log).
          if (waiting) return;
          log = pos.log;
          at = pos.end;
          if (!send({ output: { job: job.id, stream, data } })) waitForDrain();
        },
        gone: () => {
          stop();
          if (!call.writableEnded && !call.cancelled)
            call.emit(
              "error",
              toStatus(
                new AppError(
                  "NOT_FOUND",
                  `${job.id} is not in the restored data: a live restore replaced the jobs`,
                  {
                    hint: "See `waypoint job list` for the jobs there are now.",
                  },
                ),
                d.logger,
                call.getPath(),
              ),
            );
        },
      });
      call.on("cancelled", stop);
      call.on("close", stop);
    }),

    RunnerJobs: d.guard.bidiStream(async (call, ctx) => {
      const first = await firstMessage<RunnerRequest__Output>(call, "hello");
      if (first.request !== "hello" || !first.hello)
        throw new AppError("INVALID_ARGUMENT", "the first message of RunnerJobs must be hello");
      const hello = first.hello;
      // The role comes from the token, never from the headers the client sets itself.
      const tokenKind = ctx.token?.kind;
      if (tokenKind === "runner" && ctx.who.kind !== "runner")
        throw new AppError("INVALID_ARGUMENT", `a runner token is for runners, not for a ${ctx.who.kind}`, {
          hint: "Use it with `waypoint runner agent`.",
        });
      if (tokenKind !== "runner" && !hello.targetedOnly)
        throw new AppError(
          "INVALID_ARGUMENT",
          `a ${tokenKind ?? "caller without a"} token runs only the jobs it queued itself: say targeted_only in hello`,
          { hint: "Run `waypoint runner agent` with a runner token to take any app's jobs." },
        );
      if (hello.runningJob && !/^job-\d+$/.test(hello.runningJob))
        throw new AppError(
          "INVALID_ARGUMENT",
          `running_job ${JSON.stringify(hello.runningJob)} is not a job id`,
        );
      const id = runnerIdFor(ctx, hello);
      const labels = labelsOf(hello.labels);
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(hello.session))
        throw new AppError(
          "INVALID_ARGUMENT",
          "hello.session must be 8-64 letters, digits, _ or -, random per runner process",
        );
      d.broker.checkFree(id, hello.session);
      const write = (m: RunnerResponse): boolean => {
        if (call.cancelled || call.writableEnded || call.destroyed) return false;
        call.write(m);
        return true;
      };
      write({
        welcome: {
          runnerId: id,
          leaseMs: d.broker.leaseMs,
          heartbeatMs: Math.max(200, Math.floor(d.broker.leaseMs / 3)),
        },
      });
      const disconnect = d.recorder.connected(ctx.who);
      const detach = d.broker.attach(
        {
          id,
          targetedOnly: hello.targetedOnly,
          labels,
          session: hello.session,
          send: write,
          end: () => {
            if (!call.writableEnded) call.end();
          },
        },
        hello.runningJob,
      );
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        detach();
        disconnect();
      };
      call.on("data", (m: RunnerRequest__Output) => {
        try {
          onRunnerMessage(d.broker, id, m);
        } catch (err) {
          close();
          call.emit("error", toStatus(err, d.logger, call.getPath()));
        }
      });
      call.on("end", () => {
        close();
        if (!call.writableEnded) call.end();
      });
      call.on("cancelled", close);
      call.on("error", close);
      call.on("close", close);
      call.resume();
    }),
  };
}

function onRunnerMessage(broker: JobBroker, runner: string, m: RunnerRequest__Output): void {
  switch (m.request) {
    case "started":
      broker.started(runner, m.started!.job);
      return;
    case "heartbeat":
      broker.heartbeat(runner, m.heartbeat!.job);
      return;
    case "output": {
      const o = m.output!;
      if (!OUTPUT_STREAMS.has(o.stream))
        throw new AppError(
          "INVALID_ARGUMENT",
          `output stream ${JSON.stringify(o.stream)} is not stdout or stderr`,
        );
      if (o.data.length > MAX_OUTPUT_CHUNK)
        throw new AppError("INVALID_ARGUMENT", `an output message holds at most ${MAX_OUTPUT_CHUNK} bytes`);
      broker.output(runner, o.job, o.stream, o.data);
      return;
    }
    case "done": {
      const done = m.done!;
      broker.done(runner, done.job, {
        ...(done.exitCode === undefined || done.exitCode === null ? {} : { exitCode: done.exitCode }),
        error: done.error,
        cancelled: done.cancelled,
      });
      return;
    }
    default:
      throw new AppError(
        "INVALID_ARGUMENT",
        `unexpected RunnerJobs message ${JSON.stringify(m.request ?? "")} after hello`,
      );
  }
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

/** A job as the API shows it (the broker's form, shared by every handler). */
export const jobOut = jobMessage;

/** The id a runner's jobs are assigned under: a runner's own; a per-run id for a CLI running its own. */
function runnerIdFor(ctx: CallContext, hello: RunnerHello__Output): string {
  if (ctx.token?.kind === "runner") return ctx.who.id;
  const prefix = `${ctx.who.id}.run-`;
  if (hello.runnerId) {
    if (!hello.runnerId.startsWith(prefix) || !isComponentId(hello.runnerId))
      throw new AppError(
        "INVALID_ARGUMENT",
        `runner_id ${JSON.stringify(hello.runnerId)} is not one this server gave client ${ctx.who.id}`,
      );
    return hello.runnerId;
  }
  return `${prefix}${randomBytes(6).toString("hex")}`;
}

function labelsOf(labels: readonly string[]): string[] {
  for (const l of labels) {
    if (!RUNNER_LABEL_PATTERN.test(l))
      throw new AppError(
        "INVALID_ARGUMENT",
        `runner label ${JSON.stringify(l)} is not KEY=VALUE (letters, digits and . _ / - : only)`,
      );
  }
  return [...labels];
}
