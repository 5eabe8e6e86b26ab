/**
 * Runners and jobs with real processes: `waypoint up` running the example app's operations as a local
 * runner, `waypoint runner agent` as a dedicated one, and the faults DESIGN §10 promises to survive:
 * no runner, a runner killed with SIGKILL mid-job, a server restart, a cancel; bad input.
 */
import type { ChildProcess } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { cli } from "../helpers/cli-inprocess.js";
import { freePort, REPO_ROOT, runCli, spawnWaypoint, startServerProcess } from "../helpers/process.js";
import { startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const TSX_LOADER = import.meta.resolve("tsx");
const ENTRYPOINT = `${process.execPath} --import=${TSX_LOADER} ${join(REPO_ROOT, "src/bin/waypoint-entrypoint.ts")}`;

/** A command that records its process group in `file`, then runs `rest`. */
const recordGroup = (file: string, rest: string) => `awk '{print $5}' /proc/$$/stat > ${file}; ${rest}`;

/** Whether a process that is not a zombie (its parent may reap late) is in group `pgid`, read from /proc. */
function groupAlive(pgid: number): boolean {
  for (const pid of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    } catch {
      continue;
    }
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(pgrp) === pgid && state !== "Z") return true;
  }
  return false;
}

async function pgidIn(file: string): Promise<number> {
  await waitFor(
    () => existsSync(file) && readFileSync(file, "utf8").trim() !== "",
    `the job to write ${file}`,
    30_000,
  );
  return Number(readFileSync(file, "utf8").trim());
}

interface Agent {
  readonly child: ChildProcess;
  log(): string;
}

function startAgent(t: ExecutionContext, address: string, token: string, id: string, cwd?: string): Agent {
  const child = spawnWaypoint(t, ["runner", "agent", `-id=${id}`, "-grace=1s", "-labels=os=linux"], {
    env: { WAYPOINT_SERVER_ADDR: address, WAYPOINT_SERVER_TOKEN: token },
    ...(cwd ? { cwd } : {}),
  });
  let log = "";
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    log += s;
  });
  child.stdout!.resume();
  return { child, log: () => log };
}

const exited = (child: ChildProcess) =>
  new Promise<number>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? 128);
    else child.once("exit", (code, signal) => resolve(code ?? (signal === "SIGKILL" ? 137 : 143)));
  });

