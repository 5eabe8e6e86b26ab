import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { clientIdentity } from "../../src/client/identity.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { EntrypointClient } from "../../src/gen/waypoint/v1/Entrypoint.js";
import type { Inventory__Output } from "../../src/gen/waypoint/v1/Inventory.js";
import type { WaypointClient } from "../../src/gen/waypoint/v1/Waypoint.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import { emulatedVersionInfo } from "../../src/protocol/emulation.js";
import { type ClientKind, encodeClientHeaders, HEADERS } from "../../src/protocol/headers.js";
import type { VersionInfo } from "../../src/protocol/version-info.js";
import { webV1 } from "../helpers/entrypoint-rpc.js";
import { startTestServer } from "../helpers/server.js";

const catalog = parseCatalog(
  readFileSync("fixtures/catalogs/protocol-steps.json", "utf8"),
  "protocol-steps.json",
);
const release = (version: string) => emulatedVersionInfo(catalog, version);

/** The five identity headers every RPC must carry exactly once. */
const IDENTITY_HEADERS = [
  HEADERS.version,
  HEADERS.kind,
  HEADERS.id,
  HEADERS.api,
  HEADERS.entrypoint,
] as const;

/** A value that is present once but unacceptable, per header. */
const MALFORMED: Record<(typeof IDENTITY_HEADERS)[number], string> = {
  "client-version": "v0.1.0",
  "client-kind": "server",
  "client-id": "has space",
  "client-api-protocol": "3,1",
  "client-entrypoint-protocol": "one,two",
};

interface Raw {
  readonly waypoint: WaypointClient;
  readonly entrypoint: EntrypointClient;
}

/** Plain grpc-js clients: nothing but what the test puts in the metadata goes over the wire. */
function rawClients(t: ExecutionContext, address: string): Raw {
  const { grpc: proto } = loadWaypointProto();
  const creds = grpc.credentials.createInsecure();
  const waypoint = new proto.waypoint.v1.Waypoint(address, creds);
  const entrypoint = new proto.waypoint.v1.Entrypoint(address, creds);
  t.teardown(() => {
    waypoint.close();
    entrypoint.close();
  });
  return { waypoint, entrypoint };
}

/** Identity headers as a real component sends them, plus the bearer token when given. */
function metadataFor(
  opts: { kind?: ClientKind; id?: string; info?: VersionInfo; token?: string } = {},
): grpc.Metadata {
  const md = new grpc.Metadata();
  const who = clientIdentity(opts.kind ?? "cli", opts.id ?? "guard-test", opts.info ?? BUILD_VERSION_INFO);
  for (const [k, v] of Object.entries(encodeClientHeaders(who))) md.set(k, v);
  if (opts.token) md.set(HEADERS.authorization, `Bearer ${opts.token}`);
  return md;
}

interface Result<T> {
  /** gRPC status name. */
  readonly status: string;
  readonly details: string;
  /** The AppError code the server put in the trailers. */
  readonly errorCode?: string;
  readonly value?: T;
}

function errorResult(err: grpc.ServiceError): Result<never> {
  const code = err.metadata?.get("waypoint-error-code")[0];
  return {
    status: grpc.status[err.code],
    details: err.details,
    ...(typeof code === "string" ? { errorCode: code } : {}),
  };
}

function unary<T>(
  invoke: (md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res?: T) => void) => unknown,
  md: grpc.Metadata,
): Promise<Result<T>> {
  return new Promise((resolve) => {
    invoke(md, (err, res) =>
      resolve(err ? errorResult(err) : { status: "OK", details: "", value: res as T }),
    );
  });
}

function getInventory(raw: Raw, md: grpc.Metadata): Promise<Result<Inventory__Output>> {
  return unary<Inventory__Output>((m, cb) => raw.waypoint.GetInventory({ includeInactive: true }, m, cb), md);
}

/** The outcome of a server stream: OK at its first message (then cancelled), or its error. */
function firstOf(call: grpc.ClientReadableStream<unknown>): Promise<Result<unknown>> {
  return new Promise((resolve) => {
    let settled = false;
    call.on("data", (value: unknown) => {
      if (settled) return;
      settled = true;
      call.cancel();
      resolve({ status: "OK", details: "", value });
    });
    call.on("error", (err: grpc.ServiceError) => {
      if (settled) return;
      settled = true;
      resolve(errorResult(err));
    });
    call.on("end", () => {
      if (settled) return;
      settled = true;
      resolve({ status: "ENDED_WITHOUT_MESSAGE", details: "" });
    });
  });
}

// --- identity headers ---------------------------------------------------------------------------

type Mangle = "missing" | "duplicated" | "malformed";

