import { join } from "node:path";
import { Readable } from "node:stream";
import * as grpc from "@grpc/grpc-js";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection, type StreamHandle } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { GetVersionInfoResponse__Output } from "../../src/gen/waypoint/v1/GetVersionInfoResponse.js";
import { AppError, ERROR_CODES, type ErrorCode } from "../../src/protocol/errors.js";
import type { ClientKind } from "../../src/protocol/headers.js";
import { TOKEN_KINDS, type TokenKind } from "../../src/protocol/tokens.js";
import { createLogger, serverConfig, startServer } from "../../src/server/main.js";
import { RPC_TABLE, type RpcPath } from "../../src/server/rpc-table.js";
import { type Ending, type EntrypointRpc, entrypointRpc } from "../helpers/entrypoint-rpc.js";
import { LogSink, startTestServer, type TestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

/**
 * Every RPC × every credential, against a real server. The expectations are
 * written out here from DESIGN §7, independently of RPC_TABLE, so a change of
 * the table is a deliberate change of this file too.
 */

type Credential = TokenKind | "none" | "invalid";
const CREDENTIALS: readonly Credential[] = [...TOKEN_KINDS, "none", "invalid"];

/** "OK" or the AppError code the server must answer with (its gRPC status follows from ERROR_CODES). */
type Expect = "OK" | ErrorCode;

/** Well-formed, but never minted by any server. */
const UNKNOWN_TOKEN = `wpm_${"A".repeat(43)}`;

const APP = "web";
let jobsCancelled = 0;
const DEPLOYMENT = "web-v1";

/** Everyone gets the same answer. */
function everyone(expect: Expect): Record<Credential, Expect> {
  return Object.fromEntries(CREDENTIALS.map((c) => [c, expect])) as Record<Credential, Expect>;
}

/** Only the listed token kinds; other kinds are denied; no token or an unknown one is unauthenticated. */
function only(...allowed: TokenKind[]): Record<Credential, Expect> {
  const row = {} as Record<Credential, Expect>;
  for (const kind of TOKEN_KINDS) row[kind] = allowed.includes(kind) ? "OK" : "PERMISSION_DENIED";
  row.none = "UNAUTHENTICATED";
  row.invalid = "UNAUTHENTICATED";
  return row;
}

const EXPECTED: Record<RpcPath, Record<Credential, Expect>> = {
  // Public: any client can learn the server's version, whatever it sends.
  "/waypoint.v1.Waypoint/GetVersionInfo": everyone("OK"),
  // Needs no token and the test server is already bootstrapped: refused for everyone, token or not.
  "/waypoint.v1.Waypoint/GetServerStatus": only("management", "readonly"),
  "/waypoint.v1.Waypoint/BootstrapToken": everyone("ALREADY_BOOTSTRAPPED"),
  "/waypoint.v1.Waypoint/CreateToken": only("management"),
  "/waypoint.v1.Waypoint/GetInventory": only("management", "readonly"),
  "/waypoint.v1.Waypoint/WatchState": only("management", "readonly", "runner"),
  // A snapshot holds every token hash and a restore replaces every token.
  "/waypoint.v1.Waypoint/TakeSnapshot": only("management"),
  "/waypoint.v1.Waypoint/RestoreSnapshot": only("management"),
  "/waypoint.v1.Waypoint/GetStagedRestore": only("management"),
  "/waypoint.v1.Waypoint/CancelStagedRestore": only("management"),
  "/waypoint.v1.Waypoint/CreateApp": only("management"),
  "/waypoint.v1.Waypoint/UpdateApp": only("management"),
  "/waypoint.v1.Waypoint/QueueJob": only("management"),
  "/waypoint.v1.Waypoint/ListJobs": only("management", "readonly"),
  "/waypoint.v1.Waypoint/GetJob": only("management", "readonly"),
  "/waypoint.v1.Waypoint/CancelJob": only("management"),
  "/waypoint.v1.Waypoint/WatchJob": only("management", "readonly"),
  // Dedicated runners, and a CLI running the jobs it queued; an entrypoint token cannot take jobs.
  "/waypoint.v1.Waypoint/RunnerJobs": only("management", "runner"),
  "/waypoint.v1.Waypoint/ListApps": only("management", "readonly"),
  "/waypoint.v1.Waypoint/CreateDeployment": only("management"),
  "/waypoint.v1.Waypoint/ListDeployments": only("management", "readonly"),
  // Configuration values are often secrets: reading them is management only too.
  "/waypoint.v1.Waypoint/SetConfig": only("management"),
  "/waypoint.v1.Waypoint/GetConfig": only("management"),
  "/waypoint.v1.Waypoint/ListInstances": only("management", "readonly"),
  "/waypoint.v1.Waypoint/GetLogs": only("management", "readonly"),
  // Exec runs commands next to the app. A management caller passes the guard and reaches the handler,
  // which answers NOT_FOUND for the instance this table's call names (no instance runs here).
  "/waypoint.v1.Waypoint/Exec": { ...only("management"), management: "NOT_FOUND" },
  "/waypoint.v1.Entrypoint/EntrypointConfig": only("entrypoint"),
  "/waypoint.v1.Entrypoint/EntrypointLogs": only("entrypoint"),
  // The entrypoint token passes the guard; the handler knows no session under the id the call sends.
  "/waypoint.v1.Entrypoint/EntrypointExec": { ...only("entrypoint"), entrypoint: "NOT_FOUND" },
  // No tunnel is waiting under the session the test sends.
  "/waypoint.v1.Entrypoint/EntrypointTunnel": { ...only("entrypoint"), entrypoint: "NOT_FOUND" },
};

/** An instance of web-v1 registered before the calls (EntrypointLogs names it). */
const REGISTERED_INSTANCE = "registered-instance";

/** Resolves for OK, rejects with the AppError the server sent (its gRPC status as the cause's code). */
function settle(e: Ending): Promise<void> {
  if (e.status === "OK") return Promise.resolve();
  return Promise.reject(
    new AppError(e.code as ErrorCode, e.message, {
      cause: { code: grpc.status[e.status as keyof typeof grpc.status] },
    }),
  );
}

let appNames = 0;

/** Resolves when a server stream delivers its first message (then cancels it); rejects if it fails first. */
function firstMessage(
  open: (onData: () => void, onEnd: (err?: Error) => void) => StreamHandle,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const handle: StreamHandle = open(
      () => {
        if (settled) return;
        settled = true;
        handle.cancel();
        resolve();
      },
      (err) => {
        if (settled) return;
        settled = true;
        reject(err ?? new Error("the stream ended before its first message"));
      },
    );
  });
}