test("waypoint up runs the example's build, deploy and release here; its instance (on -listen-entrypoint) and logs show; the jobs are recorded", async (t) => {
  // The deploy's entrypoint connects through the server's entrypoint listener (the runner is told its port).
  const s = await startTestServer(t, { config: { listenEntrypoint: "127.0.0.1:0" } });
  const dir = tempDir(t);
  cpSync(join(REPO_ROOT, "examples", "hello"), dir, { recursive: true });
  const base = (await freePort()) - 1;
  const env = {
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_SERVER_TOKEN: s.token,
    WAYPOINT_ENTRYPOINT: ENTRYPOINT,
    HELLO_BASE_PORT: String(base),
  };
  t.teardown(() => {
    const pid = join(dir, "run", "hello-v1.pid");
    if (existsSync(pid)) {
      try {
        process.kill(Number(readFileSync(pid, "utf8")), "SIGKILL");
      } catch {}
    }
  });
  const wp = (...args: string[]) => cli(t, args, env);
  t.is(
    (await wp("app", "create", "hello", "-build=./build.sh", "-deploy=./deploy.sh", "-release=./release.sh"))
      .code,
    0,
  );
  t.is((await wp("config", "set", "-app=hello", "GREETING=howdy")).code, 0);
  const up = await runCli(t, ["up", "-app=hello"], { env, cwd: dir });
  t.is(up.code, 0, up.stderr);
  t.regex(
    up.stdout,
    /^built build\/app\.mjs \(job job-1\)\ndeployed hello-v1 on http:\/\/127\.0\.0\.1:\d+\/\nreleased hello-v1/,
  );
  t.regex(up.stderr, /==> job-1: build of hello: \.\/build\.sh\n==> job-1 build succeeded in [\d.]+s\n/);
  t.regex(up.stderr, /==> job-2: deploy of hello \(deployment hello-v1\): \.\/deploy\.sh\n/);
  t.regex(up.stderr, /==> job-3 release succeeded/);
  // The app answers with its config, its instance is connected, its output is in the server's logs.
  const port = Number(readFileSync(join(dir, "run", "hello-v1.port"), "utf8"));
  t.is(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "howdy from hello-v1\n");
  const instances = JSON.parse((await wp("instances", "-json")).stdout) as Record<string, unknown>[];
  t.like(instances[0], { app: "hello", deployment: "hello-v1", connected: true });
  await waitFor(
    async () => (await wp("logs", "-app=hello")).stdout.includes("hello listening on 127.0.0.1"),
    "the app's logs",
  );
  // Every job is recorded with its runner (this CLI's run) and its times.
  const jobs = JSON.parse((await wp("job", "list", "-json")).stdout) as Record<string, unknown>[];
  t.deepEqual(
    jobs.map((j) => [j.id, j.operation, j.state, j.exitCode]),
    [
      ["job-1", "build", "success", 0],
      ["job-2", "deploy", "success", 0],
      ["job-3", "release", "success", 0],
    ],
  );
  for (const j of jobs) {
    t.regex(String(j.runner), /^cli_[0-9a-f]+\.run-[0-9a-f]{12}$/);
    for (const k of ["queuedAt", "assignedAt", "startedAt", "finishedAt"])
      t.regex(String(j[k]), /^\d{4}-\d\d-\d\dT/);
  }
  t.is(jobs[1]!.deployment, "hello-v1");
  // A failing operation stops `up` with the job's exit code.
  await wp("app", "update", "hello", "-build=echo broken >&2; exit 4");
  const failed = await runCli(t, ["up", "-app=hello"], { env, cwd: dir });
  t.is(failed.code, 4);
  t.regex(failed.stderr, /broken\n==> job-4 build failed in [\d.]+s: exit code 4\n$/);
});

test("with no runner a job waits queued; an agent started later takes it; -remote follows its output and exit code", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  await admin.createApp("web", {
    operations: {
      build: "echo building on $WAYPOINT_JOB_ID; echo warn >&2",
      release: "echo releasing; exit 3",
    },
  });
  const env = { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token };
  const remote = runCli(t, ["build", "-remote", "-app=web"], { env });
  await waitFor(async () => (await admin.listJobs({ states: ["queued"] })).length === 1, "the queued job");
  const list = await cli(t, ["job", "list"], env);
  t.regex(list.stdout, /\njob-1 +web +build +queued +- +(now|\d+s ago) *\n/);
  const runner = await admin.createToken({ kind: "runner", description: "agent" });
  const agent = startAgent(t, s.address, runner.token, "agent-1");
  const built = await remote;
  t.is(built.code, 0, built.stderr);
  t.is(built.stdout, "building on job-1\n");
  t.regex(built.stderr, /==> job-1: build of web queued; waiting for a runner\n/);
  t.regex(built.stderr, /warn\n/);
  t.regex(built.stderr, /==> job-1 build succeeded/);
  const released = await runCli(t, ["release", "-remote", "-app=web"], { env });
  t.is(released.code, 3);
  t.regex(released.stderr, /==> job-2 release failed in [\d.]+s: exit code 3\n$/);
  // The agent is in the inventory as a runner, with its version.
  const versions = JSON.parse((await cli(t, ["versions", "-json"], env)).stdout) as {
    components: { kind: string; id: string; version: string }[];
  };
  t.like(
    versions.components.find((c) => c.id === "agent-1"),
    { kind: "runner" },
  );
  t.regex(agent.log(), /connected as agent-1; waiting for jobs\n/);
  t.regex(agent.log(), /job-1: build of web: running "echo building/);
  // `job get -f` of a finished job prints what the server kept, and exits with the job's code.
  const follow = await runCli(t, ["job", "get", "-f", "job-2"], { env });
  t.is(follow.code, 3);
  t.is(follow.stdout, "releasing\n");
  agent.child.kill("SIGTERM");
  t.is(await exited(agent.child), 0);
  t.regex(agent.log(), /stopped\n$/);
});