function mangle(md: grpc.Metadata, header: (typeof IDENTITY_HEADERS)[number], how: Mangle): grpc.Metadata {
  const value = md.get(header)[0] as string;
  if (how === "missing") md.remove(header);
  else if (how === "duplicated") md.add(header, value);
  else md.set(header, MALFORMED[header]);
  return md;
}

for (const header of IDENTITY_HEADERS) {
  for (const how of ["missing", "duplicated", "malformed"] as const) {
    test(`a ${how} ${header} header is refused with INVALID_ARGUMENT naming the header`, async (t) => {
      const s = await startTestServer(t);
      const raw = rawClients(t, s.address);
      const res = await getInventory(raw, mangle(metadataFor({ token: s.token }), header, how));
      t.is(res.status, "INVALID_ARGUMENT");
      t.is(res.errorCode, "INVALID_HEADER");
      t.true(res.details.includes(header), res.details);
      if (how === "missing") t.regex(res.details, /missing/);
      // Node's HTTP/2 layer joins a repeated header into "a, b"; the guard must still see two values.
      if (how === "duplicated") t.regex(res.details, /sent 2 times/);
    });
  }
}

test("a range header sent twice as two halves is not read as one range", async (t) => {
  const s = await startTestServer(t);
  const raw = rawClients(t, s.address);
  for (const header of [HEADERS.api, HEADERS.entrypoint]) {
    const md = metadataFor({ token: s.token });
    md.set(header, "1");
    md.add(header, "1");
    const res = await getInventory(raw, md);
    t.is(res.status, "INVALID_ARGUMENT", header);
    t.true(res.details.includes(header), res.details);
  }
});

test("a header refused on a stream RPC gets the same INVALID_ARGUMENT as on a unary one", async (t) => {
  const s = await startTestServer(t);
  const raw = rawClients(t, s.address);
  const entrypointToken = (await webV1(s.connect())).token;

  const watchMd = metadataFor({ token: s.token });
  watchMd.remove(HEADERS.id);
  const watch = await firstOf(raw.waypoint.WatchState({}, watchMd));
  t.like(watch, { status: "INVALID_ARGUMENT", errorCode: "INVALID_HEADER" });
  t.true(watch.details.includes(HEADERS.id), watch.details);

  const configMd = metadataFor({ kind: "entrypoint", token: entrypointToken });
  configMd.set(HEADERS.version, MALFORMED[HEADERS.version]);
  const request = { instanceId: "i-1", deploymentId: "web-v1", hostname: "h", pid: 1, startedAt: "" };
  const config = await firstOf(raw.entrypoint.EntrypointConfig(request, configMd));
  t.like(config, { status: "INVALID_ARGUMENT", errorCode: "INVALID_HEADER" });
  t.true(config.details.includes(HEADERS.version), config.details);

  // The same calls with intact headers go through: the refusals above were about the headers.
  t.is((await firstOf(raw.waypoint.WatchState({}, metadataFor({ token: s.token })))).status, "OK");
  const good = metadataFor({ kind: "entrypoint", token: entrypointToken });
  t.is((await firstOf(raw.entrypoint.EntrypointConfig(request, good))).status, "OK");
});

test("a client-stream RPC passes the checks of a unary one, and its handler's errors go through toStatus", async (t) => {
  const s = await startTestServer(t);
  const raw = rawClients(t, s.address);
  const readonly = (await s.connect().createToken({ kind: "readonly" })).token;
  const restore = (md: grpc.Metadata) =>
    new Promise<Result<unknown>>((resolve) => {
      const call = raw.waypoint.RestoreSnapshot(md, (err, res) =>
        resolve(err ? errorResult(err) : { status: "OK", details: "", value: res }),
      );
      call.write({ options: { mode: "stage" } });
      call.write({ data: Buffer.from("not a snapshot") });
      call.end();
    });

  const noId = metadataFor({ token: s.token });
  noId.remove(HEADERS.id);
  const header = await restore(noId);
  t.like(header, { status: "INVALID_ARGUMENT", errorCode: "INVALID_HEADER" });
  t.true(header.details.includes(HEADERS.id), header.details);
  t.like(await restore(metadataFor()), { status: "UNAUTHENTICATED", errorCode: "UNAUTHENTICATED" });
  t.like(await restore(metadataFor({ token: readonly })), {
    status: "PERMISSION_DENIED",
    errorCode: "PERMISSION_DENIED",
  });
  // Let through, the same upload reaches the handler, whose error also goes out through toStatus.
  t.like(await restore(metadataFor({ token: s.token })), {
    status: "INVALID_ARGUMENT",
    errorCode: "SNAPSHOT_INVALID",
  });
});

