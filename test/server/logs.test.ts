import test, { type ExecutionContext } from "ava";
import type { Connection } from "../../src/client/connection.js";
import type { LogLineInfo } from "../../src/client/runtime.js";
import { AppError } from "../../src/protocol/errors.js";
import type { ServerConfigInput } from "../../src/server/config.js";
import { entrypointRpc } from "../helpers/entrypoint-rpc.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const at = (ms: number) => new Date(Date.UTC(2026, 10, 22, 10, 0, 0, ms)).toISOString();

async function setup(t: ExecutionContext, config: Partial<ServerConfigInput> = {}) {
  const s = await startTestServer(t, { config });
  const admin = s.connect({ id: "admin" });
  await admin.createApp("web");
  const v1 = await admin.createDeployment("web");
  const register = async (id: string, token = v1.token, deployment = "web-v1") => {
    const ep = entrypointRpc(t, { address: s.address, token, id, deployment });
    await ep.config().message(0);
    return ep;
  };
  return { s, admin, v1, register };
}

/** GetLogs without follow: every line sent before the stream ended. */
function readLogs(c: Connection, req: Parameters<Connection["logs"]>[0]): Promise<LogLineInfo[]> {
  return new Promise((resolve, reject) => {
    const lines: LogLineInfo[] = [];
    c.logs(
      req,
      (l) => lines.push(...l),
      (err) => (err ? reject(err) : resolve(lines)),
    );
  });
}

test("shipped output is read back as lines by instance, deployment, app or all, with tail", async (t) => {
  const { admin, register } = await setup(t);
  const a = await register("inst-a");
  const b = await register("inst-b");
  t.like(
    await a.logs([
      {
        instanceId: "inst-a",
        chunks: [
          { source: "stdout", data: Buffer.from("a one\na two\n"), at: at(10) },
          { source: "stderr", data: Buffer.from("a err\n"), at: at(30) },
        ],
      },
    ]),
    { status: "OK" },
  );
  t.like(
    await b.logs([
      { instanceId: "inst-b", chunks: [{ source: "stdout", data: Buffer.from("b one\n"), at: at(20) }] },
    ]),
    { status: "OK" },
  );
  t.deepEqual(await readLogs(admin, { instance: "inst-a" }), [
    { instance: "inst-a", source: "stdout", line: "a one", at: at(10) },
    { instance: "inst-a", source: "stdout", line: "a two", at: at(10) },
    { instance: "inst-a", source: "stderr", line: "a err", at: at(30) },
  ]);
  const everything = ["a one", "a two", "b one", "a err"];
  t.deepEqual(
    (await readLogs(admin, {})).map((l) => l.line),
    everything,
  );
  t.deepEqual(
    (await readLogs(admin, { deployment: "web-v1" })).map((l) => l.line),
    everything,
  );
  t.deepEqual(
    (await readLogs(admin, { app: "web", tail: 2 })).map((l) => l.line),
    ["b one", "a err"],
  );
  // The app selector means its latest deployment: web-v2 has no output yet.
  await admin.createDeployment("web");
  t.deepEqual(await readLogs(admin, { app: "web" }), []);

  const unknown = await readLogs(admin, { instance: "nope" }).catch((e: AppError) => e);
  t.true(unknown instanceof AppError);
  t.is((unknown as AppError).code, "NOT_FOUND");
  t.is((unknown as AppError).message, 'no instance "nope"');
  t.is(
    await readLogs(admin, { app: "web", instance: "inst-a" }).catch((e: AppError) => e.code),
    "INVALID_ARGUMENT",
  );
  t.is(await readLogs(admin, { deployment: "web-v7" }).catch((e: AppError) => e.code), "NOT_FOUND");
});

test("dropped lines are reported as a waypoint line before the batch's output", async (t) => {
  const { admin, register } = await setup(t);
  const a = await register("inst-a");
  await a.logs([
    {
      instanceId: "inst-a",
      droppedLines: 17,
      chunks: [{ source: "stdout", data: Buffer.from("back again\n"), at: at(500) }],
    },
  ]);
  t.deepEqual(await readLogs(admin, { instance: "inst-a" }), [
    {
      instance: "inst-a",
      source: "waypoint",
      line: "17 log lines were dropped by the entrypoint (the server unreachable or slow, or the app over the log rate limit)",
      at: at(500),
    },
    { instance: "inst-a", source: "stdout", line: "back again", at: at(500) },
  ]);
});

