/**
 * The server's side of runners (RunnerJobs, WatchJob, the JobBroker) driven through the real RPCs
 * of an in-process server with a short lease: what a runner is given, when, and what happens to a
 * job whose runner goes silent, reconnects or reports late.
 */
import { Readable } from "node:stream";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import {
  Connection,
  type JobEventInfo,
  type PausableStream,
  type RunnerEvent,
  type RunnerStream,
} from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import type { ServerConfigInput } from "../../src/server/config.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

/** A runner driven by hand: the events it got, and its stream. */
interface FakeRunner {
  readonly events: RunnerEvent[];
  readonly stream: RunnerStream;
  ended: Error | null | undefined;
  /** The assignment after the first `n` events (waits for it). */
  nextAssignment(): Promise<Extract<RunnerEvent, { kind: "assignment" }>>;
  cancels(): string[];
}

let sessions = 0;

function openRunner(
  conn: Connection,
  hello: { targetedOnly?: boolean; runningJob?: string; runnerId?: string; session?: string } = {},
): FakeRunner {
  const events: RunnerEvent[] = [];
  let taken = 0;
  const r: FakeRunner = {
    events,
    ended: undefined,
    stream: conn.runnerJobs(
      {
        labels: ["os=linux"],
        targetedOnly: hello.targetedOnly ?? false,
        session: `session-${++sessions}`,
        ...hello,
      },
      (e) => events.push(e),
      (err) => {
        r.ended = err ?? null;
      },
    ),
    async nextAssignment() {
      let found: Extract<RunnerEvent, { kind: "assignment" }> | undefined;
      await waitFor(() => {
        const all = events.filter((e) => e.kind === "assignment");
        found = all[taken] as typeof found;
        return found !== undefined;
      }, "an assignment");
      taken++;
      return found!;
    },
    cancels: () => events.flatMap((e) => (e.kind === "cancel" ? [e.job] : [])),
  };
  return r;
}

async function setup(
  t: ExecutionContext,
  lease = "2s",
  config: Partial<ServerConfigInput> = {},
): Promise<{ s: TestServer; admin: Connection }> {
  const s = await startTestServer(t, { jobLeaseTimeout: lease, config });
  const admin = s.connect();
  await admin.createApp("web", {
    operations: { build: "make", deploy: "./deploy.sh", release: "./release.sh" },
  });
  return { s, admin };
}

async function runnerConn(s: TestServer, admin: Connection, id: string): Promise<Connection> {
  const token = await admin.createToken({ kind: "runner", description: id });
  return s.connect({ kind: "runner", id, token: token.token });
}

const state = async (admin: Connection, id: string) => (await admin.getJob(id)).state;

/**
 * A watcher of `jobId` that stops reading: on a TCP connection of its own (a subchannel pool of its own),
 * so that only its stream stops being read, it pauses at each event until `resume` (what grpc-js has
 * decoded it still hands over). `ended` settles when the server ends the stream.
 */
function stuckWatcher(
  t: ExecutionContext,
  s: TestServer,
  jobId: string,
  onEvent: (e: JobEventInfo) => void,
): { ended: Promise<Error | undefined>; resume(): void } {
  const own = new Connection(
    { address: s.address, token: s.token, tls: false, tlsSkipVerify: false, source: "test" },
    clientIdentity("cli", "stuck-watcher", BUILD_VERSION_INFO),
    { channel: { "grpc.use_local_subchannel_pool": 1 } },
  );
  t.teardown(() => own.close());
  let resumed = false;
  let handle: PausableStream | undefined;
  const ended = new Promise<Error | undefined>((resolve) => {
    handle = own.watchJob(
      jobId,
      (e) => {
        onEvent(e);
        if (!resumed) handle?.pause();
      },
      resolve,
    );
  });
  return {
    ended,
    resume: () => {
      resumed = true;
      handle!.resume();
    },
  };
}

