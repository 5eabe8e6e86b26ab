/**
 * The snapshot RPCs and GET/PUT /v1/snapshot (DESIGN §8, seed 002) against a
 * real in-process server: archives are checked with the real `tar`, restores
 * with the tokens they bring back and the state index they advance.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { dirname, join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import type { SnapshotMetaJson } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { RestoreResult__Output } from "../../src/gen/waypoint/v1/RestoreResult.js";
import type { RestoreSnapshotRequest } from "../../src/gen/waypoint/v1/RestoreSnapshotRequest.js";
import { AppError } from "../../src/protocol/errors.js";
import { encodeClientHeaders, HEADERS } from "../../src/protocol/headers.js";
import { mintToken } from "../../src/server/auth.js";
import { createLogger, serverConfig, startServer } from "../../src/server/main.js";
import { stallLimited } from "../../src/server/snapshot-control.js";
import { webV1 } from "../helpers/entrypoint-rpc.js";
import { LogSink, startTestServer, type TestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

// --- helpers ------------------------------------------------------------------------------------

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Runs the real `tar` with `-f` on the archive, written to a temp file. */
function tar(t: ExecutionContext, archive: Buffer, args: string[]): string {
  const file = join(tempDir(t), "snapshot.tar.gz");
  writeFileSync(file, archive);
  const r = spawnSync("tar", ["-f", file, ...args], { encoding: "utf8" });
  if (r.error) throw new Error(`the tar CLI is needed for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tar ${args.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

/** The members of an archive, in order. */
function members(t: ExecutionContext, archive: Buffer): string[] {
  return tar(t, archive, ["-tz"]).split("\n").filter(Boolean);
}

function metaInArchive(t: ExecutionContext, archive: Buffer): SnapshotMetaJson {
  return JSON.parse(tar(t, archive, ["-xzO", "meta.json"])) as SnapshotMetaJson;
}

function url(s: TestServer, query = ""): string {
  return `http://${s.server.httpAddress}/v1/snapshot${query}`;
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

async function httpArchive(s: TestServer): Promise<{ archive: Buffer; index: string | null }> {
  const res = await fetch(url(s), { headers: bearer(s.token) });
  if (res.status !== 200) throw new Error(`GET /v1/snapshot: ${res.status} ${await res.text()}`);
  return { archive: Buffer.from(await res.arrayBuffer()), index: res.headers.get("x-waypoint-index") };
}

/** The AppError code a call failed with, or "OK". */
async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (err) {
    if (err instanceof AppError) return err.code;
    throw err;
  }
}

/** Follows WatchState and keeps every index it delivers. */
function watch(t: ExecutionContext, s: TestServer) {
  const seen: number[] = [];
  let ended: { err?: Error } | undefined;
  const handle = s.connect({ id: "watcher" }).watchState(
    (e) => seen.push(e.index),
    (err) => {
      ended = err ? { err } : {};
    },
  );
  t.teardown(() => handle.cancel());
  return { seen, ended: () => ended };
}

function dataDirFiles(s: TestServer): string[] {
  return readdirSync(dirname(s.dbPath));
}

// --- taking snapshots ---------------------------------------------------------------------------

test("TakeSnapshot announces the meta before the first archive byte, reports progress and sends the whole archive", async (t) => {
  const s = await startTestServer(t);
  await s.connect().createToken({ kind: "readonly", description: "before the snapshot" });
  const before = s.server.store.stateIndex();
  const events: string[] = [];
  const phases = new Set<string>();
  let meta: SnapshotMetaJson | undefined;
  const stream = s.connect().takeSnapshot(
    (p) => {
      phases.add(p.phase);
      t.true(p.done <= p.total, `${p.phase} ${p.done}/${p.total}`);
    },
    (m) => {
      meta = m;
      events.push("meta");
    },
  );
  stream.once("data", () => events.push("data"));
  const archive = await collect(stream);

  t.deepEqual(events, ["meta", "data"]);
  t.deepEqual([...phases].sort(), ["archive", "copy"]);
  t.deepEqual(members(t, archive), ["meta.json", "data.db", "SHA256SUMS"]);
  t.deepEqual(metaInArchive(t, archive), meta, "the announced meta is the archive's meta.json");
  t.true(meta!.index >= before && meta!.index <= s.server.store.stateIndex(), String(meta?.index));
  t.like(meta, { format: 1, server: { version: BUILD_VERSION_INFO.version } });
  t.regex(s.logs.raw.join("\n"), /"msg":"snapshot taken"/);
  t.deepEqual(
    dataDirFiles(s).filter((f) => f.startsWith(".")),
    [],
    "the copy made for the snapshot is removed",
  );
});

test("GetServerStatus reports uptime, database size, state index and the last snapshot taken, which a live restore keeps", async (t) => {
  // No inventory flush during the test: it would advance the state index between an answer and the check.
  const s = await startTestServer(t, { flushMs: 600_000 });
  const admin = s.connect();
  const first = await admin.serverStatus();
  t.is(first.lastSnapshot, undefined, "no snapshot taken yet");
  t.is(first.stateIndex, s.server.store.stateIndex());
  t.true(first.databaseBytes > 0);
  t.true(Date.now() - Date.parse(first.startedAt) < 60_000, first.startedAt);

  const archive = await collect(admin.takeSnapshot());
  const meta = metaInArchive(t, archive);
  const taken = await admin.serverStatus();
  t.like(taken.lastSnapshot, { id: meta.id, index: meta.index });
  t.true(Date.now() - Date.parse(taken.lastSnapshot!.takenAt) < 60_000);
  t.is(taken.startedAt, first.startedAt);
  t.is(taken.stateIndex, s.server.store.stateIndex());

  // A second snapshot, then a live restore of the first: the last one taken is still the second.
  const second = metaInArchive(t, await collect(admin.takeSnapshot()));
  await admin.restoreSnapshot(Readable.from([archive]), { mode: "live" });
  t.like((await admin.serverStatus()).lastSnapshot, { id: second.id });
});

test("after a staged restore is applied at start, the last snapshot taken is still the last one taken", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const first = await collect(admin.takeSnapshot());
  const second = metaInArchive(t, await collect(admin.takeSnapshot()));
  await admin.restoreSnapshot(Readable.from([first]), { mode: "stage" });
  admin.close();
  await s.server.close();

  const config = serverConfig({
    dbPath: s.dbPath,
    listenGrpc: "127.0.0.1:0",
    listenHttp: "127.0.0.1:0",
    listenUrl: "127.0.0.1:0",
    logLevel: "notice",
    versionInfo: BUILD_VERSION_INFO,
  });
  const restarted = await startServer(config, createLogger("notice", new LogSink()));
  t.teardown(() => restarted.close());
  t.is(restarted.store.stateIndex(), metaInArchive(t, first).index, "the staged snapshot was applied");
  t.like(restarted.store.lastSnapshot(), { id: second.id });
});