// (grpc-js itself refuses to send a duplicated authorization header, so that case is covered by
// test/protocol/headers.test.ts only.)
test("a missing or malformed authorization header is UNAUTHENTICATED; the scheme is case-insensitive", async (t) => {
  const s = await startTestServer(t);
  const raw = rawClients(t, s.address);
  const withAuth = (...values: string[]) => {
    const md = metadataFor();
    for (const v of values) md.add(HEADERS.authorization, v);
    return md;
  };
  const refused: [string, grpc.Metadata][] = [
    ["missing", withAuth()],
    ["no scheme", withAuth(s.token)],
    ["another scheme", withAuth(`Basic ${s.token}`)],
    ["empty token", withAuth("Bearer ")],
    ["trailing text", withAuth(`Bearer ${s.token} extra`)],
  ];
  for (const [what, md] of refused) {
    const res = await getInventory(raw, md);
    t.like(res, { status: "UNAUTHENTICATED", errorCode: "UNAUTHENTICATED" }, `${what}: ${res.details}`);
  }
  t.is((await getInventory(raw, withAuth(`bearer ${s.token}`))).status, "OK");
});

// --- protocol negotiation -----------------------------------------------------------------------

test("an outdated client gets FAILED_PRECONDITION naming both ranges and shows up, counted, under rejected", async (t) => {
  const s = await startTestServer(t, { versionInfo: release("0.3.0") });
  const raw = rawClients(t, s.address);
  const old = () => metadataFor({ id: "old-cli", info: release("0.1.0"), token: s.token });

  const res = await getInventory(raw, old());
  t.is(res.status, "FAILED_PRECONDITION");
  t.is(res.errorCode, "CLIENT_OUTDATED");
  t.true(res.details.includes("client is outdated"), res.details);
  t.regex(res.details, /client 0\.1\.0 speaks api protocol 1\b/);
  t.regex(res.details, /server 0\.3\.0 speaks 2-3\b/);

  // GetVersionInfo is never rejected, so the outdated client can still learn what the server speaks.
  const info = await unary((md, cb) => raw.waypoint.GetVersionInfo({}, md, cb), old());
  t.like(info.value, { info: { version: "0.3.0", api: { min: 2, current: 3 }, emulated: true } });

  const admin = metadataFor({ id: "admin", info: release("0.3.0"), token: s.token });
  const rejectedOld = async () => {
    const inv = await getInventory(raw, admin);
    t.is(inv.status, "OK", inv.details);
    return inv.value?.rejected.filter((r) => r.id === "old-cli") ?? [];
  };
  const first = await rejectedOld();
  t.is(first.length, 1);
  t.like(first[0], { kind: "client", via: "cli", version: "0.1.0", api: { min: 1, current: 1 }, count: 1 });
  t.true(first[0]!.reason.includes("client is outdated"), first[0]!.reason);
  t.false(
    (await getInventory(raw, admin)).value?.components.some((c) => c.id === "old-cli"),
    "a rejected client is not listed as an accepted component",
  );

  t.is((await getInventory(raw, old())).status, "FAILED_PRECONDITION");
  t.is((await getInventory(raw, old())).status, "FAILED_PRECONDITION");
  const later = await rejectedOld();
  t.is(later.length, 1);
  t.is(later[0]!.count, 3);
  t.true(later[0]!.lastSeen >= first[0]!.lastSeen);
});

test("an outdated caller without a valid token gets the version message but is not recorded", async (t) => {
  const s = await startTestServer(t, { versionInfo: release("0.3.0") });
  const raw = rawClients(t, s.address);
  for (const [id, token] of [
    ["anonymous-old", undefined],
    ["forged-old", "wpm_not-a-token-this-server-issued"],
  ] as const) {
    const res = await getInventory(
      raw,
      metadataFor({ id, info: release("0.1.0"), ...(token ? { token } : {}) }),
    );
    t.is(res.status, "FAILED_PRECONDITION", id);
    t.regex(res.details, /server 0\.3\.0 speaks 2-3\b/);
  }
  const admin = metadataFor({ id: "admin", info: release("0.3.0"), token: s.token });
  const inv = await getInventory(raw, admin);
  t.deepEqual(
    inv.value?.rejected.map((r) => r.id),
    [],
    "only callers holding a valid token are recorded, so the list cannot be flooded",
  );
});