/** Reads a stream to its end; rejects with its error. */
async function drain(stream: Readable): Promise<number> {
  let bytes = 0;
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  return bytes;
}

/** A snapshot archive of the server, taken with its management token. */
async function archiveOf(s: TestServer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of s.connect({ id: "archive-taker" }).takeSnapshot()) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What RestoreSnapshot uploads: a real archive where the call must succeed. */
async function archiveFor(path: RpcPath, s: TestServer): Promise<Buffer | undefined> {
  return path === "/waypoint.v1.Waypoint/RestoreSnapshot" ? archiveOf(s) : undefined;
}

let instances = 0;

/**
 * How to call each RPC through the client Connection, with a request the handler accepts.
 * `archive` is what RestoreSnapshot uploads (stage mode, so the server under test keeps its data).
 */
type Call = (
  c: Connection,
  deployment: string,
  archive?: Buffer,
  /** The same credentials over the raw Entrypoint client. */
  raw?: () => EntrypointRpc,
) => Promise<unknown>;

function needRaw(raw: (() => EntrypointRpc) | undefined): EntrypointRpc {
  if (!raw) throw new Error("this call needs the raw entrypoint client");
  return raw();
}

const CALLS: Record<RpcPath, Call> = {
  "/waypoint.v1.Waypoint/GetVersionInfo": (c) => c.versionInfo(),
  "/waypoint.v1.Waypoint/GetServerStatus": (c) => c.serverStatus(),
  "/waypoint.v1.Waypoint/BootstrapToken": (c) => c.bootstrap(),
  "/waypoint.v1.Waypoint/CreateToken": (c) =>
    c.createToken({ kind: "readonly", description: "rpc-table test" }),
  "/waypoint.v1.Waypoint/GetInventory": (c) => c.inventory(),
  "/waypoint.v1.Waypoint/WatchState": (c) => firstMessage((onData, onEnd) => c.watchState(onData, onEnd)),
  "/waypoint.v1.Waypoint/TakeSnapshot": (c) => drain(c.takeSnapshot()),
  "/waypoint.v1.Waypoint/RestoreSnapshot": (c, _deployment, archive) =>
    c.restoreSnapshot(Readable.from([archive ?? Buffer.alloc(0)]), { mode: "stage" }),
  "/waypoint.v1.Waypoint/GetStagedRestore": (c) => c.stagedRestore(),
  "/waypoint.v1.Waypoint/CancelStagedRestore": (c) => c.cancelStagedRestore(),
  "/waypoint.v1.Waypoint/CreateApp": (c) => c.createApp(`app-${++appNames}`),
  "/waypoint.v1.Waypoint/UpdateApp": (c) => c.updateApp(APP, { operations: { build: "true" } }),
  "/waypoint.v1.Waypoint/QueueJob": (c) => c.queueJob({ app: APP, operation: "build" }),
  "/waypoint.v1.Waypoint/ListJobs": (c) => c.listJobs(),
  "/waypoint.v1.Waypoint/GetJob": (c) => c.getJob("job-1"),
  "/waypoint.v1.Waypoint/CancelJob": (c) => c.cancelJob(`job-${++jobsCancelled}`),
  "/waypoint.v1.Waypoint/WatchJob": (c) =>
    firstMessage((onData, onEnd) => c.watchJob("job-1", onData, onEnd)),
  "/waypoint.v1.Waypoint/RunnerJobs": (c) =>
    new Promise<void>((resolve, reject) => {
      const stream = c.runnerJobs(
        { labels: [], targetedOnly: true, session: "rpc-table-test" },
        (e) => {
          if (e.kind === "welcome") void stream.close().then(resolve);
        },
        (err) => (err ? reject(err) : undefined),
      );
    }),
  "/waypoint.v1.Waypoint/ListApps": (c) => c.listApps(),
  "/waypoint.v1.Waypoint/CreateDeployment": (c) => c.createDeployment(APP),
  "/waypoint.v1.Waypoint/ListDeployments": (c) => c.listDeployments(),
  "/waypoint.v1.Waypoint/SetConfig": (c) => c.setConfig({ set: [{ name: "RPC_TABLE", value: "1" }] }),
  "/waypoint.v1.Waypoint/GetConfig": (c) => c.getConfig(),
  "/waypoint.v1.Waypoint/ListInstances": (c) => c.listInstances(),
  "/waypoint.v1.Waypoint/GetLogs": (c) =>
    new Promise<void>((resolve, reject) =>
      c.logs(
        {},
        () => {},
        (err) => (err ? reject(err) : resolve()),
      ),
    ),
  "/waypoint.v1.Waypoint/Exec": (c) =>
    c.exec({ instance: "no-such-instance", args: ["true"] }, { stdout: () => {}, stderr: () => {} }).exit,
  "/waypoint.v1.Entrypoint/EntrypointLogs": async (_c, _deployment, _archive, raw) =>
    settle(
      await needRaw(raw).logs([
        {
          instanceId: REGISTERED_INSTANCE,
          chunks: [{ source: "stdout", data: Buffer.from("hello\n"), at: "" }],
        },
      ]),
    ),
  "/waypoint.v1.Entrypoint/EntrypointExec": async (_c, _deployment, _archive, raw) => {
    const exec = needRaw(raw).exec();
    exec.call.write({ open: { instanceId: REGISTERED_INSTANCE, session: "0".repeat(32) } });
    return settle(await exec.ended);
  },
  "/waypoint.v1.Entrypoint/EntrypointTunnel": async (_c, _deployment, _archive, raw) => {
    const tunnel = needRaw(raw).tunnel();
    tunnel.call.write({ open: { instanceId: REGISTERED_INSTANCE, session: "0".repeat(32) } });
    return settle(await tunnel.ended);
  },
  "/waypoint.v1.Entrypoint/EntrypointConfig": (c, deployment) =>
    firstMessage((onData, onEnd) =>
      c.entrypointConfig(
        {
          instanceId: `instance-${++instances}`,
          deploymentId: deployment,
          hostname: "rpc-table-test",
          pid: process.pid,
          startedAt: new Date().toISOString(),
        },
        onData,
        onEnd,
      ),
    ),
};