test("GET /v1/snapshot streams the archive with X-Waypoint-Index equal to the index in its meta.json", async (t) => {
  const s = await startTestServer(t);
  await s.connect().createToken({ kind: "runner" });
  const res = await fetch(url(s), { headers: bearer(s.token) });
  t.is(res.status, 200);
  t.is(res.headers.get("content-type"), "application/gzip");
  const archive = Buffer.from(await res.arrayBuffer());
  const meta = metaInArchive(t, archive);
  t.is(res.headers.get("x-waypoint-index"), String(meta.index));
  t.true(meta.index > 0);
  t.deepEqual(members(t, archive), ["meta.json", "data.db", "SHA256SUMS"]);
});

test("a TakeSnapshot cancelled by the client stops the server's work and leaves no copy behind", async (t) => {
  const s = await startTestServer(t);
  // A few MB of database, so that the archive is still flowing when the client cancels.
  for (let i = 0; i < 20_000; i++)
    s.server.store.insertToken(mintToken("readonly", { description: `t${i}` }).record);
  const stream = s.connect().takeSnapshot();
  await new Promise<void>((resolve) => stream.once("data", () => resolve()));
  stream.destroy();
  await waitFor(
    () => s.logs.lines.some((l) => l.msg === "snapshot cancelled by the client"),
    "the server to notice the cancel",
  );
  await waitFor(() => !dataDirFiles(s).some((f) => f.startsWith(".snapshot-")), "the copy to be removed");
  t.false(s.logs.lines.some((l) => l.msg === "snapshot taken"));
  t.true((await collect(s.connect().takeSnapshot())).length > 0, "the next snapshot works");
});