test("a runner is welcomed, gets queued jobs one at a time oldest first, and its reports move them to their end", async (t) => {
  const { s, admin } = await setup(t);
  const b1 = await admin.queueJob({ app: "web", operation: "build" });
  const b2 = await admin.queueJob({ app: "web", operation: "build" });
  const r = openRunner(await runnerConn(s, admin, "r1"));
  await waitFor(() => r.events.length > 0, "the welcome");
  t.like(r.events[0], { kind: "welcome", runnerId: "r1", leaseMs: 2000 });
  const a1 = await r.nextAssignment();
  t.like(a1.job, { id: b1.id, state: "assigned", runner: "r1", command: "make" });
  t.is(a1.entrypointToken, "", "only deploys get a token");
  t.is(await state(admin, b2.id), "queued", "one job at a time");
  r.stream.started(b1.id);
  await waitFor(async () => (await state(admin, b1.id)) === "running", "running");
  r.stream.output(b1.id, "stdout", Buffer.from("compiling\n"));
  r.stream.done(b1.id, { exitCode: 0 });
  const a2 = await r.nextAssignment();
  t.is(a2.job.id, b2.id, "the next one as soon as the first is done");
  t.like(await admin.getJob(b1.id), { state: "success", exitCode: 0, runner: "r1" });
  const done = await admin.getJob(b1.id);
  t.truthy(done.startedAt && done.finishedAt && done.assignedAt);
  r.stream.started(b2.id);
  r.stream.done(b2.id, { exitCode: 7 });
  await waitFor(async () => (await state(admin, b2.id)) === "error", "error");
  t.like(await admin.getJob(b2.id), { exitCode: 7, error: "exit code 7" });
  // The inventory lists it as a runner.
  const inv = await admin.inventory();
  t.true(JSON.stringify(inv).includes('"r1"'));
});

test("a deploy gets a new deployment and an entrypoint token for it, unless the app turns the entrypoint off", async (t) => {
  const { s, admin } = await setup(t);
  const r = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "deploy" });
  const a = await r.nextAssignment();
  t.is(a.job.id, job.id);
  t.is(a.job.deployment, "web-v1");
  t.regex(a.entrypointToken, /^wpe_/);
  t.is(a.entrypointPort, 0, "no entrypoint listener");
  t.like((await admin.listDeployments("web"))[0], { id: "web-v1" });
  // The token is the deployment's: an entrypoint with it registers an instance of web-v1.
  const ep = s.connect({ kind: "entrypoint", id: "inst-1", token: a.entrypointToken });
  await new Promise<void>((resolve, reject) => {
    const h = ep.entrypointConfig(
      {
        instanceId: "inst-1",
        deploymentId: "web-v1",
        hostname: "h",
        pid: 1,
        startedAt: new Date().toISOString(),
      },
      () => {
        h.cancel();
        resolve();
      },
      (err) => (err ? reject(err) : undefined),
    );
  });
  r.stream.started(job.id);
  r.stream.done(job.id, { exitCode: 0 });
  await waitFor(async () => (await state(admin, job.id)) === "success", "success");

  await admin.updateApp("web", { entrypointDisabled: true });
  const plain = await admin.queueJob({ app: "web", operation: "deploy" });
  const b = await r.nextAssignment();
  t.is(b.job.id, plain.id);
  t.is(b.entrypointToken, "");
  t.is(b.job.deployment, null);
});

test("with an entrypoint listener, a deploy's assignment carries its port; other jobs' do not", async (t) => {
  const { s, admin } = await setup(t, "2s", { listenEntrypoint: "127.0.0.1:0" });
  const port = Number(s.server.entrypointAddress?.split(":").at(-1));
  t.true(port > 0);
  const r = openRunner(await runnerConn(s, admin, "r1"));
  await admin.queueJob({ app: "web", operation: "build" });
  const build = await r.nextAssignment();
  t.is(build.entrypointPort, 0);
  r.stream.started(build.job.id);
  r.stream.done(build.job.id, { exitCode: 0 });
  await admin.queueJob({ app: "web", operation: "deploy" });
  const deploy = await r.nextAssignment();
  t.regex(deploy.entrypointToken, /^wpe_/);
  t.is(deploy.entrypointPort, port);
  // And `deployment create`'s answer says the same.
  t.is((await admin.createDeployment("web")).entrypointPort, port);
});