function isEntrypointRpc(path: RpcPath): boolean {
  return path.startsWith("/waypoint.v1.Entrypoint/");
}

function methodName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The client kind a caller holding `credential` plausibly is, for api RPCs. */
const API_CLIENT_KIND: Record<Credential, ClientKind> = {
  management: "cli",
  readonly: "ui",
  runner: "runner",
  entrypoint: "cli",
  none: "cli",
  invalid: "cli",
};

interface Outcome {
  /** The AppError code, or "OK". */
  readonly code: string;
  /** The gRPC status name that came over the wire, or "OK". */
  readonly status: string;
}

function expected(e: Expect): Outcome {
  return e === "OK" ? { code: "OK", status: "OK" } : { code: e, status: ERROR_CODES[e].grpc };
}

async function outcomeOf(call: Promise<unknown>): Promise<Outcome> {
  try {
    await call;
    return { code: "OK", status: "OK" };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    const wire = (err.cause as Partial<grpc.ServiceError> | undefined)?.code;
    return {
      code: err.code,
      status: typeof wire === "number" ? grpc.status[wire] : `no gRPC status (${err.message})`,
    };
  }
}

/** Mints one token of every kind with the bootstrapped management token. */
async function mintTokens(s: TestServer): Promise<Record<TokenKind, string>> {
  const admin = s.connect({ id: "token-minter" });
  // Entrypoint tokens are for an existing deployment: web-v1.
  await admin.createApp(APP, { operations: { build: "true" } });
  await admin.createDeployment(APP);
  // Jobs to look at and to cancel: each CancelJob call takes the next one.
  for (let i = 0; i < CREDENTIALS.length; i++) await admin.queueJob({ app: APP, operation: "build" });
  jobsCancelled = 0;
  const out = {} as Record<TokenKind, string>;
  for (const kind of TOKEN_KINDS) {
    const scope = kind === "entrypoint" ? { app: APP, deployment: DEPLOYMENT } : {};
    const minted = await admin.createToken({ kind, ...scope, description: `rpc-table ${kind}` });
    if (minted.kind !== kind) throw new Error(`asked for a ${kind} token, got ${minted.kind}`);
    out[kind] = minted.token;
  }
  return out;
}

