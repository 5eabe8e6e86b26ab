/**
 * `waypoint server run` as operators run it: real processes, real ports,
 * real files, real signals. Every server binds port 0 (or ports picked just
 * before) and keeps its data in a temp dir.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { PACKAGE_VERSION } from "../../src/build-info.js";
import { APPLICATION_ID, LATEST_SCHEMA_VERSION } from "../../src/server/store/migrations.js";
import {
  clientIdPath,
  cliHome,
  flagValue,
  lastLine,
  REPO_ROOT,
  runCli,
  startServerProcess,
} from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const CATALOG = join(REPO_ROOT, "fixtures/catalogs/protocol-steps.json");

/** Exit codes from src/protocol/errors.ts (README "Exit codes"). */
const EXIT = { usage: 2, unavailable: 3, unauthenticated: 4, outdated: 5, serverStart: 10 } as const;

function sqlite(db: string, sql: string): string {
  const r = spawnSync("sqlite3", [db, sql], { encoding: "utf8" });
  if (r.error) throw new Error(`the sqlite3 CLI is needed for this test: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`sqlite3 ${db} ${JSON.stringify(sql)} failed: ${r.stderr}`);
  return r.stdout.trim();
}

const bootstrap = async (t: Parameters<typeof runCli>[0], address: string, env: NodeJS.ProcessEnv = {}) => {
  const r = await runCli(t, ["server", "bootstrap", `-server-addr=${address}`], { env });
  t.is(r.code, 0, r.stderr);
  return lastLine(r.stdout);
};

test("a headless server bootstraps once and lists the CLI that called it", async (t) => {
  const server = await startServerProcess(t);
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };

  const first = await runCli(t, ["server", "bootstrap"], { env });
  t.is(first.code, 0, first.stderr);
  const token = lastLine(first.stdout);
  t.regex(token, /^\S{20,}$/);
  t.is(first.stdout.trim(), token, "stdout holds the token and nothing else");
  t.regex(first.stderr, /shown only once/);
  t.false(first.stderr.includes(token), "the guidance on stderr does not repeat the token");

  const second = await runCli(t, ["server", "bootstrap"], { env });
  t.is(second.code, 1);
  t.is(second.stdout, "");
  t.regex(second.stderr, /already bootstrapped/);

  const withToken = { ...env, WAYPOINT_SERVER_TOKEN: token };
  const [versions, version] = await Promise.all([
    runCli(t, ["versions", "-json"], { env: withToken }),
    runCli(t, ["version", "-json"], { env: withToken }),
  ]);
  t.is(versions.code, 0, versions.stderr);
  const inv = JSON.parse(versions.stdout) as {
    server: { version: string };
    components: { kind: string; via?: string; id: string; version: string }[];
  };
  t.deepEqual(Object.keys(inv).sort(), ["activeWindow", "components", "rejected", "server"]);
  t.is(inv.server.version, PACKAGE_VERSION);
  const myId = readFileSync(clientIdPath(cliHome(t).configHome), "utf8").trim();
  const me = inv.components.find((c) => c.id === myId);
  t.like(me, { kind: "client", via: "cli", version: PACKAGE_VERSION });

  t.is(version.code, 0, version.stderr);
  const v = JSON.parse(version.stdout) as Record<string, unknown>;
  t.like(v, {
    client: { version: PACKAGE_VERSION },
    server: { version: PACKAGE_VERSION },
    negotiated: { api: 1, entrypoint: 1 },
  });

  t.is(server.stdout(), "", "a headless server writes nothing to stdout");
});

test("an outdated emulated client is refused with both ranges and shows up as rejected", async (t) => {
  const server = await startServerProcess(t, { args: ["-emulate-version=0.3.0", `-catalog=${CATALOG}`] });
  const compatible = {
    WAYPOINT_SERVER_ADDR: server.grpcAddress,
    WAYPOINT_EMULATE_VERSION: "0.3.0",
    WAYPOINT_CATALOG: CATALOG,
  };
  const token = await bootstrap(t, server.grpcAddress, compatible);

  // The outdated client is another installation, with its own client-id, holding a valid token
  // (only callers with a valid token are recorded as rejected).
  const oldHome = tempDir(t, "waypoint-old-cli-");
  const outdated = await runCli(t, ["versions"], {
    env: {
      ...compatible,
      WAYPOINT_EMULATE_VERSION: "0.1.0",
      WAYPOINT_SERVER_TOKEN: token,
      XDG_CONFIG_HOME: oldHome,
    },
  });
  t.is(outdated.code, EXIT.outdated, outdated.stderr);
  t.is(outdated.stdout, "");
  t.regex(outdated.stderr, /client is outdated/);
  t.regex(outdated.stderr, /\bapi protocol 1\b/);
  t.regex(outdated.stderr, /\b2-3\b/);
  const oldId = readFileSync(clientIdPath(oldHome), "utf8").trim();

  const asAdmin = { ...compatible, WAYPOINT_SERVER_TOKEN: token };
  const [json, text] = await Promise.all([
    runCli(t, ["versions", "-json"], { env: asAdmin }),
    runCli(t, ["versions"], { env: asAdmin }),
  ]);
  t.is(json.code, 0, json.stderr);
  const inv = JSON.parse(json.stdout) as { rejected: Record<string, unknown>[] };
  t.is(inv.rejected.length, 1);
  t.like(inv.rejected[0], {
    kind: "client",
    via: "cli",
    id: oldId,
    version: "0.1.0",
    api: { min: 1, current: 1 },
    count: 1,
    emulated: true,
  });

  t.is(text.code, 0, text.stderr);
  const lines = text.stdout.split("\n");
  t.regex(lines[0] ?? "", /^Server 0\.3\.0 \(emulated\)/);
  t.truthy(
    lines.find((l) => /^client\/cli\s+0\.3\.0 \(emulated\)\s+api 2-3/.test(l)),
    "the compatible client's group",
  );
  t.truthy(
    lines.find((l) => l.includes(oldId) && l.includes("0.1.0 (emulated)")),
    "the rejected client's row",
  );
});

test("SIGTERM stops the server cleanly and leaves data.db a complete offline backup", async (t) => {
  const server = await startServerProcess(t);
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const token = await bootstrap(t, server.grpcAddress);
  const readonly = await runCli(t, ["token", "new", "-kind=readonly"], {
    env: { ...env, WAYPOINT_SERVER_TOKEN: token },
  });
  t.is(readonly.code, 0, readonly.stderr);

  t.is(await server.stop("SIGTERM"), 0);
  t.truthy(
    server.records().find((r) => typeof r.msg === "string" && /^stopped/.test(r.msg)),
    server.logs().join("\n"),
  );

  const backupDir = tempDir(t, "waypoint-backup-");
  const copy = join(backupDir, "data.db");
  copyFileSync(server.dbPath!, copy);
  t.is(sqlite(copy, "PRAGMA integrity_check"), "ok");
  t.is(
    sqlite(copy, "SELECT group_concat(kind, ',') FROM (SELECT kind FROM tokens ORDER BY kind)"),
    "management,readonly",
  );
  t.false(readFileSync(copy).includes(token), "tokens are stored only as hashes");

  const restored = await startServerProcess(t, { db: copy });
  const versions = await runCli(t, ["versions"], {
    env: { WAYPOINT_SERVER_ADDR: restored.grpcAddress, WAYPOINT_SERVER_TOKEN: token },
  });
  t.is(versions.code, 0, versions.stderr);
});

test("without -db the server warns and creates data.db in its working directory", async (t) => {
  const cwd = tempDir(t, "waypoint-cwd-");
  const server = await startServerProcess(t, { cwd, db: null });
  const warning = server
    .records()
    .find((r) => r.level === 40 && typeof r.msg === "string" && r.msg.includes("-db"));
  t.truthy(warning, server.logs().join("\n"));
  t.is(server.ready?.db, "./data.db");
  t.true(existsSync(join(cwd, "data.db")));
});

test("a second server on a port in use exits 10 saying the address is in use", async (t) => {
  const first = await startServerProcess(t);
  const other = tempDir(t);
  const [grpcTaken, httpTaken] = await Promise.all([
    runCli(t, [
      "server",
      "run",
      `-db=${join(other, "a.db")}`,
      `-listen-grpc=${first.grpcAddress}`,
      "-listen-http=127.0.0.1:0",
    ]),
    runCli(t, [
      "server",
      "run",
      `-db=${join(other, "b.db")}`,
      "-listen-grpc=127.0.0.1:0",
      `-listen-http=${first.httpAddress}`,
    ]),
  ]);
  t.is(grpcTaken.code, EXIT.serverStart, grpcTaken.stderr);
  t.regex(grpcTaken.stderr, /address is already in use/);
  t.true(grpcTaken.stderr.includes(`${first.grpcAddress} (-listen-grpc)`), grpcTaken.stderr);
  t.is(httpTaken.code, EXIT.serverStart, httpTaken.stderr);
  t.regex(httpTaken.stderr, /address is already in use/);
  t.true(httpTaken.stderr.includes(`${first.httpAddress} (-listen-http)`), httpTaken.stderr);
  t.is((await fetch(`http://${first.httpAddress}/healthz`)).status, 200, "the first server still serves");
});

