import test, { type ExecutionContext } from "ava";
import type { ExecSession } from "../../src/client/connection.js";
import type { ExecStart__Output } from "../../src/gen/waypoint/v1/ExecStart.js";
import { AppError } from "../../src/protocol/errors.js";
import { type ConfigStream, type EntrypointRpc, entrypointRpc } from "../helpers/entrypoint-rpc.js";
import { startTestServer, type TestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

async function setup(t: ExecutionContext) {
  const s = await startTestServer(t, { logLevel: "info" });
  const admin = s.connect({ id: "admin" });
  await admin.createApp("web");
  const v1 = await admin.createDeployment("web");
  return { s, admin, token: v1.token };
}

/** Sessions the config stream asked for, in order. */
function sessionsOf(config: ConfigStream): string[] {
  return config.messages.flatMap((m) => (m.exec?.session ? [m.exec.session] : []));
}

/**
 * A fake entrypoint speaking the protocol: on each exec notice it opens EntrypointExec, echoes stdin
 * back as stdout, and on stdin_eof exits with code 3. `behave` can change what it does.
 */
async function fakeEntrypoint(
  t: ExecutionContext,
  s: TestServer,
  token: string,
  id: string,
  opts: { execDisabled?: boolean; onStart?: "echo" | "disconnect" | "error" } = {},
) {
  const ep = entrypointRpc(t, { address: s.address, token, id, deployment: "web-v1" });
  const config = ep.config({ execDisabled: opts.execDisabled ?? false });
  await config.message(0);
  const starts: ExecStart__Output[] = [];
  const ended: string[] = [];
  let handled = 0;
  const poll = setInterval(() => {
    const sessions = sessionsOf(config);
    while (handled < sessions.length) {
      const session = sessions[handled++]!;
      const exec = ep.exec();
      exec.call.write({ open: { instanceId: id, session } });
      exec.call.on("data", (m) => {
        if (m.response === "start" && m.start) {
          starts.push(m.start);
          if (opts.onStart === "disconnect") exec.call.cancel();
          if (opts.onStart === "error") exec.call.write({ error: "no such command: nope" });
        } else if (m.response === "stdin" && m.stdin) exec.call.write({ stdout: m.stdin });
        else if (m.response === "stdinEof") {
          exec.call.write({ stderr: Buffer.from("bye\n") });
          exec.call.write({ exitCode: 3 });
          exec.call.end();
        }
      });
      void exec.ended.then((e) => ended.push(e.status));
    }
  }, 10);
  t.teardown(() => clearInterval(poll));
  return { ep, config, starts, ended };
}

function collect(
  session: (out: { stdout: (b: Buffer) => void; stderr: (b: Buffer) => void }) => ExecSession,
) {
  const out = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  const s = session({ stdout: (b) => out.stdout.push(b), stderr: (b) => out.stderr.push(b) });
  return {
    session: s,
    out,
    text: () => Buffer.concat(out.stdout).toString(),
    err: () => Buffer.concat(out.stderr).toString(),
  };
}

async function failure(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("the exec session succeeded");
}

test("exec round trip: stdin is relayed to the instance, its output back, then its exit code", async (t) => {
  const { s, admin, token } = await setup(t);
  const fake = await fakeEntrypoint(t, s, token, "inst-a");
  const run = collect((out) =>
    admin.exec(
      {
        instance: "inst-a",
        args: ["cat", "--secret-arg=hunter2"],
        tty: { rows: 24, cols: 80, term: "xterm" },
      },
      out,
    ),
  );
  const started = await run.session.started;
  t.is(started.instance, "inst-a");
  t.regex(started.session, /^[0-9a-f]{32}$/);
  await run.session.writeStdin(Buffer.from("hello "));
  await run.session.writeStdin(Buffer.from("world"));
  run.session.endStdin();
  t.is(await run.session.exit, 3);
  t.is(run.text(), "hello world");
  t.is(run.err(), "bye\n");
  t.is(fake.starts.length, 1);
  t.like(fake.starts[0], {
    args: ["cat", "--secret-arg=hunter2"],
    tty: true,
    rows: 24,
    cols: 80,
    term: "xterm",
  });
  await waitFor(() => fake.ended.length === 1, "the entrypoint's exec stream to end");
  t.deepEqual(fake.ended, ["OK"]);
  // Logged at notice with the argument count, never the arguments.
  const started_ = s.logs.lines.find((l) => l.msg === "exec session started");
  t.like(started_, { instance: "inst-a", args: 2, tty: true, session: started.session });
  t.like(
    s.logs.lines.find((l) => l.msg === "exec session ended"),
    { instance: "inst-a", exitCode: 3 },
  );
  t.false(
    s.logs.raw.some((l) => l.includes("hunter2")),
    "arguments are never logged",
  );
});

test("exec by app picks a connected instance of the app's latest deployment", async (t) => {
  const { s, admin, token } = await setup(t);
  await fakeEntrypoint(t, s, token, "inst-a");
  const run = collect((out) => admin.exec({ app: "web", args: ["sh"] }, out));
  t.is((await run.session.started).instance, "inst-a");
  run.session.endStdin();
  t.is(await run.session.exit, 3);

  // A newer deployment without a connected instance: nothing to run in.
  await admin.createDeployment("web");
  const none = await failure(collect((out) => admin.exec({ app: "web", args: ["sh"] }, out)).session.exit);
  t.is(none.code, "INSTANCE_NOT_CONNECTED");
  t.is(none.message, "no instance of web-v2, the latest deployment of web, is connected to the server");
  const ghost = await failure(collect((out) => admin.exec({ app: "ghost", args: ["sh"] }, out)).session.exit);
  t.is(ghost.code, "NOT_FOUND");
});

test("exec is refused for an instance started with WAYPOINT_CEB_DISABLE_EXEC", async (t) => {
  const { s, admin, token } = await setup(t);
  const fake = await fakeEntrypoint(t, s, token, "locked", { execDisabled: true });
  for (const target of [{ instance: "locked" }, { app: "web" }]) {
    const err = await failure(collect((out) => admin.exec({ ...target, args: ["sh"] }, out)).session.exit);
    t.is(err.code, "EXEC_DISABLED");
    t.is(err.message, "exec is disabled in locked: the instance was started with WAYPOINT_CEB_DISABLE_EXEC");
  }
  t.deepEqual(sessionsOf(fake.config), [], "the instance was never asked to open a session");
});

test("the CLI gets UNAVAILABLE when the instance disconnects mid-session", async (t) => {
  const { s, admin, token } = await setup(t);
  await fakeEntrypoint(t, s, token, "flaky", { onStart: "disconnect" });
  const err = await failure(
    collect((out) => admin.exec({ instance: "flaky", args: ["sleep", "9"] }, out)).session.exit,
  );
  t.is(err.code, "INSTANCE_DISCONNECTED");
  t.is(err.message, "the instance disconnected during the exec session");
  t.is(err.exitCode, 3);
  t.is((err.cause as { code?: number }).code, 14, "gRPC status UNAVAILABLE");
});

test("an entrypoint error is the CLI's error", async (t) => {
  const { s, admin, token } = await setup(t);
  await fakeEntrypoint(t, s, token, "inst-a", { onStart: "error" });
  const err = await failure(
    collect((out) => admin.exec({ instance: "inst-a", args: ["nope"] }, out)).session.exit,
  );
  t.is(err.code, "EXEC_FAILED");
  t.is(err.message, "the command could not run in instance inst-a: no such command: nope");
});

test("when the CLI goes away the entrypoint's exec stream is ended", async (t) => {
  const { s, admin, token } = await setup(t);
  const fake = await fakeEntrypoint(t, s, token, "inst-a");
  const run = collect((out) => admin.exec({ instance: "inst-a", args: ["top"] }, out));
  await run.session.started;
  const cancelled = failure(run.session.exit);
  run.session.cancel();
  t.is((await cancelled).code, "INTERRUPTED");
  await waitFor(() => fake.ended.length === 1, "the entrypoint's exec stream to end");
  t.deepEqual(fake.ended, ["OK"]);
  t.is(fake.starts.length, 1);
});

test("exec requests are validated and the instance resolved", async (t) => {
  const { s, admin, token } = await setup(t);
  const codeOf = async (opts: Parameters<typeof admin.exec>[0]) =>
    (await failure(collect((out) => admin.exec(opts, out)).session.exit)).code;
  t.is(await codeOf({ args: ["sh"] }), "INVALID_ARGUMENT", "no target");
  t.is(await codeOf({ instance: "a", app: "web", args: ["sh"] }), "INVALID_ARGUMENT", "two targets");
  t.is(await codeOf({ instance: "a", args: [] }), "INVALID_ARGUMENT", "no command");
  t.is(await codeOf({ instance: "ghost", args: ["sh"] }), "NOT_FOUND");
  // Registered once, gone now.
  const gone = entrypointRpc(t, { address: s.address, token, id: "gone", deployment: "web-v1" }).config();
  await gone.message(0);
  gone.cancel();
  await waitFor(
    async () => (await admin.listInstances()).some((i) => i.id === "gone" && !i.connected),
    "gone",
  );
  const err = await failure(
    collect((out) => admin.exec({ instance: "gone", args: ["sh"] }, out)).session.exit,
  );
  t.is(err.code, "INSTANCE_NOT_CONNECTED");
  t.is(err.message, "instance gone is not connected to the server");
});

test("security: another deployment's entrypoint cannot open an exec session, nor an unknown one", async (t) => {
  const { s, admin, token } = await setup(t);
  const v2 = await admin.createDeployment("web");
  // The real instance registers but does not answer exec notices by itself.
  const real: EntrypointRpc = entrypointRpc(t, {
    address: s.address,
    token,
    id: "real",
    deployment: "web-v1",
  });
  const config = real.config();
  await config.message(0);
  const run = collect((out) => admin.exec({ instance: "real", args: ["id"] }, out));
  await waitFor(() => sessionsOf(config).length === 1, "the exec notice");
  const session = sessionsOf(config)[0]!;

  const spy = entrypointRpc(t, { address: s.address, token: v2.token, id: "spy", deployment: "web-v2" });
  const hijack = spy.exec();
  hijack.call.write({ open: { instanceId: "real", session } });
  t.like(await hijack.ended, { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" });
  t.deepEqual(hijack.received, [], "the spy never saw the command");

  const guess = real.exec();
  guess.call.write({ open: { instanceId: "real", session: "f".repeat(32) } });
  t.like(await guess.ended, { status: "NOT_FOUND", code: "NOT_FOUND" });

  // The real instance can still take the session.
  const exec = real.exec();
  exec.call.write({ open: { instanceId: "real", session } });
  const start = await exec.message(0);
  t.deepEqual(start.start?.args, ["id"]);
  exec.call.write({ stdout: Buffer.from("uid=0\n") });
  exec.call.write({ exitCode: 0 });
  t.is(await run.session.exit, 0);
  t.is(run.text(), "uid=0\n");
});
