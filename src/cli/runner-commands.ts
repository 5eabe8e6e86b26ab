import { Connection } from "../client/connection.js";
import { contextsDir } from "../client/contexts.js";
import { clientIdentity, installationId } from "../client/identity.js";
import type { JobInfo } from "../client/runtime.js";
import { AppError } from "../protocol/errors.js";
import { parseGoDuration } from "../protocol/inventory.js";
import { OPERATIONS, type OperationName } from "../protocol/operations.js";
import { isComponentId, RUNNER_LABEL_PATTERN } from "../protocol/validate.js";
import { Runner, type RunnerActivity } from "../runner/runner.js";
import type { Command, Io } from "./command.js";
import { writeLine } from "./command.js";
import {
  CONNECTION_FLAGS,
  connect,
  connectionSettings,
  EMULATION_FLAGS,
  versionInfoFrom,
} from "./common-flags.js";
import { interruptible } from "./interrupt.js";
import { followJob, jobExit, writeOutput } from "./job-follow.js";

const GRACE_FLAG = {
  name: "grace",
  type: "string",
  usage: "how long a cancelled job gets between SIGTERM and SIGKILL of its process group",
  default: "10s",
  placeholder: "DURATION",
} as const;

function graceSeconds(text: string): number {
  const ms = parseGoDuration(text);
  if (ms === undefined || ms < 0 || ms > 3_600_000)
    throw new AppError(
      "USAGE",
      `-grace: ${JSON.stringify(text)} is not a duration between 0s and 1h (e.g. 10s)`,
    );
  return Math.ceil(ms / 1000);
}

export const runnerAgent: Command = {
  name: "runner agent",
  summary: "Run jobs for the server as a dedicated runner (runner token)",
  help: `Connects with a runner token (WAYPOINT_SERVER_TOKEN or -server-token; make one with \`waypoint token new
-kind=runner\`), registers as kind runner (it shows in \`waypoint versions\`), and runs queued jobs one at a time:
each as \`sh -c COMMAND\` in the directory the agent was started in, in a process group of its own that never
outlives the job or the agent. Its output goes to the server (\`waypoint job get -f ID\`). A deploy job gets
WAYPOINT_SERVER_ADDR, WAYPOINT_CEB_INVITE_TOKEN and WAYPOINT_DEPLOYMENT_ID for its new deployment; every job
gets WAYPOINT_JOB_ID, WAYPOINT_APP and WAYPOINT_OPERATION, and never the agent's own token.
The agent reconnects with backoff when the server goes away, keeping a running job. SIGINT or SIGTERM cancels
the running job (reported as cancelled) and exits 0; a refused token or version exits 4 or 5.`,
  flags: [
    {
      name: "id",
      type: "string",
      usage: "runner id (default: one made on first run and kept in the config dir)",
    },
    {
      name: "labels",
      type: "string-list",
      usage: "KEY=VALUE labels to report (repeat or comma-separate)",
      placeholder: "KEY=VALUE",
    },
    GRACE_FLAG,
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const id = flags.string("id") ?? installationId(contextsDir(io.env), "runner");
    if (!isComponentId(id))
      throw new AppError(
        "USAGE",
        `-id: ${JSON.stringify(id)} must be 1-128 letters, digits or . _ : - (starting with a letter or digit)`,
      );
    const labels = flags.list("labels").flatMap((s) => s.split(",").filter(Boolean));
    for (const l of labels)
      if (!RUNNER_LABEL_PATTERN.test(l))
        throw new AppError(
          "USAGE",
          `-labels: ${JSON.stringify(l)} is not KEY=VALUE (letters, digits and . _ / - : only)`,
        );
    const grace = graceSeconds(flags.string("grace")!);
    // Keepalive pings: an idle agent whose connection died without closing (a NAT timeout, a
    // partition) notices within ~30 s and reconnects, instead of waiting for jobs that never come.
    const conn = new Connection(
      connectionSettings(flags, io),
      clientIdentity("runner", id, versionInfoFrom(flags, io)),
      {
        channel: {
          "grpc.keepalive_time_ms": 20_000,
          "grpc.keepalive_timeout_ms": 10_000,
          "grpc.keepalive_permit_without_calls": 1,
        },
      },
    );
    const log = (text: string) => writeLine(io.stderr, `${new Date().toISOString()} ${text}`);
    const runner = new Runner({
      connection: conn,
      labels,
      targetedOnly: false,
      env: io.env,
      cwd: process.cwd(),
      graceSeconds: grace,
      onActivity: (a) => {
        const line = describeActivity(a);
        if (line) log(line);
      },
    });
    try {
      log(`runner ${id} connecting to ${conn.address}`);
      await interruptible(async (scope) => {
        runner.start();
        await Promise.race([
          runner.stopped,
          new Promise<void>((resolve) =>
            scope.signal.addEventListener("abort", () => resolve(), { once: true }),
          ),
        ]);
        if (scope.signal.aborted) {
          log("stopping: cancelling the running job, if any");
          await runner.stop("the runner agent was stopped");
        }
      });
      log("stopped");
      return 0;
    } finally {
      conn.close();
    }
  },
};

