/**
 * Files that hold secrets are private whatever the umask: the database (and
 * its -wal/-shm), the data dir, snapshots (plain and encrypted), staged
 * restores, the copies kept beside the database (pre-restore, pre-migrate),
 * contexts and their directories, the CLI's installation id, and the embedded
 * server's database, log and token. Upgrade-plan exports hold no secret and
 * are 0644 on purpose.
 *
 * This file runs under umask 000 (ava runs each test file in a process of its
 * own, and children inherit the umask): every mode checked here comes from the
 * code, none from a cautious umask.
 */
import { chmodSync, existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { startEmbeddedServer } from "../../src/server/embedded.js";
import { MIGRATIONS } from "../../src/server/store/migrations.js";
import { openDatabase } from "../../src/server/store/open.js";
import { clientIdPath, cliHome, lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

process.umask(0o000);

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8).padStart(4, "0");

/** Asserts `path` exists with `mode`, naming the file in the message. */
function hasMode(t: ExecutionContext, path: string, mode: string): void {
  t.true(existsSync(path), `${path} exists`);
  if (existsSync(path)) t.is(modeOf(path), mode, `mode of ${path}`);
}

/** The database's companions that exist now (SQLite gives them the database's own mode). */
const companions = (db: string): string[] => [`${db}-wal`, `${db}-shm`, `${db}-journal`].filter(existsSync);

test("the umask of this file's processes is 000, so a mode can only come from the code", (t) => {
  t.is(process.umask(), 0);
});

test("server, CLI, snapshot and restore files are 0600 and their directories 0700 under umask 000", async (t) => {
  const dataDir = join(tempDir(t, "waypoint-modes-"), "new", "data");
  const db = join(dataDir, "data.db");
  const server = await startServerProcess(t, { db });
  hasMode(t, dataDir, "0700");
  hasMode(t, db, "0600");
  for (const file of companions(db)) hasMode(t, file, "0600");

  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${server.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  const token = lastLine(boot.stdout);

  // Contexts: the config dir, contexts/ and each file; the CLI's installation id beside them.
  const made = await runCli(t, [
    "context",
    "create",
    `-server-addr=${server.grpcAddress}`,
    `-server-token=${token}`,
    "-set-default",
    "local",
  ]);
  t.is(made.code, 0, made.stderr);
  const configDir = join(cliHome(t).configHome, "waypoint");
  hasMode(t, configDir, "0700");
  hasMode(t, join(configDir, "contexts"), "0700");
  const contextFiles = readdirSync(join(configDir, "contexts")).filter((f) => f.endsWith(".json"));
  t.true(contextFiles.length > 0, "a context file was written");
  for (const f of contextFiles) hasMode(t, join(configDir, "contexts", f), "0600");
  const current = await runCli(t, ["versions"]);
  t.is(current.code, 0, current.stderr);
  hasMode(t, clientIdPath(cliHome(t).configHome), "0600");
  for (const f of readdirSync(configDir)) {
    const path = join(configDir, f);
    if (statSync(path).isFile()) hasMode(t, path, "0600");
  }

  // Snapshots, plain and encrypted, through the context.
  const cwd = tempDir(t, "waypoint-cwd-");
  const plain = await runCli(t, ["server", "snapshot", "plain.snap"], { cwd });
  t.is(plain.code, 0, plain.stderr);
  hasMode(t, join(cwd, "plain.snap"), "0600");
  const named = await runCli(t, ["server", "snapshot"], { cwd });
  t.is(named.code, 0, named.stderr);
  const defaultName = readdirSync(cwd).find((f) => f.startsWith("waypoint-snapshot-"));
  t.truthy(defaultName, "the default-named snapshot");
  if (defaultName) hasMode(t, join(cwd, defaultName), "0600");
  const encrypted = await runCli(t, ["server", "snapshot", "-encrypt", "sealed.snap"], {
    cwd,
    env: { WAYPOINT_SNAPSHOT_PASSPHRASE: "correct horse battery staple" },
  });
  t.is(encrypted.code, 0, encrypted.stderr);
  hasMode(t, join(cwd, "sealed.snap"), "0600");
  t.deepEqual(
    readdirSync(cwd).filter((f) => f.startsWith(".")),
    [],
    "no temp file or verify dir left behind",
  );

  // A staged restore, then the next start applies it and keeps the previous database beside it.
  const staged = await runCli(t, ["server", "restore", "plain.snap"], { cwd });
  t.is(staged.code, 0, staged.stderr);
  hasMode(t, join(dataDir, "waypoint-restore.db"), "0600");
  t.is(await server.stop(), 0);
  const again = await startServerProcess(t, { db });
  t.false(existsSync(join(dataDir, "waypoint-restore.db")), "the stage was applied");
  hasMode(t, db, "0600");
  const kept = readdirSync(dataDir).filter((f) => f.startsWith("data.db.pre-restore-"));
  t.true(kept.length > 0, "the previous database is kept");
  for (const f of readdirSync(dataDir)) hasMode(t, join(dataDir, f), "0600");

  // A live restore keeps the previous database too.
  const live = await runCli(t, ["server", "restore", "-live", "plain.snap"], {
    cwd,
    env: { WAYPOINT_SERVER_ADDR: again.grpcAddress, WAYPOINT_SERVER_TOKEN: token },
  });
  t.is(live.code, 0, live.stderr);
  for (const f of readdirSync(dataDir)) hasMode(t, join(dataDir, f), "0600");

  // A plan export holds versions and ids, no secret: 0644 on purpose, readable like any document.
  const plan = await runCli(t, ["upgrade", "plan", "-format=markdown", "-out=plan.md"], {
    cwd,
    env: { WAYPOINT_SERVER_ADDR: again.grpcAddress, WAYPOINT_SERVER_TOKEN: token },
  });
  t.true(existsSync(join(cwd, "plan.md")), plan.stderr);
  hasMode(t, join(cwd, "plan.md"), "0644");
});

test("the pre-migration snapshot of an older database is 0600 under umask 000", async (t) => {
  const dataDir = tempDir(t, "waypoint-modes-");
  const db = join(dataDir, "data.db");
  const { db: older } = openDatabase(db, { migrations: MIGRATIONS.slice(0, -1) });
  older.close();
  const server = await startServerProcess(t, { db });
  const snaps = readdirSync(dataDir).filter((f) => f.startsWith("data.db.pre-migrate-"));
  t.is(snaps.length, 1, `the snapshot alone, no raw copy left: ${snaps.join(", ")}`);
  for (const f of readdirSync(dataDir)) hasMode(t, join(dataDir, f), "0600");
  t.is(await server.stop(), 0);
});

test("the embedded server's data dir, database, log and token are private, also when they existed with wider modes", async (t) => {
  const dataDir = join(tempDir(t, "waypoint-modes-"), "share", "waypoint");
  const first = await startEmbeddedServer({ dataDir, versionInfo: BUILD_VERSION_INFO });
  await first.server.close();
  hasMode(t, dataDir, "0700");
  for (const name of ["data.db", "server.log", "console-token"]) hasMode(t, join(dataDir, name), "0600");

  // Files left world-readable (by hand, an old release, a copy): the next start makes them private.
  const log = join(dataDir, "server.log");
  const tokenFile = join(dataDir, "console-token");
  writeFileSync(tokenFile, "not-a-token-the-server-knows\n");
  chmodSync(tokenFile, 0o644);
  chmodSync(log, 0o644);
  const second = await startEmbeddedServer({ dataDir, versionInfo: BUILD_VERSION_INFO });
  await second.server.close();
  hasMode(t, log, "0600");
  hasMode(t, tokenFile, "0600");
  for (const f of readdirSync(dataDir)) hasMode(t, join(dirname(log), f), "0600");
});