test("kill -9 of a runner mid-job: a build is requeued and a deploy fails within the lease, and the job's process group is gone", async (t) => {
  const s = await startTestServer(t, { jobLeaseTimeout: "2s" });
  const dir = tempDir(t);
  const admin = s.connect();
  await admin.createApp("web", {
    operations: {
      build: recordGroup(join(dir, "build.pgid"), "sleep 60 & sleep 60"),
      deploy: recordGroup(join(dir, "deploy.pgid"), "trap '' TERM; sleep 60"),
    },
  });
  const token = (await admin.createToken({ kind: "runner", description: "agents" })).token;
  const build = await admin.queueJob({ app: "web", operation: "build" });
  const a = startAgent(t, s.address, token, "agent-a");
  const buildGroup = await pgidIn(join(dir, "build.pgid"));
  await waitFor(async () => (await admin.getJob(build.id)).state === "running", "the build running");
  a.child.kill("SIGKILL");
  await waitFor(() => !groupAlive(buildGroup), "the build's process group gone", 5000);
  await waitFor(async () => (await admin.getJob(build.id)).state === "queued", "the build requeued", 10_000);
  t.like(await admin.getJob(build.id), { runner: null, attempts: 1 });
  await admin.cancelJob(build.id);

  const deploy = await admin.queueJob({ app: "web", operation: "deploy" });
  const b = startAgent(t, s.address, token, "agent-b");
  const deployGroup = await pgidIn(join(dir, "deploy.pgid"));
  await waitFor(async () => (await admin.getJob(deploy.id)).state === "running", "the deploy running");
  b.child.kill("SIGKILL");
  // It ignores SIGTERM: the group gets SIGKILL after the agent's 1 s grace.
  await waitFor(() => !groupAlive(deployGroup), "the deploy's process group gone", 6000);
  await waitFor(async () => (await admin.getJob(deploy.id)).state === "error", "the deploy failed", 10_000);
  t.regex(
    (await admin.getJob(deploy.id)).error ?? "",
    /^runner agent-b lost: .*a deploy is not repeated on its own/,
  );
  t.is((await admin.getJob(deploy.id)).deployment, "web-v1");
});