test("the server keeps all instances' output within -log-buffer-total: two floods share it, a quiet line stays", async (t) => {
  // Each buffer alone could hold 8 KiB, and so can all of them together.
  const { admin, register } = await setup(t, { logBufferBytes: "8KiB", logBufferTotal: "8KiB" });
  const quiet = await register("inst-quiet");
  await quiet.logs([
    {
      instanceId: "inst-quiet",
      chunks: [{ source: "stdout", data: Buffer.from("still here\n"), at: at(0) }],
    },
  ]);
  // 100 chunks of 100 bytes each (164 counted): 16 KB per flooding instance.
  const flood = (id: string) =>
    Array.from({ length: 100 }, (_, n) => ({
      ...(n === 0 ? { instanceId: id } : {}),
      chunks: [{ source: "stdout", data: Buffer.from(`${`${id} ${n}`.padEnd(99, ".")}\n`), at: at(1 + n) }],
    }));
  for (const id of ["inst-f1", "inst-f2"])
    t.like(await (await register(id)).logs(flood(id)), { status: "OK" });
  const lines = await readLogs(admin, {});
  t.is(lines[0]?.line, "still here");
  const floods = lines.slice(1);
  t.true(floods.length * 164 + 75 <= 8192, `${floods.length} flood lines kept`);
  t.true(floods.length >= 40, `${floods.length} flood lines kept`);
  for (const id of ["inst-f1", "inst-f2"]) {
    const own = floods.filter((l) => l.instance === id);
    t.true(own.length >= 20, `${id}: ${own.length}`);
    t.is(own.at(-1)?.line, `${id} 99`.padEnd(99, "."));
  }
});

test("the first batch must name an instance registered under the token's deployment", async (t) => {
  const { s, admin, register } = await setup(t);
  const a = await register("inst-a");
  t.like(await a.logs([{ instanceId: "", chunks: [] }]), { status: "INVALID_ARGUMENT" });
  t.like(await a.logs([{ instanceId: "never-registered", chunks: [] }]), { status: "PERMISSION_DENIED" });
  t.like(
    await a.logs([
      { instanceId: "inst-a", chunks: [] },
      { instanceId: "inst-b", chunks: [] },
    ]),
    { status: "INVALID_ARGUMENT" },
  );
  t.like(
    await a.logs([
      { instanceId: "inst-a", chunks: [{ source: "stdin", data: Buffer.from("x\n"), at: at(1) }] },
    ]),
    { status: "INVALID_ARGUMENT" },
  );
  // Another deployment's token cannot ship output for inst-a.
  const v2 = await admin.createDeployment("web");
  const other = entrypointRpc(t, { address: s.address, token: v2.token, id: "x", deployment: "web-v2" });
  t.like(
    await other.logs([
      { instanceId: "inst-a", chunks: [{ source: "stdout", data: Buffer.from("forged\n"), at: at(1) }] },
    ]),
    { status: "PERMISSION_DENIED", code: "PERMISSION_DENIED" },
  );
  t.deepEqual(await readLogs(admin, { instance: "inst-a" }), []);
});

test("follow sends the buffered lines, then new lines as they arrive", async (t) => {
  const { admin, register } = await setup(t);
  const a = await register("inst-a");
  const b = await register("inst-b");
  await a.logs([
    { instanceId: "inst-a", chunks: [{ source: "stdout", data: Buffer.from("old 1\nold 2\n"), at: at(1) }] },
  ]);
  const got: LogLineInfo[] = [];
  const state: { ended: Error | undefined | "open" } = { ended: "open" };
  const handle = admin.logs(
    { instance: "inst-a", follow: true, tail: 1 },
    (l) => got.push(...l),
    (err) => {
      state.ended = err;
    },
  );
  await waitFor(() => got.length === 1, "the buffered tail");
  t.is(got[0]?.line, "old 2");
  await a.logs([
    { instanceId: "inst-a", chunks: [{ source: "stderr", data: Buffer.from("new 1\nnew 2\n"), at: at(2) }] },
  ]);
  await b.logs([
    { instanceId: "inst-b", chunks: [{ source: "stdout", data: Buffer.from("other\n"), at: at(2) }] },
  ]);
  await a.logs([
    {
      instanceId: "inst-a",
      droppedLines: 2,
      chunks: [{ source: "stdout", data: Buffer.from("new 3\n"), at: at(3) }],
    },
  ]);
  await waitFor(() => got.length === 5, "the new lines");
  t.deepEqual(
    got.map((l) => [l.source, l.line]),
    [
      ["stdout", "old 2"],
      ["stderr", "new 1"],
      ["stderr", "new 2"],
      [
        "waypoint",
        "2 log lines were dropped by the entrypoint (the server unreachable or slow, or the app over the log rate limit)",
      ],
      ["stdout", "new 3"],
    ],
  );
  t.is(state.ended, "open", "the stream stays open");
  handle.cancel();
  await waitFor(() => state.ended !== "open", "the cancelled stream to end");
  t.is(state.ended, undefined);
});