function describeActivity(a: RunnerActivity): string | undefined {
  switch (a.kind) {
    case "connected":
      return `connected as ${a.runnerId}; waiting for jobs`;
    case "disconnected":
      return !a.error || a.error.code === "UNAVAILABLE"
        ? `lost the server${a.error ? ` (${a.error.message})` : ""}; reconnecting in ${a.retryInMs} ms`
        : `the server refused this runner: ${a.error.message}; retrying in ${a.retryInMs} ms (${a.error.hint})`;
    case "assigned":
      return `${a.job.id}: ${a.job.operation} of ${a.job.app}: running ${JSON.stringify(a.job.command)}${a.job.deployment ? ` for ${a.job.deployment}` : ""}`;
    case "finished":
      return `${a.job}: ${outcomeText(a.result)}`;
    case "cancelling":
      return `${a.job}: stopping it (${a.reason})`;
    case "output":
      return undefined;
  }
}

function outcomeText(r: { exitCode?: number; error?: string; cancelled: boolean }): string {
  if (r.cancelled) return `cancelled${r.exitCode === undefined ? "" : ` (exit code ${r.exitCode})`}`;
  if (r.error) return `could not run: ${r.error}`;
  return r.exitCode === 0 ? "succeeded" : `failed with exit code ${r.exitCode}`;
}

function operationCommand(name: "up" | OperationName): Command {
  const ops = name === "up" ? "build, deploy and release (those the app defines, in that order)" : name;
  return {
    name,
    summary: name === "up" ? "Build, deploy and release an app" : `Run an app's ${name} operation`,
    help: `Queues the app's ${ops} as jobs on the server and, by default, runs them here as a local runner: each as
\`sh -c COMMAND\` in the current directory, its output printed as it comes, recorded on the server like any job.
With -remote they wait for a dedicated runner (\`waypoint runner agent\`) and their output is followed from the
server. Each job must succeed for the next to be queued. Exits 0 when all succeeded, else with the failed
job's exit code (1 if it had none); Ctrl-C cancels the running job and exits 130.${
      name === "up" || name === "deploy"
        ? `
A deploy gets WAYPOINT_SERVER_ADDR, WAYPOINT_CEB_INVITE_TOKEN and WAYPOINT_DEPLOYMENT_ID for a new deployment, so
a deploy command that starts \`waypoint-entrypoint …\` registers an instance. A process meant to outlive the job
must leave its process group (\`setsid\`), since the job's group is ended with the job.`
        : ""
    }`,
    flags: [
      { name: "app", type: "string", usage: "the app (required)", placeholder: "NAME" },
      { name: "remote", type: "boolean", usage: "queue for a dedicated runner instead of running here" },
      GRACE_FLAG,
      ...CONNECTION_FLAGS,
      ...EMULATION_FLAGS,
    ],
    async run(flags, io) {
      const appName = flags.string("app");
      if (!appName)
        throw new AppError("USAGE", "-app is required", {
          hint: `Run \`waypoint ${name} -app=NAME\`; see \`waypoint app list\`.`,
        });
      const grace = graceSeconds(flags.string("grace")!);
      const conn = connect(flags, io);
      try {
        // Fails fast (exit 3) when the server is unreachable, and names a missing app before anything runs.
        const app = (await conn.listApps()).find((a) => a.name === appName);
        if (!app)
          throw new AppError("NOT_FOUND", `no app ${JSON.stringify(appName)}`, {
            hint: "See `waypoint app list`, or create it with `waypoint app create NAME -build=… -deploy=…`.",
          });
        let operations: OperationName[];
        if (name === "up") {
          operations = OPERATIONS.filter((op) => app.operations[op]);
          if (operations.length === 0)
            throw new AppError("INVALID_ARGUMENT", `app ${appName} has no operations to run`, {
              hint: `Give it some with \`waypoint app update ${appName} -build=COMMAND -deploy=COMMAND\`.`,
            });
        } else operations = [name];
        return await interruptible((scope) =>
          flags.bool("remote")
            ? runRemote(io, conn, appName, operations, scope.signal)
            : runLocal(io, conn, appName, operations, grace, scope.signal),
        );
      } finally {
        conn.close();
      }
    },
  };
}

