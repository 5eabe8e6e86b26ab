/**
 * Jobs through the whole CLI against a real server (in-process, port 0): with no runner they stay
 * queued and show their age; list, get and cancel with their output and exit codes; bad input.
 */
import test from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { startTestServer, type TestServer } from "../helpers/server.js";

const as =
  (t: import("ava").ExecutionContext, s: TestServer, token = s.token) =>
  (...args: string[]) =>
    cli(t, args, { WAYPOINT_SERVER_ADDR: s.address, WAYPOINT_SERVER_TOKEN: token });

test("with no runner, queued jobs stay queued and are listed with their age; get and cancel show and end them", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  t.is((await wp("app", "create", "web", "-build=make", "-deploy=./deploy.sh")).code, 0);
  const conn = s.connect();
  const build = await conn.queueJob({ app: "web", operation: "build" });
  // Only a connected runner can be a job's target: nobody else could ever take the job.
  await t.throwsAsync(conn.queueJob({ app: "web", operation: "deploy", target: "cli_abc" }), {
    message: "no runner cli_abc is connected to take the job",
  });
  const deploy = await conn.queueJob({ app: "web", operation: "deploy" });
  t.like(build, {
    id: "job-1",
    state: "queued",
    command: "make",
    runner: null,
    startedAt: null,
    exitCode: null,
  });
  t.is(deploy.target, null);
  // A later change of the app's command does not change a queued job's.
  await wp("app", "update", "web", "-build=make all");

  const list = await wp("job", "list");
  t.is(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split("\n");
  t.regex(lines[0]!, /^ID +APP +OPERATION +STATE +RUNNER +AGE +RESULT$/);
  t.regex(lines[1]!, /^job-1 +web +build +queued +- +(now|\d+s ago)/);
  t.regex(lines[2]!, /^job-2 +web +deploy +queued +- +(now|\d+s ago)/);

  const json = JSON.parse((await wp("job", "list", "-json", "-state=queued")).stdout) as Record<
    string,
    unknown
  >[];
  t.deepEqual(Object.keys(json[0]!), [
    "id",
    "app",
    "operation",
    "command",
    "state",
    "target",
    "runner",
    "deployment",
    "queuedAt",
    "assignedAt",
    "startedAt",
    "finishedAt",
    "exitCode",
    "error",
    "attempts",
    "cancelRequested",
  ]);
  t.deepEqual(
    json.map((j) => [j.id, j.command]),
    [
      ["job-1", "make"],
      ["job-2", "./deploy.sh"],
    ],
  );

  const get = await wp("job", "get", "job-2");
  t.is(get.code, 0, get.stderr);
  t.regex(
    get.stdout,
    /^id: +job-2\napp: +web\noperation: +deploy\ncommand: +\.\/deploy\.sh\nstate: +queued\nqueued: /,
  );

  const cancel = await wp("job", "cancel", "job-1");
  t.is(cancel.code, 0, cancel.stderr);
  t.is(cancel.stderr, "Cancelled job-1.\n");
  const cancelled = JSON.parse((await wp("job", "get", "job-1", "-json")).stdout);
  t.like(cancelled, { state: "cancelled", error: "cancelled before it started" });
  t.regex(cancelled.finishedAt, /^\d{4}-/);
  t.deepEqual(
    (JSON.parse((await wp("job", "list", "-json", "-state=queued,assigned")).stdout) as { id: string }[]).map(
      (j) => j.id,
    ),
    ["job-2"],
  );
  const again = await wp("job", "cancel", "job-1");
  t.is(again.code, 2);
  t.regex(again.stderr, /job-1 has already ended \(cancelled\): there is nothing to cancel/);
});

test("jobs refuse bad input with a clear error: unknown app, undefined operation, unknown job or state, a readonly token", async (t) => {
  const s = await startTestServer(t);
  const wp = as(t, s);
  await wp("app", "create", "web", "-build=make");
  const conn = s.connect();
  const codeOf = async (p: Promise<unknown>) =>
    (await p.then(
      () => undefined,
      (e) => e,
    )) as { code?: string; message?: string; hint?: string } | undefined;
  const unknownApp = await codeOf(conn.queueJob({ app: "nope", operation: "build" }));
  t.like(unknownApp, { code: "NOT_FOUND", message: 'no app named "nope"' });
  const undefinedOp = await codeOf(conn.queueJob({ app: "web", operation: "release" }));
  t.like(undefinedOp, { code: "INVALID_ARGUMENT", message: "app web has no release operation" });
  t.regex(undefinedOp?.hint ?? "", /waypoint app update web -release=COMMAND/);
  const badOp = await codeOf(conn.queueJob({ app: "web", operation: "test" }));
  t.like(badOp, { message: 'unknown operation "test": it is one of build, deploy, release' });
  t.deepEqual(await conn.listJobs(), [], "nothing was queued");

  const missing = await wp("job", "get", "job-9");
  t.is(missing.code, 1);
  t.regex(missing.stderr, /^Error: no job "job-9"\nHint: See `waypoint job list`/);
  const badState = await wp("job", "list", "-state=done");
  t.is(badState.code, 2);
  t.regex(
    badState.stderr,
    /unknown job state "done": it is one of queued, assigned, running, success, error, cancelled/,
  );
  const noApp = await wp("job", "list", "-app=nope");
  t.is(noApp.code, 1);

  await conn.queueJob({ app: "web", operation: "build" });
  const readonly = (await conn.createToken({ kind: "readonly", description: "jobs test" })).token;
  const ro = as(t, s, readonly);
  t.is((await ro("job", "list")).code, 0, "readonly may list");
  const denied = await ro("job", "cancel", "job-1");
  t.is(denied.code, 4, denied.stderr);
  t.like(await conn.getJob("job-1"), { state: "queued" });
});