test("a client newer than the server gets FAILED_PRECONDITION saying the server is outdated", async (t) => {
  const s = await startTestServer(t, { versionInfo: release("0.1.0") });
  const raw = rawClients(t, s.address);
  const res = await getInventory(raw, metadataFor({ id: "new-cli", info: release("0.4.0"), token: s.token }));
  t.is(res.status, "FAILED_PRECONDITION");
  t.is(res.errorCode, "SERVER_OUTDATED");
  t.true(res.details.includes("server is outdated"), res.details);
  t.regex(res.details, /client 0\.4\.0 speaks api protocol 3\b/);
  t.regex(res.details, /server 0\.1\.0 speaks 1\b/);

  const inv = await getInventory(raw, metadataFor({ id: "admin", info: release("0.1.0"), token: s.token }));
  t.like(
    inv.value?.rejected.find((r) => r.id === "new-cli"),
    { kind: "client", version: "0.4.0", count: 1 },
  );
});

test("an outdated entrypoint is refused on its stream and recorded as a rejected entrypoint", async (t) => {
  const s = await startTestServer(t, { versionInfo: release("0.4.0") });
  const raw = rawClients(t, s.address);
  const token = (await webV1(s.connect())).token;
  const request = { instanceId: "i-old", deploymentId: "web-v1", hostname: "h", pid: 1, startedAt: "" };
  const md = metadataFor({ kind: "entrypoint", id: "old-entrypoint", info: release("0.1.0"), token });
  const res = await firstOf(raw.entrypoint.EntrypointConfig(request, md));
  t.is(res.status, "FAILED_PRECONDITION");
  t.is(res.errorCode, "CLIENT_OUTDATED");
  t.true(res.details.includes("entrypoint is outdated"), res.details);
  t.regex(res.details, /speaks entrypoint protocol 1\b/);
  t.regex(res.details, /server 0\.4\.0 speaks 2-3\b/);

  const inv = await s.connect().inventory();
  t.like(
    inv.rejected.find((r) => r.id === "old-entrypoint"),
    { kind: "entrypoint", version: "0.1.0", entrypoint: { min: 1, current: 1 }, count: 1 },
  );
});

// --- secrets ------------------------------------------------------------------------------------

test("no log line at trace level contains a token secret, whatever the calls and errors", async (t) => {
  const s = await startTestServer(t, { logLevel: "trace" });
  const raw = rawClients(t, s.address);
  const admin = s.connect({ id: "admin" });
  const secrets = [s.token, `wpm_${"Z".repeat(43)}`];
  for (const kind of ["management", "readonly", "runner"] as const) {
    secrets.push((await admin.createToken({ kind, description: `secret test ${kind}` })).token);
  }
  const entrypoint = (await webV1(admin)).token;
  secrets.push(entrypoint);

  const outcomes: string[] = [];
  for (const token of secrets) {
    const api = metadataFor({ token });
    outcomes.push((await getInventory(raw, api)).status);
    outcomes.push(
      (await unary((md, cb) => raw.waypoint.CreateToken({ kind: "runner" }, md, cb), api)).status,
    );
    outcomes.push((await unary((md, cb) => raw.waypoint.CreateToken({ kind: "bogus" }, md, cb), api)).status);
    outcomes.push((await unary((md, cb) => raw.waypoint.BootstrapToken({}, md, cb), api)).status);
    outcomes.push((await firstOf(raw.waypoint.WatchState({}, api))).status);
    const ep = metadataFor({ kind: "entrypoint", id: "secret-ep", token });
    const request = { instanceId: "i-1", deploymentId: "web-v2", hostname: "h", pid: 1, startedAt: "" };
    outcomes.push((await firstOf(raw.entrypoint.EntrypointConfig(request, ep))).status);
    // Refused before authorization, with the token still in the metadata.
    const bad = metadataFor({ token });
    bad.set(HEADERS.api, "garbage");
    outcomes.push((await getInventory(raw, bad)).status);
    const malformed = metadataFor();
    malformed.set(HEADERS.authorization, `Bearer ${token} trailing`);
    outcomes.push((await getInventory(raw, malformed)).status);
    const duplicated = metadataFor({ token });
    duplicated.add(HEADERS.id, "second-id");
    outcomes.push((await getInventory(raw, duplicated)).status);
  }
  // Every kind of answer was exercised, so the refusals really were logged.
  for (const status of [
    "OK",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
  ]) {
    t.true(outcomes.includes(status), `no call ended in ${status}`);
  }
  await s.server.close();
  t.true(s.logs.raw.length > 20, `only ${s.logs.raw.length} log lines were written`);
  t.true(
    s.logs.lines.some((l) => l.level === 20 && l.msg === "call refused"),
    "refusals are logged at debug level",
  );
  for (const secret of secrets) {
    // The random part alone, so that an escaped or re-prefixed copy is caught too.
    const needle = secret.slice(4);
    const leaking = s.logs.raw.filter((line) => line.includes(needle));
    t.deepEqual(leaking, [], `the secret ${secret.slice(0, 8)}… appears in the log`);
  }
});