// --- HTTP access --------------------------------------------------------------------------------

test("/v1/snapshot answers 401 without a valid token, 403 to non-management tokens and 405 to other methods", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const tokens = {
    readonly: (await admin.createToken({ kind: "readonly" })).token,
    runner: (await admin.createToken({ kind: "runner" })).token,
    entrypoint: (await webV1(admin)).token,
  };
  const requests = [
    { method: "GET", query: "" },
    { method: "PUT", query: "" },
    { method: "PUT", query: "?stage" },
  ];
  for (const { method, query } of requests) {
    const send = (headers: Record<string, string>) =>
      fetch(url(s, query), {
        method,
        headers,
        ...(method === "PUT" ? { body: Buffer.from("not a snapshot") } : {}),
      });
    for (const [kind, token] of Object.entries(tokens)) {
      const res = await send(bearer(token));
      t.is(res.status, 403, `${method}${query} with a ${kind} token`);
      const body = (await res.json()) as Record<string, string>;
      t.is(body.code, "PERMISSION_DENIED");
      t.truthy(body.error && body.hint, JSON.stringify(body));
    }
    for (const [what, headers] of [
      ["no token", {}],
      ["an unknown token", bearer(`wpm_${"A".repeat(43)}`)],
      ["another scheme", { authorization: `Basic ${s.token}` }],
    ] as const) {
      const res = await send(headers);
      t.is(res.status, 401, `${method}${query} with ${what}`);
      t.is(res.headers.get("www-authenticate"), "Bearer");
      const body = (await res.json()) as Record<string, string>;
      t.is(body.code, "UNAUTHENTICATED");
      t.truthy(body.error && body.hint, JSON.stringify(body));
    }
  }
  for (const method of ["POST", "DELETE", "PATCH", "HEAD"]) {
    const res = await fetch(url(s), { method, headers: bearer(s.token) });
    t.is(res.status, 405, method);
    t.is(res.headers.get("allow"), "GET, PUT");
    if (method !== "HEAD") t.truthy(((await res.json()) as Record<string, string>).error);
  }
  t.deepEqual(await admin.stagedRestore(), { staged: false }, "no refused PUT staged anything");
  t.is(await codeOf(s.connect({ token: tokens.readonly }).inventory()), "OK", "the data was not replaced");
});

// --- staged restores ----------------------------------------------------------------------------

test("PUT /v1/snapshot?stage stages the archive without touching the data; GetStagedRestore shows it and CancelStagedRestore removes it", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const { archive } = await httpArchive(s);
  const meta = metaInArchive(t, archive);
  const later = (await admin.createToken({ kind: "readonly", description: "after the snapshot" })).token;

  const res = await fetch(url(s, "?stage"), { method: "PUT", headers: bearer(s.token), body: archive });
  t.is(res.status, 200);
  const body = (await res.json()) as { mode: string; meta: SnapshotMetaJson; path: string };
  t.is(body.mode, "stage");
  t.is(body.meta.id, meta.id);
  t.is(body.path, join(dirname(s.dbPath), "waypoint-restore.db"));
  t.true(existsSync(body.path));
  t.is(await codeOf(s.connect({ token: later }).inventory()), "OK", "staging leaves the live data alone");

  const staged = await admin.stagedRestore();
  t.like(staged, { staged: true, path: body.path, meta: { id: meta.id, index: meta.index } });
  if (staged.staged) {
    t.true(staged.bytes > 0);
    t.true(Date.parse(staged.stagedAt) > 0, staged.stagedAt);
  }

  t.true(await admin.cancelStagedRestore());
  t.false(existsSync(body.path));
  t.deepEqual(await admin.stagedRestore(), { staged: false });
  t.false(await admin.cancelStagedRestore(), "nothing left to cancel");
});