test("a lease that runs out: an unstarted job and a running build go back to the queue, a running deploy fails", async (t) => {
  const { s, admin } = await setup(t, "1s");
  const build = await admin.queueJob({ app: "web", operation: "build" });
  const deploy = await admin.queueJob({ app: "web", operation: "deploy" });
  const states: string[] = [];
  admin.watchJob(
    build.id,
    (e) => {
      if (e.kind === "job") states.push(e.job.state);
    },
    () => {},
  );
  const conn = await runnerConn(s, admin, "r1");
  const r1 = openRunner(conn);
  t.is((await r1.nextAssignment()).job.id, build.id);
  // Never started, nothing said for a lease: back to the queue, and the silent runner, which still
  // looked connected, is told to stop and cut off (it is not handed the job straight back).
  await waitFor(async () => (await state(admin, build.id)) === "queued", "the unstarted job requeued", 5000);
  t.deepEqual(r1.cancels(), [build.id]);
  await waitFor(() => r1.ended !== undefined, "the silent runner's stream ended");
  // It comes back running nothing and takes the job again, as a second attempt.
  const r1b = openRunner(conn);
  const again = await r1b.nextAssignment();
  t.like(again.job, { id: build.id, attempts: 2 });
  r1b.stream.started(build.id);
  // Heartbeats keep it: for three leases' time it stays running.
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    r1b.stream.heartbeat(build.id);
    await new Promise((res) => setTimeout(res, 300));
  }
  t.is(await state(admin, build.id), "running");
  // Silent while running a build: requeued.
  await waitFor(async () => (await state(admin, build.id)) === "queued", "the running build requeued", 5000);
  t.like(await admin.getJob(build.id), { runner: null, startedAt: null });
  t.deepEqual(states, ["queued", "assigned", "queued", "assigned", "running", "queued"]);
  // Another runner takes it and finishes it, then takes the deploy, starts it and goes silent: it is
  // not repeated; it fails, saying why.
  const r2conn = await runnerConn(s, admin, "r2");
  const r2 = openRunner(r2conn);
  t.like((await r2.nextAssignment()).job, { id: build.id, attempts: 3 });
  r2.stream.started(build.id);
  r2.stream.done(build.id, { exitCode: 0 });
  const d = await r2.nextAssignment();
  t.is(d.job.id, deploy.id);
  r2.stream.started(deploy.id);
  await waitFor(async () => (await state(admin, deploy.id)) === "error", "the running deploy failed", 5000);
  t.regex(
    (await admin.getJob(deploy.id)).error ?? "",
    /^runner r2 lost: its runner sent nothing for the lease timeout while the deploy ran; a deploy is not repeated on its own/,
  );
  // It reconnects still running the deploy: it is told to stop it, its late report changes nothing.
  const r2b = openRunner(r2conn, { runningJob: deploy.id });
  await waitFor(() => r2b.cancels().includes(deploy.id), "a cancel for the lost deploy");
  r2b.stream.done(deploy.id, { exitCode: 0 });
  await new Promise((res) => setTimeout(res, 200));
  t.is(await state(admin, deploy.id), "error");
});

test("a runner that reconnects naming its running job keeps it and finishes it; one that comes back without it loses it", async (t) => {
  const { s, admin } = await setup(t, "2s");
  const conn = await runnerConn(s, admin, "r1");
  const first = openRunner(conn);
  const job = await admin.queueJob({ app: "web", operation: "release" });
  await first.nextAssignment();
  first.stream.started(job.id);
  await first.stream.close();
  const second = openRunner(conn, { runningJob: job.id });
  await waitFor(() => second.events.some((e) => e.kind === "welcome"), "welcome");
  second.stream.output(job.id, "stdout", Buffer.from("released\n"));
  second.stream.done(job.id, { exitCode: 0 });
  await waitFor(async () => (await state(admin, job.id)) === "success", "success after the reconnect");
  t.deepEqual(second.cancels(), []);

  const build = await admin.queueJob({ app: "web", operation: "build" });
  await second.nextAssignment();
  second.stream.started(build.id);
  await second.stream.close();
  // The runner restarted and runs nothing: the build it held is requeued at once, and it takes it again.
  const third = openRunner(conn);
  const a = await third.nextAssignment();
  t.like(a.job, { id: build.id, attempts: 2 });
  // A runner that names a job it does not hold is told to stop it.
  await third.stream.close();
  const fourth = openRunner(conn, { runningJob: job.id });
  await waitFor(() => fourth.cancels().includes(job.id), "a cancel for a job that already ended");
});