test("a second server on the same database exits 10 and the first keeps serving", async (t) => {
  const first = await startServerProcess(t);
  const second = await runCli(t, [
    "server",
    "run",
    `-db=${first.dbPath}`,
    "-listen-grpc=127.0.0.1:0",
    "-listen-http=127.0.0.1:0",
    "-listen-url=127.0.0.1:0",
  ]);
  t.is(second.code, EXIT.serverStart, second.stderr);
  t.regex(second.stderr, /locked by another process/);
  t.regex(second.stderr, /another waypoint server/);
  t.false(second.stderr.includes("server ready"));
  // A write after the refused start: the first server still owns a healthy database.
  await bootstrap(t, first.grpcAddress);
});

test("a database from a newer schema is refused and left byte-identical", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "data.db");
  const newer = LATEST_SCHEMA_VERSION + 1;
  sqlite(
    db,
    `PRAGMA application_id = ${APPLICATION_ID}; PRAGMA user_version = ${newer}; CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);`,
  );
  const before = readFileSync(db);

  const r = await runCli(t, [
    "server",
    "run",
    `-db=${db}`,
    "-listen-grpc=127.0.0.1:0",
    "-listen-http=127.0.0.1:0",
  ]);
  t.is(r.code, EXIT.serverStart, r.stderr);
  t.regex(
    r.stderr,
    new RegExp(`schema version ${newer}, newer than this server knows \\(${LATEST_SCHEMA_VERSION}\\)`),
  );
  t.regex(r.stderr, /not modified/);
  t.true(readFileSync(db).equals(before), "the file is byte-identical");
  t.deepEqual(readdirSync(dir), ["data.db"], "no journal, WAL or backup was written beside it");
});