function secretFor(credential: Credential, tokens: Record<TokenKind, string>): string | null {
  if (credential === "none") return null;
  if (credential === "invalid") return UNKNOWN_TOKEN;
  return tokens[credential];
}

test("the expectations of this file cover exactly the RPCs of RPC_TABLE", (t) => {
  t.deepEqual(Object.keys(EXPECTED).sort(), Object.keys(RPC_TABLE).sort());
  t.deepEqual(Object.keys(CALLS).sort(), Object.keys(RPC_TABLE).sort());
});

for (const path of Object.keys(RPC_TABLE) as RpcPath[]) {
  const method = methodName(path);
  test(`${method} answers each token kind, no token and an unknown token as DESIGN §7 prescribes`, async (t) => {
    const s = await startTestServer(t);
    const tokens = await mintTokens(s);
    const archive = await archiveFor(path, s);
    const registration = entrypointRpc(t, {
      address: s.address,
      token: tokens.entrypoint,
      id: REGISTERED_INSTANCE,
      deployment: DEPLOYMENT,
    }).config();
    await registration.message(0);
    registration.cancel();
    for (const credential of CREDENTIALS) {
      const kind = isEntrypointRpc(path) ? "entrypoint" : API_CLIENT_KIND[credential];
      const conn = s.connect({ kind, id: `${credential}-caller`, token: secretFor(credential, tokens) });
      const raw = () =>
        entrypointRpc(t, {
          address: s.address,
          token: secretFor(credential, tokens),
          id: `${credential}-caller`,
        });
      const got = await outcomeOf(CALLS[path](conn, DEPLOYMENT, archive, raw));
      t.deepEqual(
        got,
        expected(EXPECTED[path][credential]),
        `${method} called with ${credential} credentials`,
      );
    }
  });
}

