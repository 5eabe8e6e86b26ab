import type { JobInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { ago, table } from "./format.js";
import { interruptible } from "./interrupt.js";
import { followJob, jobExit, writeOutput } from "./job-follow.js";

const JSON_FLAG = { name: "json", type: "boolean", usage: "print JSON" } as const;
const JOB_JSON = `{"id", "app", "operation", "command", "state", "target", "runner", "deployment", "queuedAt",
"assignedAt", "startedAt", "finishedAt", "exitCode", "error", "attempts", "cancelRequested"} (null where a
job has no value yet)`;

export const jobList: Command = {
  name: "job list",
  summary: "List jobs, oldest first",
  help: `States: queued, assigned, running, success, error, cancelled. AGE is the time since the job was queued.
-json prints an array of ${JOB_JSON}.`,
  flags: [
    { name: "app", type: "string", usage: "only this app's jobs" },
    {
      name: "state",
      type: "string-list",
      usage: "only jobs in this state (repeat or comma-separate for several)",
    },
    JSON_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const states = flags.list("state").flatMap((s) => s.split(",").filter(Boolean));
    const conn = connect(flags, io);
    try {
      const jobs = await conn.listJobs({
        ...(flags.string("app") ? { app: flags.string("app")! } : {}),
        states,
      });
      if (flags.bool("json")) {
        writeLine(io.stdout, JSON.stringify(jobs, null, 2));
        return 0;
      }
      if (jobs.length === 0) {
        writeLine(io.stderr, "No jobs.");
        return 0;
      }
      const now = Date.now();
      writeLine(
        io.stdout,
        table(
          ["ID", "APP", "OPERATION", "STATE", "RUNNER", "AGE", "RESULT"],
          jobs.map((j) => [
            j.id,
            j.app,
            j.operation,
            stateWord(j),
            j.runner ?? "-",
            ago(j.queuedAt, now),
            result(j),
          ]),
        ),
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};

export const jobGet: Command = {
  name: "job get",
  summary: "Show one job; -f follows its output until it ends",
  args: "ID",
  help: `-json prints ${JOB_JSON}.
-f prints the job, then its output as the runner sends it (what the server still keeps of earlier output
first), until the job ends; it then exits 0 if the job succeeded, 130 if it was cancelled, else the job's exit
code (1 if it had none). Ctrl-C stops following (exit 130) and leaves the job alone.`,
  flags: [
    JSON_FLAG,
    { name: "f", type: "boolean", usage: "follow the job's output until it ends" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const job = await conn.getJob(flags.args[0]!);
      if (!flags.bool("f")) {
        writeLine(io.stdout, flags.bool("json") ? JSON.stringify(job, null, 2) : describeJob(job));
        return 0;
      }
      if (flags.bool("json")) throw new AppError("USAGE", "-f and -json cannot be used together");
      writeLine(io.stderr, describeJob(job));
      const ended = await interruptible((scope) =>
        followJob(conn, job.id, {
          signal: scope.signal,
          onOutput: writeOutput(io),
          onState: (j) => {
            if (j.state !== job.state)
              writeLine(io.stderr, `==> ${j.id} ${stateWord(j)}${j.runner ? ` (runner ${j.runner})` : ""}`);
          },
        }),
      );
      writeLine(io.stderr, `==> ${ended.id} ${ended.state}${result(ended) ? `: ${result(ended)}` : ""}`);
      return jobExit(ended);
    } finally {
      conn.close();
    }
  },
};

export const jobCancel: Command = {
  name: "job cancel",
  summary: "Cancel a job (management token required)",
  args: "ID",
  help: "A queued job is cancelled at once. A job a runner holds is marked; the runner stops it (its process group is killed) and reports it cancelled.",
  flags: [JSON_FLAG, ...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const job = await conn.cancelJob(flags.args[0]!);
      if (flags.bool("json")) writeLine(io.stdout, JSON.stringify(job, null, 2));
      else if (job.state === "cancelled") writeLine(io.stderr, `Cancelled ${job.id}.`);
      else writeLine(io.stderr, `Asked ${job.runner ?? "its runner"} to stop ${job.id} (${job.state}).`);
      return 0;
    } finally {
      conn.close();
    }
  },
};

function stateWord(j: JobInfo): string {
  return j.cancelRequested && j.state !== "cancelled" ? `${j.state} (cancelling)` : j.state;
}

function result(j: JobInfo): string {
  if (j.exitCode !== null) return `exit ${j.exitCode}`;
  return j.error ?? "";
}

function describeJob(j: JobInfo): string {
  const rows: [string, string | null][] = [
    ["id", j.id],
    ["app", j.app],
    ["operation", j.operation],
    ["command", j.command],
    ["state", stateWord(j)],
    ["target", j.target],
    ["runner", j.runner],
    ["deployment", j.deployment],
    ["queued", j.queuedAt],
    ["assigned", j.assignedAt],
    ["started", j.startedAt],
    ["finished", j.finishedAt],
    ["exit code", j.exitCode === null ? null : String(j.exitCode)],
    ["error", j.error],
    ["attempts", String(j.attempts)],
  ];
  return rows
    .filter(([, v]) => v !== null)
    .map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`)
    .join("\n");
}