test("an unwritable data dir makes the server exit 10 with a clear message", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "a-file");
  writeFileSync(file, "not a directory\n");
  const dataDir = join(file, "data");
  const r = await runCli(t, [
    "server",
    "run",
    `-db=${join(dataDir, "data.db")}`,
    "-listen-grpc=127.0.0.1:0",
    "-listen-http=127.0.0.1:0",
  ]);
  t.is(r.code, EXIT.serverStart, r.stderr);
  t.true(r.stderr.includes(`data dir ${dataDir} is not writable`), r.stderr);
  t.regex(r.stderr, /Hint: .*point -db elsewhere/);
  t.false(r.stderr.includes("server ready"));
});

test("/healthz answers 200 with JSON status ok and the version", async (t) => {
  const server = await startServerProcess(t);
  const res = await fetch(`http://${server.httpAddress}/healthz`);
  t.is(res.status, 200);
  t.regex(res.headers.get("content-type") ?? "", /^application\/json/);
  t.like(await res.json(), { status: "ok", version: PACKAGE_VERSION });
  t.is((await fetch(`http://${server.httpAddress}/nope`)).status, 404);
});

test("-vvv logs debug lines and never the tokens", async (t) => {
  const server = await startServerProcess(t, { args: ["-vvv"] });
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const token = await bootstrap(t, server.grpcAddress);
  const refused = await runCli(t, ["versions"], { env });
  t.is(refused.code, EXIT.unauthenticated, refused.stderr);
  const created = await runCli(t, ["token", "new", "-kind=readonly"], {
    env: { ...env, WAYPOINT_SERVER_TOKEN: token },
  });
  t.is(created.code, 0, created.stderr);
  const second = lastLine(created.stdout);
  const badToken = `${token}x`;
  const wrong = await runCli(t, ["versions"], { env: { ...env, WAYPOINT_SERVER_TOKEN: badToken } });
  t.is(wrong.code, EXIT.unauthenticated, wrong.stderr);

  await waitFor(
    () => server.records().filter((r) => r.msg === "call refused").length >= 2,
    "two 'call refused' lines",
  );
  t.true(
    server.records().some((r) => typeof r.level === "number" && r.level <= 20),
    "at least one debug or trace line",
  );
  t.is(await server.stop(), 0);
  const logs = server.logs().join("\n");
  for (const secret of [token, second, badToken]) t.false(logs.includes(secret), "a token reached the log");
});