test("RestoreSnapshot in stage mode replaces an earlier stage", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const first = await collect(admin.takeSnapshot());
  await admin.createToken({ kind: "runner" });
  const second = await collect(admin.takeSnapshot());
  const a = await admin.restoreSnapshot(Readable.from([first]), { mode: "stage" });
  const b = await admin.restoreSnapshot(Readable.from([second]), { mode: "stage" });
  t.like(a, { mode: "stage", exiting: false });
  t.is(b.stagedPath, a.stagedPath);
  t.not(b.meta.id, a.meta.id);
  t.like(await admin.stagedRestore(), { staged: true, meta: { id: b.meta.id } });
});

test("a staged restore with exit answers exiting, then asks the host to exit with 75", async (t) => {
  const codes: number[] = [];
  const s = await startTestServer(t, { onExitRequested: (code) => codes.push(code) });
  const admin = s.connect();
  const archive = await collect(admin.takeSnapshot());
  const result = await admin.restoreSnapshot(Readable.from([archive]), { mode: "stage", exit: true });
  t.like(result, { mode: "stage", exiting: true });
  t.true(existsSync(result.stagedPath!));
  await waitFor(() => codes.length > 0, "the exit request");
  t.deepEqual(codes, [75]);
});

test("a staged restore with exit on a server that cannot exit stages and answers exiting false", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const archive = await collect(admin.takeSnapshot());
  const result = await admin.restoreSnapshot(Readable.from([archive]), { mode: "stage", exit: true });
  t.like(result, { mode: "stage", exiting: false });
  t.like(await admin.stagedRestore(), { staged: true });
  t.true(s.logs.lines.some((l) => String(l.msg).includes("cannot exit by itself")));
});

// --- live restores ------------------------------------------------------------------------------

test("a live restore over gRPC brings back the snapshot's tokens while an open WatchState continues and sees the index advance", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const watcher = watch(t, s);
  await waitFor(() => watcher.seen.length > 0, "the first WatchState event");
  const archive = await collect(admin.takeSnapshot());
  const snapshotMeta = metaInArchive(t, archive);
  const later = (await admin.createToken({ kind: "readonly", description: "after the snapshot" })).token;
  t.is(await codeOf(s.connect({ token: later }).inventory()), "OK");
  // Connected only after the snapshot: the restored data does not know it, the live server does.
  const lateEvents: number[] = [];
  const late = s.connect({ id: "late-watcher" }).watchState(
    (e) => lateEvents.push(e.index),
    () => {},
  );
  t.teardown(() => late.cancel());
  await waitFor(() => lateEvents.length > 0, "the late watcher's first event");

  const result = await admin.restoreSnapshot(Readable.from([archive]), { mode: "live" });
  t.is(result.mode, "live");
  t.is(result.meta.id, snapshotMeta.id);
  t.true(existsSync(result.keptAs!), "the previous database is kept beside data.db");
  t.true(result.index! > result.previousIndex!, `${result.index} > ${result.previousIndex}`);
  t.true(result.index! > snapshotMeta.index);
  // Connected components are written into the restored data right after, which may advance the index further.
  t.true(s.server.store.stateIndex() >= result.index!);

  t.is(
    await codeOf(s.connect({ token: later }).inventory()),
    "UNAUTHENTICATED",
    "a token newer than the snapshot is gone",
  );
  t.is(
    await codeOf(s.connect({ id: "after-restore" }).inventory()),
    "OK",
    "a token the snapshot holds works",
  );
  const inv = await s.connect({ id: "after-restore" }).inventory();
  t.like(
    inv.components.find((c) => c.id === "late-watcher"),
    { connected: true },
    "a component connected across the restore is written into the restored data",
  );
  // Other writes (the inventory) may advance it further before the watch polls.
  await waitFor(
    () => watcher.seen.some((i) => i >= result.index!),
    `WatchState to reach index ${result.index}`,
  );
  t.deepEqual(
    watcher.seen,
    [...watcher.seen].sort((a, b) => a - b),
    "the index never goes back",
  );
  t.is(watcher.ended(), undefined, "the watch stream stayed open through the restore");
});