export const up = operationCommand("up");
export const build = operationCommand("build");
export const deploy = operationCommand("deploy");
export const release = operationCommand("release");

function status(io: Io, text: string): void {
  writeLine(io.stderr, `==> ${text}`);
}

function reportEnd(io: Io, job: JobInfo): void {
  const took =
    job.startedAt && job.finishedAt
      ? ` in ${((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000).toFixed(1)}s`
      : "";
  if (job.state === "success") status(io, `${job.id} ${job.operation} succeeded${took}`);
  else
    status(
      io,
      `${job.id} ${job.operation} ${job.state === "cancelled" ? "was cancelled" : "failed"}${took}: ${job.error ?? `exit code ${job.exitCode}`}`,
    );
}

function describeStart(job: JobInfo): string {
  return `${job.id}: ${job.operation} of ${job.app}${job.deployment ? ` (deployment ${job.deployment})` : ""}: ${job.command}`;
}

async function runLocal(
  io: Io,
  conn: Connection,
  app: string,
  operations: readonly OperationName[],
  grace: number,
  signal: AbortSignal,
): Promise<number> {
  const runner = new Runner({
    connection: conn,
    targetedOnly: true,
    env: io.env,
    cwd: process.cwd(),
    graceSeconds: grace,
    onActivity: (a) => {
      if (a.kind === "output") (a.stream === "stdout" ? io.stdout : io.stderr).write(a.data);
      else if (a.kind === "assigned") status(io, describeStart(a.job));
      else if (a.kind === "disconnected" && a.error)
        status(io, `lost the server (${a.error.message}); reconnecting`);
    },
  });
  runner.start();
  const abort = () => void runner.stop("interrupted (Ctrl-C)");
  signal.addEventListener("abort", abort, { once: true });
  try {
    const runnerId = await Promise.race([runner.ready, runner.stopped.then(() => undefined)]);
    if (!runnerId)
      throw signal.reason ?? new AppError("INTERRUPTED", "stopped before the server took the runner");
    for (const operation of operations) {
      const queued = await conn.queueJob({ app, operation, target: runnerId });
      const job = await followJob(conn, queued.id, { signal });
      reportEnd(io, job);
      if (job.state !== "success") return jobExit(job);
    }
    return 0;
  } finally {
    signal.removeEventListener("abort", abort);
    await runner.stop();
  }
}

async function runRemote(
  io: Io,
  conn: Connection,
  app: string,
  operations: readonly OperationName[],
  signal: AbortSignal,
): Promise<number> {
  for (const operation of operations) {
    const queued = await conn.queueJob({ app, operation });
    status(io, `${queued.id}: ${operation} of ${app} queued; waiting for a runner`);
    let job: JobInfo;
    try {
      job = await followJob(conn, queued.id, {
        signal,
        onOutput: writeOutput(io),
        onState: (j) => {
          if (j.state === "running") status(io, `${describeStart(j)} (runner ${j.runner})`);
        },
      });
    } catch (err) {
      if (signal.aborted) {
        const now = await conn.cancelJob(queued.id).catch(() => undefined);
        status(io, `interrupted: asked to cancel ${queued.id}${now ? ` (${now.state})` : ""}`);
      }
      throw err;
    }
    reportEnd(io, job);
    if (job.state !== "success") return jobExit(job);
  }
  return 0;
}
