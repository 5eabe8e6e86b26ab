/**
 * Following a job from the CLI (`job get -f`, `runner run`'s jobs): a stdout that takes no more pauses
 * the stream, so the server holds the output back rather than this process buffering it.
 */
import { PassThrough } from "node:stream";
import test from "ava";
import { followJob, writeOutput } from "../../src/cli/job-follow.js";
import type { JobEventInfo } from "../../src/client/connection.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

test("followJob pauses while its output takes no more, then gets the rest: the output skipped meanwhile counted, in order, and the job's end", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  await admin.createApp("web", { operations: { build: "make" } });
  const runnerToken = await admin.createToken({ kind: "runner", description: "r1" });
  const runnerConn = s.connect({ kind: "runner", id: "r1", token: runnerToken.token });
  let assigned: string | undefined;
  const runner = runnerConn.runnerJobs(
    { labels: ["os=linux"], targetedOnly: false, session: "follow-test-session" },
    (e) => {
      if (e.kind === "assignment") assigned = e.job.id;
    },
    () => {},
  );
  const job = await admin.queueJob({ app: "web", operation: "build" });
  await waitFor(() => assigned === job.id, "the assignment");
  runner.started(job.id);

  const chunks = Array.from({ length: 256 }, (_, i) => Buffer.alloc(32 * 1024, `chunk ${i} `));
  const all = Buffer.concat(chunks);
  const calls: { stream: string; data: Buffer }[] = [];
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const followed = followJob(admin, job.id, {
    onOutput: (stream, data) => {
      calls.push({ stream, data });
      // The first piece of output "fills the pipe" until the gate opens.
      return calls.length === 1 ? gate : undefined;
    },
  });
  runner.output(job.id, "stdout", chunks[0]!);
  await waitFor(() => calls.length === 1, "the first output");
  // Everything else, and the end, while the follower's output takes nothing; a second watcher reads it all.
  let seen = 0;
  const reading = new Promise<void>((resolve) =>
    admin.watchJob(
      job.id,
      (e: JobEventInfo) => {
        if (e.kind === "output") seen += e.data.length;
      },
      () => resolve(),
    ),
  );
  for (const c of chunks.slice(1)) if (!runner.output(job.id, "stdout", c)) await runner.drained();
  runner.done(job.id, { exitCode: 0 });
  await reading;
  t.is(seen, all.length);
  t.is(calls.length, 1, "nothing more was handed over while the output took no more");

  open();
  const ended = await followed;
  t.is(ended.state, "success");
  // What it printed: the output in order, with a note in place of what the server no longer kept.
  let at = 0;
  for (const c of calls) {
    const note = /^\[waypoint: (\d+) earlier bytes of output are no longer kept\]\n$/.exec(c.data.toString());
    if (c.stream === "stderr" && note) at += Number(note[1]);
    else {
      t.true(c.data.equals(all.subarray(at, at + c.data.length)), `output at ${at} is the job's`);
      at += c.data.length;
    }
  }
  t.is(at, all.length);
  t.true(
    calls.some((c) => c.stream === "stderr"),
    "the server kept 256 KiB of 8 MiB: the rest is noted as skipped",
  );
});

test("writeOutput writes to stdout or stderr, and answers a promise that settles on drain when the stream is full", async (t) => {
  const stdout = new PassThrough({ highWaterMark: 4 });
  const stderr = new PassThrough({ highWaterMark: 1024 });
  const out = writeOutput({ stdout, stderr });
  t.is(out("stderr", Buffer.from("ok\n")), undefined);
  t.is(stderr.read()?.toString(), "ok\n");
  const full = out("stdout", Buffer.from("more than four bytes\n"));
  t.true(full instanceof Promise);
  let settled = false;
  void full!.then(() => {
    settled = true;
  });
  await new Promise((r) => setImmediate(r));
  t.false(settled, "not before the stream drains");
  t.is(stdout.read()?.toString(), "more than four bytes\n");
  await full;
  t.true(settled);
  // A stream that fails settles it too: following is not left waiting on a closed pipe.
  const broken = new PassThrough({ highWaterMark: 1 });
  const waiting = writeOutput({ stdout: broken, stderr })("stdout", Buffer.from("xx"));
  broken.on("error", () => {});
  broken.destroy(new Error("EPIPE"));
  await waiting;
  // And what follows is dropped, not waited on: nothing would drain a destroyed stream.
  t.is(writeOutput({ stdout: broken, stderr })("stdout", Buffer.from("later")), undefined);
});