test("a live restore over HTTP PUT brings back the snapshot's tokens while an open WatchState sees the index advance", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const watcher = watch(t, s);
  await waitFor(() => watcher.seen.length > 0, "the first WatchState event");
  const { archive, index } = await httpArchive(s);
  const later = (await admin.createToken({ kind: "management", description: "after the snapshot" })).token;
  t.is((await fetch(url(s), { method: "GET", headers: bearer(later) })).status, 200);

  const res = await fetch(url(s), { method: "PUT", headers: bearer(s.token), body: archive });
  t.is(res.status, 200);
  const body = (await res.json()) as {
    mode: string;
    meta: SnapshotMetaJson;
    keptAs: string;
    previousIndex: number;
    index: number;
  };
  t.is(body.mode, "live");
  t.is(String(body.meta.index), index ?? "");
  t.true(existsSync(body.keptAs));
  t.true(body.index > body.previousIndex);
  t.is(res.headers.get("x-waypoint-index"), String(body.index));

  const refused = await fetch(url(s), { headers: bearer(later) });
  t.is(refused.status, 401, "HTTP and gRPC share the reloaded token cache");
  t.is(await codeOf(s.connect({ token: later }).inventory()), "UNAUTHENTICATED");
  t.is(await codeOf(s.connect({ id: "after-restore" }).inventory()), "OK");
  await waitFor(() => watcher.seen.some((i) => i >= body.index), `WatchState to reach index ${body.index}`);
  t.deepEqual(
    watcher.seen,
    [...watcher.seen].sort((a, b) => a - b),
    "the index never goes back",
  );
  t.is(watcher.ended(), undefined);
});

test("a damaged archive is refused by every restore path and changes nothing", async (t) => {
  const s = await startTestServer(t);
  const admin = s.connect();
  const archive = await collect(admin.takeSnapshot());
  const later = (await admin.createToken({ kind: "readonly" })).token;
  const truncated = archive.subarray(0, Math.floor(archive.length / 2));
  const before = s.server.store.stateIndex();

  for (const mode of ["live", "stage"] as const) {
    t.is(await codeOf(admin.restoreSnapshot(Readable.from([truncated]), { mode })), "SNAPSHOT_INVALID", mode);
  }
  for (const query of ["", "?stage"]) {
    const res = await fetch(url(s, query), { method: "PUT", headers: bearer(s.token), body: truncated });
    t.is(res.status, 400, `PUT${query}`);
    t.like(await res.json(), { code: "SNAPSHOT_INVALID" });
  }
  t.is(await codeOf(s.connect({ token: later }).inventory()), "OK", "the live data was not replaced");
  t.deepEqual(await admin.stagedRestore(), { staged: false });
  t.false(
    dataDirFiles(s).some((f) => f.includes("pre-restore")),
    "no previous database was set aside",
  );
  t.true(s.server.store.stateIndex() >= before);
});

test("an upload that sends nothing for the idle limit is abandoned (UPLOAD_STALLED, HTTP 408): nothing changes and the snapshot it held back goes on", async (t) => {
  const s = await startTestServer(t, { config: { uploadIdleMs: 400 } });
  const admin = s.connect();
  const archive = await collect(admin.takeSnapshot());
  const later = (await admin.createToken({ kind: "readonly" })).token;

  for (const mode of ["live", "stage"] as const) {
    // Part of the archive, then nothing, the stream left open.
    const input = new PassThrough();
    input.write(archive.subarray(0, 1000));
    const restore = codeOf(admin.restoreSnapshot(input, { mode }));
    // A live restore holds the database: a snapshot asked for meanwhile waits for it, then is taken.
    const taken = mode === "live" ? collect(admin.takeSnapshot()) : undefined;
    t.is(await restore, "UPLOAD_STALLED", mode);
    if (taken) t.true((await taken).length > 0, "the snapshot held back by the stalled restore was taken");
    input.destroy();
  }

  for (const query of ["", "?stage"]) {
    const answer = await new Promise<{ status: number; connection?: string; body: string }>(
      (resolve, reject) => {
        const req = request(url(s, query), {
          method: "PUT",
          headers: { ...bearer(s.token), "content-length": String(archive.length) },
        });
        req.on("response", (res) => {
          let body = "";
          res.setEncoding("utf8").on("data", (c: string) => {
            body += c;
          });
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              ...(res.headers.connection ? { connection: res.headers.connection } : {}),
              body,
            }),
          );
        });
        req.on("error", reject);
        req.write(archive.subarray(0, 1000));
      },
    );
    t.is(answer.status, 408, `PUT${query}`);
    t.is(answer.connection, "close");
    const body = JSON.parse(answer.body) as { code: string; error: string; hint: string };
    t.is(body.code, "UPLOAD_STALLED");
    t.is(body.error, "the upload sent nothing for 400 ms, so the restore was abandoned; nothing was changed");
    t.regex(body.hint, /^Upload the snapshot again/);
  }
  t.is(await codeOf(s.connect({ token: later }).inventory()), "OK", "the live data was not replaced");
  t.deepEqual(await admin.stagedRestore(), { staged: false });
  t.deepEqual(
    dataDirFiles(s).filter((f) => f.includes("pre-restore") || f.includes("restore")),
    [],
    "nothing set aside or staged",
  );
});