test("a server restart with a running and a queued job loses nothing: the agent reconnects and both finish", async (t) => {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const db = join(tempDir(t), "data.db");
  const args = [`-listen-grpc=127.0.0.1:${grpcPort}`, `-listen-http=127.0.0.1:${httpPort}`];
  const first = await startServerProcess(t, { args, db });
  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${first.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  const admin = new Connection(
    {
      address: first.grpcAddress,
      token: boot.stdout.trim(),
      tls: false,
      tlsSkipVerify: false,
      source: "test",
    },
    clientIdentity("cli", "restart-test", BUILD_VERSION_INFO),
  );
  t.teardown(() => admin.close());
  const gate = join(tempDir(t), "gate");
  await admin.createApp("web", {
    operations: { build: `echo start; while [ ! -e ${gate} ]; do sleep 0.1; done; echo finished` },
  });
  const token = (await admin.createToken({ kind: "runner", description: "agent" })).token;
  const agent = startAgent(t, first.grpcAddress, token, "agent-1");
  const running = await admin.queueJob({ app: "web", operation: "build" });
  const queued = await admin.queueJob({ app: "web", operation: "build" });
  await waitFor(
    async () => (await admin.getJob(running.id)).state === "running",
    "the first job running",
    30_000,
  );
  t.is((await admin.getJob(queued.id)).state, "queued");
  t.is(await first.stop(), 0);
  await waitFor(() => /lost the server/.test(agent.log()), "the agent to notice");
  await startServerProcess(t, { args, db });
  // The command finishes while (or after) the agent reconnects: its report reaches the new server.
  writeFileSync(gate, "");
  await waitFor(
    async () => (await admin.listJobs().catch(() => [])).filter((j) => j.state === "success").length === 2,
    "both jobs to succeed",
    60_000,
  );
  t.like(await admin.getJob(running.id), { runner: "agent-1", exitCode: 0, attempts: 1 });
  t.like(await admin.getJob(queued.id), { runner: "agent-1", exitCode: 0 });
  t.is(agent.log().match(/connected as agent-1/g)?.length, 2, agent.log());
});

test("cancelling a running job kills its whole process group and records it cancelled", async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const admin = s.connect();
  await admin.createApp("web", {
    operations: { build: recordGroup(join(dir, "pgid"), "sleep 60 & sleep 60 & echo started; wait") },
  });
  const env = { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token };
  const token = (await admin.createToken({ kind: "runner", description: "agent" })).token;
  const agent = startAgent(t, s.address, token, "agent-1");
  const job = await admin.queueJob({ app: "web", operation: "build" });
  const group = await pgidIn(join(dir, "pgid"));
  await waitFor(async () => (await admin.getJob(job.id)).state === "running", "running");
  t.true(groupAlive(group));
  const cancel = await cli(t, ["job", "cancel", job.id], env);
  t.is(cancel.code, 0, cancel.stderr);
  t.is(cancel.stderr, `Asked agent-1 to stop ${job.id} (running).\n`);
  await waitFor(async () => (await admin.getJob(job.id)).state === "cancelled", "cancelled");
  t.false(groupAlive(group), "no process of the job is left");
  t.like(await admin.getJob(job.id), { exitCode: 143, error: "cancelled" });
  t.regex(
    agent.log(),
    new RegExp(`${job.id}: stopping it \\(cancelled\\)\n.*${job.id}: cancelled \\(exit code 143\\)`),
  );
});

test("bad input: unknown app, undefined operation, no -app, a runner token for management, an entrypoint token for a runner", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  await admin.createApp("web", { operations: { build: "true" } });
  const env = { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: s.token };
  const noApp = await cli(t, ["up", "-app=nope"], env);
  t.is(noApp.code, 1);
  t.regex(noApp.stderr, /^Error: no app "nope"\nHint: See `waypoint app list`/);
  const noRelease = await cli(t, ["release", "-app=web"], env);
  t.is(noRelease.code, 2);
  t.regex(
    noRelease.stderr,
    /^Error: app web has no release operation\nHint: Give it one with `waypoint app update web -release=COMMAND`\./,
  );
  const missing = await cli(t, ["deploy"], env);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^Error: -app is required\n/);
  const runnerToken = (await admin.createToken({ kind: "runner", description: "r" })).token;
  const asRunner = await cli(t, ["app", "create", "other"], { ...env, WAYPOINT_SERVER_TOKEN: runnerToken });
  t.is(asRunner.code, 4);
  t.regex(asRunner.stderr, /^Error: a runner token may not call \/waypoint\.v1\.Waypoint\/CreateApp/);
  const queue = await cli(t, ["build", "-app=web"], { ...env, WAYPOINT_SERVER_TOKEN: runnerToken });
  t.is(queue.code, 4, queue.stderr);
  const created = await admin.createDeployment("web");
  const agent = await runCli(t, ["runner", "agent", "-id=bad"], {
    env: { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: created.token },
  });
  t.is(agent.code, 4);
  t.regex(agent.stderr, /Error: an entrypoint token may not call \/waypoint\.v1\.Waypoint\/RunnerJobs/);
  const badLabel = await cli(t, ["runner", "agent", "-labels=no spaces"], env);
  t.is(badLabel.code, 2);
  t.regex(badLabel.stderr, /^Error: -labels: "no spaces" is not KEY=VALUE/);
});