test("cancel: a queued job ends at once; a held one is sent to its runner, which reports it cancelled", async (t) => {
  const { s, admin } = await setup(t);
  const queued = await admin.queueJob({ app: "web", operation: "build" });
  t.like(await admin.cancelJob(queued.id), { state: "cancelled", error: "cancelled before it started" });
  const r = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r.nextAssignment();
  r.stream.started(job.id);
  await waitFor(async () => (await state(admin, job.id)) === "running", "running");
  t.like(await admin.cancelJob(job.id), { state: "running", cancelRequested: true });
  await waitFor(() => r.cancels().includes(job.id), "the runner told");
  r.stream.done(job.id, { exitCode: 143, cancelled: true, error: "cancelled" });
  await waitFor(async () => (await state(admin, job.id)) === "cancelled", "cancelled");
  t.like(await admin.getJob(job.id), { exitCode: 143 });
});

test("WatchJob sends the job, its kept output, then changes and output until it ends; skip_bytes skips what the caller has", async (t) => {
  const { s, admin } = await setup(t);
  const r = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r.nextAssignment();
  r.stream.started(job.id);
  r.stream.output(job.id, "stdout", Buffer.from("one\n"));
  r.stream.output(job.id, "stderr", Buffer.from("two\n"));
  await waitFor(async () => (await state(admin, job.id)) === "running", "running");
  const watch = (skipBytes: number) => {
    const events: JobEventInfo[] = [];
    const ended = new Promise<Error | undefined>((resolve) =>
      admin.watchJob(job.id, (e) => events.push(e), resolve, { skipBytes }),
    );
    return { events, ended };
  };
  const text = (events: JobEventInfo[]) =>
    events
      .map((e) =>
        e.kind === "job"
          ? `[${e.job.state}]`
          : e.kind === "skipped"
            ? `(skipped ${e.bytes})`
            : `${e.stream}:${e.data.toString()}`,
      )
      .join("");
  const all = watch(0);
  const rest = watch(5);
  await waitFor(() => all.events.length >= 3 && rest.events.length >= 2, "the kept output");
  r.stream.output(job.id, "stdout", Buffer.from("three\n"));
  r.stream.done(job.id, { exitCode: 0 });
  t.is(await all.ended, undefined);
  await rest.ended;
  t.is(text(all.events), "[running]stdout:one\nstderr:two\nstdout:three\n[success]");
  t.is(text(rest.events), "[running]stderr:wo\nstdout:three\n[success]");
  // More than the server kept (as after a restart): everything it has.
  const after = watch(1000);
  await after.ended;
  t.is(text(after.events), "[success]stdout:one\nstderr:two\nstdout:three\n");
});