function rawWaypointClient(t: ExecutionContext, address: string) {
  const { grpc: proto } = loadWaypointProto();
  const client = new proto.waypoint.v1.Waypoint(address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  return client;
}

test("GetVersionInfo answers a call that carries no metadata at all", async (t) => {
  const s = await startTestServer(t);
  const client = rawWaypointClient(t, s.address);
  const withEmpty = await new Promise<GetVersionInfoResponse__Output>((resolve, reject) =>
    client.GetVersionInfo({}, new grpc.Metadata(), (err, res) => (err || !res ? reject(err) : resolve(res))),
  );
  t.is(withEmpty.info?.version, BUILD_VERSION_INFO.version);
  t.deepEqual(withEmpty.info?.api, BUILD_VERSION_INFO.api);
  const withNone = await new Promise<GetVersionInfoResponse__Output>((resolve, reject) =>
    client.GetVersionInfo({}, (err, res) => (err || !res ? reject(err) : resolve(res))),
  );
  t.is(withNone.info?.version, BUILD_VERSION_INFO.version);
});

test("BootstrapToken without a token succeeds exactly once on a fresh server, even when raced", async (t) => {
  const dir = tempDir(t);
  const config = serverConfig({
    dbPath: join(dir, "data.db"),
    listenGrpc: "127.0.0.1:0",
    listenHttp: "127.0.0.1:0",
    listenUrl: "127.0.0.1:0",
    logLevel: "debug",
    versionInfo: BUILD_VERSION_INFO,
  });
  const server = await startServer(config, createLogger("debug", new LogSink()));
  t.teardown(() => server.close());
  const connect = (id: string, token?: string) => {
    const conn = new Connection(
      {
        address: server.grpcAddress,
        ...(token ? { token } : {}),
        tls: false,
        tlsSkipVerify: false,
        source: "test",
      },
      clientIdentity("cli", id, BUILD_VERSION_INFO),
    );
    t.teardown(() => conn.close());
    return conn;
  };

  const attempts = await Promise.all(
    [1, 2, 3, 4, 5].map(async (n) => {
      const conn = connect(`bootstrapper-${n}`);
      try {
        return { ok: await conn.bootstrap() };
      } catch (err) {
        return { err: await outcomeOf(Promise.reject(err)) };
      }
    }),
  );
  const winners = attempts.flatMap((a) => (a.ok ? [a.ok] : []));
  t.is(winners.length, 1, "exactly one bootstrap succeeds");
  t.deepEqual(
    attempts.flatMap((a) => (a.err ? [a.err] : [])),
    Array(4).fill(expected("ALREADY_BOOTSTRAPPED")),
  );
  const token = winners[0]!;
  t.is(token.kind, "management");

  // The bootstrapped token is a working management token; bootstrapping stays closed afterwards.
  const admin = connect("admin", token.token);
  t.is((await admin.createToken({ kind: "readonly" })).kind, "readonly");
  t.deepEqual(await outcomeOf(connect("late").bootstrap()), expected("ALREADY_BOOTSTRAPPED"));
});

test("an entrypoint token is refused for a deployment other than its own", async (t) => {
  const s = await startTestServer(t);
  const tokens = await mintTokens(s);
  await s.connect().createApp("api");
  const other = await s.connect().createDeployment("api");
  t.is(other.deployment.id, "api-v1");
  const call = CALLS["/waypoint.v1.Entrypoint/EntrypointConfig"];

  const web = s.connect({ kind: "entrypoint", id: "web-instance", token: tokens.entrypoint });
  t.deepEqual(
    await outcomeOf(call(web, "web-v2")),
    expected("PERMISSION_DENIED"),
    "same app, other deployment",
  );
  t.deepEqual(
    await outcomeOf(call(web, "api-v1")),
    expected("PERMISSION_DENIED"),
    "another app's deployment",
  );
  t.deepEqual(await outcomeOf(call(web, "")), expected("PERMISSION_DENIED"), "no deployment");

  const api = s.connect({ kind: "entrypoint", id: "api-instance", token: other.token });
  t.deepEqual(await outcomeOf(call(api, DEPLOYMENT)), expected("PERMISSION_DENIED"), "api token on web-v1");
  t.deepEqual(await outcomeOf(call(api, "api-v1")), expected("OK"), "api token on its own deployment");

  const listed = (await s.connect().inventory()).components.map((c) => c.id);
  t.true(listed.includes("api-instance"), "the accepted registration is listed");
  t.false(listed.includes("web-instance"), "a refused registration is never listed as a component");
});

test("client-kind entrypoint gets INVALID_ARGUMENT from every guarded api RPC", async (t) => {
  const s = await startTestServer(t);
  const apiPaths = (Object.keys(RPC_TABLE) as RpcPath[]).filter((p) => !isEntrypointRpc(p));
  t.true(apiPaths.length >= 2);
  for (const path of apiPaths) {
    const conn = s.connect({ kind: "entrypoint", id: "confused-entrypoint", token: s.token });
    const got = await outcomeOf(CALLS[path](conn, DEPLOYMENT, await archiveFor(path, s)));
    // GetVersionInfo is public and never rejected, so an entrypoint can always report a mismatch.
    const want = RPC_TABLE[path].access === "public" ? expected("OK") : expected("INVALID_HEADER");
    t.deepEqual(got, want, methodName(path));
  }
});

test("client kinds other than entrypoint get INVALID_ARGUMENT from EntrypointConfig", async (t) => {
  const s = await startTestServer(t);
  const tokens = await mintTokens(s);
  const call = CALLS["/waypoint.v1.Entrypoint/EntrypointConfig"];
  for (const kind of ["cli", "ui", "runner"] as const) {
    for (const token of [tokens.entrypoint, s.token]) {
      const conn = s.connect({ kind, id: `${kind}-as-entrypoint`, token });
      t.deepEqual(await outcomeOf(call(conn, DEPLOYMENT)), expected("INVALID_HEADER"), kind);
    }
  }
});

test("every method of every service in the proto has an RPC_TABLE entry of its family, and vice versa", (t) => {
  const { definition } = loadWaypointProto();
  const fromProto = new Map<string, string>();
  for (const [serviceName, entry] of Object.entries(definition)) {
    // Services are maps of method definitions; message and enum types carry a `format`.
    if ("format" in entry) continue;
    for (const method of Object.values(entry as grpc.ServiceDefinition))
      fromProto.set(method.path, serviceName);
  }
  const services = new Set(fromProto.values());
  t.true(
    services.has("waypoint.v1.Waypoint") && services.has("waypoint.v1.Entrypoint"),
    [...services].join(", "),
  );
  t.deepEqual([...fromProto.keys()].sort(), Object.keys(RPC_TABLE).sort());
  for (const [path, service] of fromProto) {
    const rule = (RPC_TABLE as Record<string, { family: string }>)[path];
    t.is(rule?.family, service === "waypoint.v1.Entrypoint" ? "entrypoint" : "api", path);
  }
});