test("the upload's idle time runs only while the restore waits for data: a slow reader is not a stall", async (t) => {
  const chunks = [Buffer.from("a"), Buffer.from("b"), Buffer.from("c")];
  const got: string[] = [];
  for await (const c of stallLimited(Readable.from(chunks), 50)) {
    got.push(c.toString());
    await new Promise((r) => setTimeout(r, 150));
  }
  t.deepEqual(got, ["a", "b", "c"]);
  const stuck = new PassThrough();
  stuck.write("x");
  const read: string[] = [];
  await t.throwsAsync(
    (async () => {
      for await (const c of stallLimited(stuck, 50)) read.push(c.toString());
    })(),
    { message: "the upload sent nothing for 50 ms, so the restore was abandoned; nothing was changed" },
  );
  t.deepEqual(read, ["x"]);
});

// --- the RestoreSnapshot stream -----------------------------------------------------------------

function rawRestore(
  s: TestServer,
  messages: RestoreSnapshotRequest[],
): Promise<{ code: string; errorCode?: string }> {
  const { grpc: proto } = loadWaypointProto();
  const client = new proto.waypoint.v1.Waypoint(s.address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(
    encodeClientHeaders(clientIdentity("cli", "raw", BUILD_VERSION_INFO)),
  )) {
    md.set(k, v);
  }
  md.set(HEADERS.authorization, `Bearer ${s.token}`);
  return new Promise((resolve) => {
    const call = client.RestoreSnapshot(md, (err: grpc.ServiceError | null, _res?: RestoreResult__Output) => {
      client.close();
      const errorCode = err?.metadata?.get("waypoint-error-code")[0];
      resolve({
        code: err ? grpc.status[err.code] : "OK",
        ...(typeof errorCode === "string" ? { errorCode } : {}),
      });
    });
    for (const m of messages) call.write(m);
    call.end();
  });
}

test("RestoreSnapshot refuses a stream that does not start with valid options", async (t) => {
  const s = await startTestServer(t);
  const archive = await collect(s.connect().takeSnapshot());
  const refused = { code: "INVALID_ARGUMENT", errorCode: "INVALID_ARGUMENT" };
  t.deepEqual(await rawRestore(s, [{ data: archive }]), refused, "data before the options");
  t.deepEqual(await rawRestore(s, []), refused, "an empty stream");
  t.deepEqual(
    await rawRestore(s, [{ options: { mode: "replace" } }, { data: archive }]),
    refused,
    "an unknown mode",
  );
  t.deepEqual(
    await rawRestore(s, [{ options: { mode: "live", exit: true } }, { data: archive }]),
    refused,
    "exit with a live restore",
  );
  t.deepEqual(
    await rawRestore(s, [{ options: { mode: "stage" } }, { options: { mode: "stage" } }, { data: archive }]),
    refused,
    "options twice",
  );
  t.deepEqual(await s.connect().stagedRestore(), { staged: false });
  t.deepEqual(await rawRestore(s, [{ options: { mode: "stage" } }, { data: archive }]), { code: "OK" });
});