test("bad hellos and reports are refused with what to do", async (t) => {
  const { s, admin } = await setup(t);
  const endOf = (r: FakeRunner) =>
    waitFor(() => r.ended !== undefined, "the stream's end").then(() => r.ended);
  // A CLI (management token) may only run its own jobs.
  const cli = openRunner(s.connect());
  t.regex(
    String((await endOf(cli))?.message),
    /a management token runs only the jobs it queued itself: say targeted_only/,
  );
  // The role is the token's: a runner token in a CLI's clothes is refused.
  const disguised = openRunner(
    s.connect({ kind: "cli", token: (await admin.createToken({ kind: "runner", description: "x" })).token }),
    { targetedOnly: true },
  );
  t.regex(String((await endOf(disguised))?.message), /^a runner token is for runners, not for a cli$/);
  const badJob = openRunner(await runnerConn(s, admin, "r1"), { runningJob: "../etc" });
  t.regex(String((await endOf(badJob))?.message), /running_job "\.\.\/etc" is not a job id/);
  const stolen = openRunner(s.connect(), { targetedOnly: true, runnerId: "someone-else.run-1" });
  t.regex(String((await endOf(stolen))?.message), /is not one this server gave client test-cli/);
  const r = openRunner(await runnerConn(s, admin, "r2"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r.nextAssignment();
  r.stream.output(job.id, "stdin" as "stdout", Buffer.from("x"));
  t.regex(String((await endOf(r))?.message), /output stream "stdin" is not stdout or stderr/);
  // A targeted job for a CLI runner: only it gets it; once it is gone for a lease, the job fails.
  const mine = openRunner(s.connect(), { targetedOnly: true });
  await waitFor(() => mine.events.length > 0, "welcome");
  const runnerId = (mine.events[0] as Extract<RunnerEvent, { kind: "welcome" }>).runnerId;
  t.regex(runnerId, /^test-cli\.run-[0-9a-f]{12}$/);
  await mine.stream.close();
  await t.throwsAsync(admin.queueJob({ app: "web", operation: "build", target: runnerId }), {
    message: `no runner ${runnerId} is connected to take the job`,
  });
  // Another runner process under a connected runner's id is refused; the same process reconnecting replaces it.
  const r3conn = await runnerConn(s, admin, "r3");
  const r3 = openRunner(r3conn, { session: "first-process" });
  await waitFor(() => r3.events.length > 0, "welcome");
  const twin = openRunner(r3conn, { session: "other-process" });
  t.regex(String((await endOf(twin))?.message), /^runner id r3 is in use by another connected runner$/);
  t.is(r3.ended, undefined, "the first keeps its stream");
  const again = openRunner(r3conn, { session: "first-process" });
  await waitFor(() => again.events.length > 0, "welcome of the reconnect");
  t.is(await endOf(r3), null, "the older stream of the same process is ended");
  const noSession = openRunner(r3conn, { session: "" });
  t.regex(String((await endOf(noSession))?.message), /hello\.session must be/);
});

test("after a live restore the jobs are the snapshot's: runners are asked to reconnect, and a job it does not hold is stopped", async (t) => {
  const { s, admin } = await setup(t);
  const conn = await runnerConn(s, admin, "r1");
  const kept = await admin.queueJob({ app: "web", operation: "build" });
  const chunks: Buffer[] = [];
  for await (const c of admin.takeSnapshot()) chunks.push(c as Buffer);
  // After the snapshot: a job the snapshot does not have, run by r1.
  const r = openRunner(conn);
  t.is((await r.nextAssignment()).job.id, kept.id);
  r.stream.started(kept.id);
  r.stream.done(kept.id, { exitCode: 0 });
  const lost = await admin.queueJob({ app: "web", operation: "build" });
  t.is((await r.nextAssignment()).job.id, lost.id);
  r.stream.started(lost.id);
  await admin.restoreSnapshot(Readable.from([Buffer.concat(chunks)]), { mode: "live" });
  await waitFor(() => r.ended !== undefined, "the runner's stream ended by the restore");
  // In the restored data `kept` is queued again and `lost` never existed.
  t.is((await admin.getJob(kept.id)).state, "queued");
  const back = openRunner(conn, { runningJob: lost.id });
  await waitFor(
    () => back.cancels().includes(lost.id),
    "the runner told to stop the job the server no longer has",
  );
  // Until it reports that job ended it gets nothing new (it is still busy with it).
  await new Promise((r) => setTimeout(r, 300));
  t.false(back.events.some((e) => e.kind === "assignment"));
  back.stream.done(lost.id, { cancelled: true, exitCode: 143 });
  t.is((await back.nextAssignment()).job.id, kept.id, "then it takes the snapshot's queued job");
});

test("a job a busy runner refuses goes back to the queue for another; a job queued for a runner that went away fails after a lease", async (t) => {
  const { s, admin } = await setup(t, "1s");
  const r1 = openRunner(await runnerConn(s, admin, "r1"));
  const a = await admin.queueJob({ app: "web", operation: "build" });
  await r1.nextAssignment();
  const b = await admin.queueJob({ app: "web", operation: "build", target: "r1" });
  t.is(await state(admin, b.id), "queued", "r1 is busy");
  // r1 refuses a job before starting it (as a runner does when it is still busy): requeued, not failed.
  r1.stream.done(a.id, { error: "the runner is already running a job" });
  await waitFor(async () => (await state(admin, a.id)) === "queued", "the refused job requeued");
  t.is((await admin.getJob(a.id)).error, null);
  // r1 leaves; b could only ever be r1's: after a lease it fails, saying why.
  await r1.stream.close();
  await waitFor(async () => (await state(admin, b.id)) === "error", "the targeted job failed", 5000);
  t.is(
    (await admin.getJob(b.id)).error,
    "runner r1, the only one that could take it, went away before taking it",
  );
});

test("output the server no longer keeps is counted as skipped, so a follower that reconnects prints nothing twice", async (t) => {
  const { s, admin } = await setup(t);
  const r = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r.nextAssignment();
  r.stream.started(job.id);
  const chunk = Buffer.alloc(32 * 1024, "x");
  for (let i = 0; i < 10; i++) r.stream.output(job.id, "stdout", chunk); // 320 KiB: more than the 256 KiB kept
  r.stream.done(job.id, { exitCode: 0 });
  await waitFor(async () => (await state(admin, job.id)) === "success", "success");
  const watch = (skipBytes: number) =>
    new Promise<JobEventInfo[]>((resolve, reject) => {
      const events: JobEventInfo[] = [];
      admin.watchJob(
        job.id,
        (e) => events.push(e),
        (err) => (err ? reject(err) : resolve(events)),
        { skipBytes },
      );
    });
  const first = await watch(0);
  const skipped = first.find((e) => e.kind === "skipped");
  const received = first.reduce((n, e) => n + (e.kind === "output" ? e.data.length : 0), 0);
  t.like(skipped, { kind: "skipped", bytes: 2 * 32 * 1024 });
  t.is(received, 8 * 32 * 1024);
  // Everything counted (skipped + received): a second watch gets no output again.
  const second = await watch(2 * 32 * 1024 + received);
  t.deepEqual(
    second.map((e) => e.kind),
    ["job"],
  );
});

test("a watcher that stops reading is written no more than its call takes; the rest waits, what was dropped meanwhile comes as skipped, and a reading watcher gets it all", async (t) => {
  const { s, admin } = await setup(t);
  const r = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r.nextAssignment();
  // 16 MiB of output, each 32 KiB chunk numbered: far more than the 256 KiB the server keeps, and than
  // the 4 MiB HTTP/2 window of the watcher's connection.
  const CHUNK = 32 * 1024;
  const chunks = Array.from({ length: 512 }, (_, i) => Buffer.alloc(CHUNK, `chunk ${i} `));
  const all = Buffer.concat(chunks);
  /** Checks each event against `all`: output at the position reached, skipped bytes counted. */
  const reader = () => {
    const r = {
      at: 0,
      received: 0,
      skipped: 0,
      states: [] as string[],
      ok: true,
      /** Where the output stood when "running" came, and where the first output after it started. */
      atRunning: -1,
      firstAfterRunning: -1,
      /** The end of the output received before "running". */
      outputBeforeRunning: 0,
    };
    return {
      r,
      on: (e: JobEventInfo) => {
        if (e.kind === "job") {
          r.states.push(e.job.state);
          if (e.job.state === "running") r.atRunning = r.at;
        } else if (e.kind === "skipped") {
          r.skipped += e.bytes;
          r.at += e.bytes;
        } else {
          if (r.atRunning >= 0 && r.firstAfterRunning < 0) r.firstAfterRunning = r.at;
          if (r.atRunning < 0) r.outputBeforeRunning = r.at + e.data.length;
          if (!e.data.equals(all.subarray(r.at, r.at + e.data.length))) r.ok = false;
          r.at += e.data.length;
          r.received += e.data.length;
        }
      },
    };
  };
  const stuck = reader();
  const stuckWatch = stuckWatcher(t, s, job.id, stuck.on);
  await waitFor(() => stuck.r.states.length === 1, "the stuck watcher's first event");
  const reading = reader();
  const readingEnded = new Promise<Error | undefined>((resolve) =>
    admin.watchJob(job.id, reading.on, resolve),
  );
  await waitFor(() => reading.r.states.length === 1, "the reading watcher's first event");

  // Half the output before the runner says the job started (a runner may send output while the job is
  // assigned), half after: the stuck watcher's "running" must come between the two.
  const half = chunks.length / 2;
  for (const c of chunks.slice(0, half)) if (!r.stream.output(job.id, "stdout", c)) await r.stream.drained();
  r.stream.started(job.id);
  await waitFor(async () => (await state(admin, job.id)) === "running", "running");
  for (const c of chunks.slice(half)) if (!r.stream.output(job.id, "stdout", c)) await r.stream.drained();
  r.stream.done(job.id, { exitCode: 0 });
  t.is(await readingEnded, undefined);
  t.true(reading.r.ok, "the reading watcher's output is the job's, in order");
  t.is(reading.r.received, all.length);
  t.is(reading.r.skipped, 0);
  t.deepEqual(reading.r.states, ["assigned", "running", "success"]);
  t.is(reading.r.atRunning, half * CHUNK, "the reading watcher got running between the halves");

  // The stuck watcher got at most what its window and buffers hold, then resumes.
  const beforeResume = stuck.r.received;
  t.true(
    beforeResume < 8 * 1024 * 1024,
    `${beforeResume} bytes reached the stuck watcher before it read again`,
  );
  stuckWatch.resume();
  t.is(await stuckWatch.ended, undefined);
  t.true(stuck.r.ok, "the stuck watcher's output is the job's, in order, with the skipped bytes counted");
  t.true(stuck.r.skipped > 0, "the server dropped output while the watcher was stuck, and says so");
  t.is(stuck.r.skipped + stuck.r.received, all.length);
  t.deepEqual(stuck.r.states, ["assigned", "running", "success"]);
  // The change held back for the stuck watcher came after the output before it and before the output after it.
  t.true(
    stuck.r.outputBeforeRunning <= half * CHUNK,
    `output up to ${stuck.r.outputBeforeRunning} came before running`,
  );
  t.true(
    stuck.r.firstAfterRunning >= half * CHUNK,
    `first output after running at ${stuck.r.firstAfterRunning}`,
  );
  t.log(
    `stuck watcher: ${beforeResume} bytes before it read again, ${stuck.r.skipped} skipped, ${stuck.r.received} received in all`,
  );
});

test("a stuck watcher whose job's output log is let go among 100 newer jobs' gets the new log's output whole once it reads again", async (t) => {
  // A lease long enough for the job to stay its runner's while 100 others run.
  const { s, admin } = await setup(t, "60s");
  const r1 = openRunner(await runnerConn(s, admin, "r1"));
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await r1.nextAssignment();
  r1.stream.started(job.id);
  await waitFor(async () => (await state(admin, job.id)) === "running", "running");
  const events: JobEventInfo[] = [];
  const watcher = stuckWatcher(t, s, job.id, (e) => events.push(e));
  await waitFor(() => events.length === 1, "the first event");
  // 8 MiB the watcher does not read: the server stops writing to it.
  const chunk = Buffer.alloc(32 * 1024, "o");
  for (let i = 0; i < 256; i++) if (!r1.stream.output(job.id, "stdout", chunk)) await r1.stream.drained();
  // 100 newer jobs with output, on another runner: the job's log is let go (the broker keeps 100).
  const r2 = openRunner(await runnerConn(s, admin, "r2"));
  for (let i = 0; i < 100; i++) {
    const other = await admin.queueJob({ app: "web", operation: "build" });
    await r2.nextAssignment();
    r2.stream.started(other.id);
    r2.stream.output(other.id, "stdout", Buffer.from(`other ${i}\n`));
    r2.stream.done(other.id, { exitCode: 0 });
    await waitFor(async () => (await state(admin, other.id)) === "success", "the other job's end");
  }
  // The job writes on, into a new log, and ends.
  r1.stream.output(job.id, "stdout", Buffer.from("after the log was let go\n"));
  r1.stream.done(job.id, { exitCode: 0 });
  await waitFor(async () => (await state(admin, job.id)) === "success", "success");
  watcher.resume();
  t.is(await watcher.ended, undefined);
  const outputs = events.flatMap((e) => (e.kind === "output" ? [e.data.toString()] : []));
  t.is(outputs.at(-1), "after the log was let go\n", "the new log's output, whole, at the end");
  t.true(
    outputs.slice(0, -1).every((o) => /^o+$/.test(o)),
    "before it, only the first log's output, never a piece of the new one",
  );
  t.deepEqual(
    events.flatMap((e) => (e.kind === "job" ? [e.job.state] : [])),
    ["running", "success"],
  );
});