test("WAYPOINT_LOG_LEVEL=error hides the ready line", async (t) => {
  const server = await startServerProcess(t, { env: { WAYPOINT_LOG_LEVEL: "error" }, readiness: "healthz" });
  const refused = await runCli(t, ["versions"], { env: { WAYPOINT_SERVER_ADDR: server.grpcAddress } });
  t.is(refused.code, EXIT.unauthenticated, refused.stderr);
  // Stopping flushes everything the server would ever write.
  t.is(await server.stop(), 0);
  t.deepEqual(
    server.records().filter((r) => typeof r.level !== "number" || r.level < 50),
    [],
    "nothing below error level",
  );
});

test("-db accepts both the --db=PATH and the -db PATH spellings", async (t) => {
  const dir = tempDir(t);
  const spellings = [[`--db=${join(dir, "one.db")}`], ["-db", join(dir, "two.db")]];
  const servers = await Promise.all(spellings.map((args) => startServerProcess(t, { args })));
  for (const [i, server] of servers.entries()) {
    const path = flagValue(spellings[i]!, "db")!;
    t.is(server.ready?.db, path);
    t.true(existsSync(path), path);
  }
});

test("an unknown flag exits 2 with Go's wording and touches nothing", async (t) => {
  const cwd = tempDir(t, "waypoint-cwd-");
  const r = await runCli(t, ["server", "run", "-listen-grpc=127.0.0.1:0", "-nope"], { cwd });
  t.is(r.code, EXIT.usage, r.stderr);
  t.regex(r.stderr, /flag provided but not defined: -nope/);
  t.deepEqual(readdirSync(cwd), [], "no data.db was created");
});

test("a TLS server serves TLS clients and refuses plaintext ones with exit 3", async (t) => {
  const openssl = spawnSync("openssl", ["version"], { encoding: "utf8" });
  if (openssl.error) {
    t.fail(`the openssl CLI is needed for this test: ${openssl.error.message}`);
    return;
  }
  const dir = tempDir(t);
  mkdirSync(join(dir, "tls"));
  const cert = join(dir, "tls", "cert.pem");
  const key = join(dir, "tls", "key.pem");
  const gen = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-days",
      "1",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    { encoding: "utf8" },
  );
  t.is(gen.status, 0, gen.stderr);

  const server = await startServerProcess(t, { args: [`-tls-cert-file=${cert}`, `-tls-key-file=${key}`] });
  t.is(server.ready?.tls, true);
  const addr = `-server-addr=${server.grpcAddress}`;
  const [tls, plain, unverified] = await Promise.all([
    runCli(t, ["version", "-json", addr, "-server-tls", "-server-tls-skip-verify"]),
    runCli(t, ["version", "-json", addr]),
    runCli(t, ["version", "-json", addr, "-server-tls"]),
  ]);
  t.is(tls.code, 0, tls.stderr);
  t.like(JSON.parse(tls.stdout), { server: { version: PACKAGE_VERSION }, negotiated: { api: 1 } });
  t.is(plain.code, EXIT.unavailable, plain.stderr);
  t.like(JSON.parse(plain.stdout), { server: null });
  t.is(
    unverified.code,
    EXIT.unavailable,
    "a self-signed certificate is refused unless verification is skipped",
  );
});
