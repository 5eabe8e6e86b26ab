/**
 * `waypoint server restore` in its three ways (staged, live, offline) with
 * real server processes and real files: what changes, when, and that a bad
 * snapshot changes nothing.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { childEnv, lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { ok, sha256File, waypointArgv } from "../helpers/tools.js";
import { waitFor } from "../helpers/wait.js";
import { snapshotBytes, storeWithRows } from "../server/snapshot/helpers.js";

const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unauthenticated: 4,
  serverStart: 10,
  afterStage: 75,
  interrupted: 130,
};

/** A server with its first management token, and a snapshot of it taken by the CLI into `cwd`. */
async function serverWithSnapshot(t: ExecutionContext) {
  const server = await startServerProcess(t);
  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${server.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  const token = lastLine(boot.stdout);
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress, WAYPOINT_SERVER_TOKEN: token };
  const cwd = tempDir(t, "waypoint-cwd-");
  const snap = await runCli(t, ["server", "snapshot", "s.snap"], { env, cwd });
  t.is(snap.code, 0, snap.stderr);
  const id = /^Snapshot (snap_\w+) /.exec(snap.stdout)?.[1] ?? "";
  // A management token made after the snapshot: a restore takes it away.
  const later = await runCli(t, ["token", "new", "-kind=management"], { env });
  t.is(later.code, 0, later.stderr);
  const laterEnv = { ...env, WAYPOINT_SERVER_TOKEN: lastLine(later.stdout) };
  return { server, env, laterEnv, cwd, id, dataDir: dirname(server.dbPath!) };
}

/** Runs `waypoint ARGS…` with stdin from `stdin` (a file path, or a pipe the caller writes). */
function spawnWithStdin(
  t: ExecutionContext,
  args: readonly string[],
  stdin: string | "pipe",
  env: NodeJS.ProcessEnv,
) {
  const child = spawn(process.execPath, waypointArgv(args).slice(1), {
    env: childEnv(t, env),
    stdio: [stdin === "pipe" ? "pipe" : openSync(stdin, "r"), "pipe", "pipe"],
  });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, done: finished(child) };
}

function finished(child: ChildProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (s: string) => {
    stdout += s;
  });
  child.stderr?.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  return new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code: code ?? (signal ? 128 : 0), stdout, stderr })),
  );
}

test("a staged restore shows in -status, leaves the live data alone and is applied at the next start", async (t) => {
  const { server, env, laterEnv, cwd, id, dataDir } = await serverWithSnapshot(t);
  const stagePath = join(dataDir, "waypoint-restore.db");

  const lockout = await runCli(t, ["server", "restore", "s.snap"], { env: laterEnv, cwd });
  t.is(lockout.code, EXIT.failed, lockout.stderr);
  t.regex(
    lockout.stderr,
    /^Error: refusing to restore: your token is not in this snapshot: restoring replaces every token/,
  );
  t.regex(lockout.stderr, /\nHint: .*then pass -force/);
  t.false(existsSync(stagePath), "nothing was sent");

  const staged = await runCli(t, ["server", "restore", "s.snap"], { env, cwd });
  t.is(staged.code, EXIT.ok, staged.stderr);
  t.true(staged.stdout.startsWith(`Staged snapshot ${id} (created `), staged.stdout);
  t.true(staged.stdout.includes(` at ${stagePath}.\n`), staged.stdout);
  t.regex(staged.stdout, /the snapshot is applied at the next start of the server/);
  t.true(existsSync(stagePath));

  const [live, status, json] = await Promise.all([
    runCli(t, ["versions"], { env: laterEnv }),
    runCli(t, ["server", "restore", "-status"], { env }),
    runCli(t, ["server", "restore", "-status", "-json"], { env }),
  ]);
  t.is(live.code, EXIT.ok, `the live data is unchanged until the restart: ${live.stderr}`);
  t.is(status.code, EXIT.ok, status.stderr);
  t.true(status.stdout.startsWith(`Staged restore: ${stagePath}\n`), status.stdout);
  for (const field of ["snapshot", "created", "server version", "state index", "size", "staged at"]) {
    t.regex(status.stdout, new RegExp(`\n  ${field} +\\S`), field);
  }
  t.true(status.stdout.includes(id));
  t.like(JSON.parse(json.stdout), { staged: true, path: stagePath, meta: { id, format: 1 } });

  const cancel = await runCli(t, ["server", "restore", "-cancel"], { env });
  t.is(cancel.stdout, "Removed the staged restore.\n", cancel.stderr);
  t.false(existsSync(stagePath));
  const [none, cancelAgain] = await Promise.all([
    runCli(t, ["server", "restore", "-status"], { env }),
    runCli(t, ["server", "restore", "-cancel"], { env }),
  ]);
  t.is(none.stdout, "Nothing is staged.\n", none.stderr);
  t.is(cancelAgain.stdout, "Nothing was staged.\n", cancelAgain.stderr);

  // Staged again from a copy the real age CLI encrypted: decrypted here, verified, then sent.
  ok("age-keygen", ["-o", "key.txt"], { cwd });
  const recipient = ok("age-keygen", ["-y", "key.txt"], { cwd }).trim();
  ok("age", ["-r", recipient, "-o", "s.age", "s.snap"], { cwd });
  const restaged = await runCli(t, ["server", "restore", "-identity=key.txt", "s.age"], { env, cwd });
  t.is(restaged.code, EXIT.ok, restaged.stderr);
  t.true(restaged.stdout.startsWith(`Staged snapshot ${id} `), restaged.stdout);
  t.is(await server.stop(), 0);
  const restarted = await startServerProcess(t, { db: server.dbPath! });
  t.true(
    restarted
      .records()
      .some((r) => r.msg === "restored the staged snapshot; the previous database is kept beside it"),
    restarted.logs().join("\n"),
  );
  const afterEnv = { WAYPOINT_SERVER_ADDR: restarted.grpcAddress };
  const [gone, kept] = await Promise.all([
    runCli(t, ["versions"], { env: { ...laterEnv, ...afterEnv } }),
    runCli(t, ["versions"], { env: { ...env, ...afterEnv } }),
  ]);
  t.is(gone.code, EXIT.unauthenticated, "the token made after the snapshot is gone");
  t.is(kept.code, EXIT.ok, kept.stderr);
  const files = readdirSync(dataDir);
  t.true(
    files.some((f) => /^data\.db\.pre-restore-/.test(f)),
    files.join(" "),
  );
  t.false(files.includes("waypoint-restore.db"));
});

test("restore -exit stages, then the server exits 75 for its supervisor", async (t) => {
  const { server, env, cwd, id } = await serverWithSnapshot(t);
  const r = await runCli(t, ["server", "restore", "-exit", "s.snap"], { env, cwd });
  t.is(r.code, EXIT.ok, r.stderr);
  t.true(r.stdout.startsWith(`Staged snapshot ${id} `));
  t.regex(
    r.stdout,
    /The server is exiting with code 75 so its supervisor restarts it into the restored data\./,
  );
  t.is((await server.exited).code, EXIT.afterStage, server.logs().join("\n"));
});

test("restore -live swaps the data in while serving; a bad file is refused before anything is sent", async (t) => {
  const { env, laterEnv, cwd, id, dataDir } = await serverWithSnapshot(t);
  const bytes = readFileSync(join(cwd, "s.snap"));
  writeFileSync(join(cwd, "cut.snap"), bytes.subarray(0, bytes.length - 300));
  const bad = await runCli(t, ["server", "restore", "-live", "cut.snap"], { env, cwd });
  t.is(bad.code, EXIT.failed, bad.stderr);
  t.regex(bad.stderr, /^Error: truncated/);
  t.is((await runCli(t, ["versions"], { env: laterEnv })).code, EXIT.ok, "nothing changed");

  // From stdin, as `waypoint server restore -live - < s.snap`.
  const { done } = spawnWithStdin(t, ["server", "restore", "-live", "-"], join(cwd, "s.snap"), env);
  const live = await done;
  t.is(live.code, EXIT.ok, live.stderr);
  t.true(live.stdout.startsWith(`Restored snapshot ${id} (created `), live.stdout);
  t.regex(live.stdout, /The server's state index went from \d+ to \d+; it serves the snapshot's data now\./);
  const kept = /The previous database is kept at (\S+)\.\n/.exec(live.stdout)?.[1] ?? "";
  t.is(dirname(kept), dataDir);
  t.true(existsSync(kept), kept);

  const [refused, still] = await Promise.all([
    runCli(t, ["versions"], { env: laterEnv }),
    runCli(t, ["versions"], { env }),
  ]);
  t.is(refused.code, EXIT.unauthenticated, "a token made after the snapshot is refused at once");
  t.is(still.code, EXIT.ok, still.stderr);
});

test("offline restore: a snapshot copied to waypoint-restore.db of a fresh data dir is there at start", async (t) => {
  const dir = tempDir(t, "waypoint-data-");
  writeFileSync(join(dir, "waypoint-restore.db"), (await snapshotBytes(t, storeWithRows(t))).bytes);
  const server = await startServerProcess(t, { db: join(dir, "data.db") });
  t.true(
    server.records().some((r) => r.msg === "restored the staged snapshot into a fresh data dir"),
    server.logs().join("\n"),
  );
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const [versions, bootstrap] = await Promise.all([
    // storeWithRows' bootstrap token.
    runCli(t, ["versions", "-json"], { env: { ...env, WAYPOINT_SERVER_TOKEN: "secret-tok_boot" } }),
    runCli(t, ["server", "bootstrap"], { env }),
  ]);
  t.is(versions.code, EXIT.ok, versions.stderr);
  t.true(JSON.parse(versions.stdout).components.some((c: { id: string }) => c.id === "r1"));
  t.is(bootstrap.code, EXIT.failed, "the restored data is already bootstrapped");
  t.deepEqual(
    readdirSync(dir).filter((f) => !f.startsWith("data.db")),
    [],
    "the staged file is consumed and nothing else is left",
  );
});

test("a bad staged file at start stops the server with exit 10 and leaves data.db byte-identical", async (t) => {
  const server = await startServerProcess(t);
  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${server.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  t.is(await server.stop(), 0);
  const db = server.dbPath!;
  const staged = join(dirname(db), "waypoint-restore.db");
  const good = (await snapshotBytes(t, storeWithRows(t))).bytes;
  writeFileSync(staged, good.subarray(0, good.length - 200));
  const before = sha256File(db);

  const args = [
    "server",
    "run",
    `-db=${db}`,
    "-listen-grpc=127.0.0.1:0",
    "-listen-http=127.0.0.1:0",
    "-listen-url=127.0.0.1:0",
  ];
  const r = await runCli(t, args);
  t.is(r.code, EXIT.serverStart, r.stderr);
  t.true(r.stderr.includes(`Error: the staged restore ${staged} failed verification: truncated`), r.stderr);
  t.true(r.stderr.includes(`Hint: ${db} was not touched.`), r.stderr);
  t.true(r.stderr.includes(`mv ${staged} ${staged}.rejected`), r.stderr);
  t.is(sha256File(db), before, "data.db is byte-identical");

  // Doing what the message says gets the server going on the old data.
  renameSync(staged, `${staged}.rejected`);
  const again = await startServerProcess(t, { db });
  t.is((await runCli(t, ["server", "bootstrap", `-server-addr=${again.grpcAddress}`])).code, EXIT.failed);
});

test("Ctrl-C while a restore reads stdin exits 130 and leaves no temp file", async (t) => {
  const tmp = tempDir(t, "waypoint-tmpdir-");
  const env = { TMPDIR: tmp, WAYPOINT_SERVER_ADDR: "127.0.0.1:1", WAYPOINT_SERVER_TOKEN: "wpm_x" };
  const { child, done } = spawnWithStdin(t, ["server", "restore", "-"], "pipe", env);
  child.stdin?.write(Buffer.alloc(4096, 1));
  const ours = () => readdirSync(tmp).filter((name) => !name.startsWith("tsx-"));
  await waitFor(
    () => ours().some((d) => existsSync(join(tmp, d, "snapshot"))),
    "the restore to keep stdin in a temp file",
    // The CLI starts from source through tsx first: under the whole suite that has taken ~20 s.
    45_000,
  );
  child.kill("SIGINT");
  const r = await done;
  t.is(r.code, EXIT.interrupted, r.stderr);
  t.regex(r.stderr, /^Error: interrupted by SIGINT; temporary files were removed\n/);
  t.deepEqual(ours(), []);
});

test("restore flags that do not combine are usage errors", async (t) => {
  const cases: [string[], RegExp][] = [
    [["server", "restore"], /needs FILE \(or - for stdin\), -status or -cancel/],
    [["server", "restore", "-status", "s.snap"], /-status takes no FILE/],
    [["server", "restore", "-status", "-cancel"], /-status and -cancel do not combine/],
    [["server", "restore", "-live", "-exit", "s.snap"], /-exit applies to staged restores/],
    [["server", "restore", "-json", "s.snap"], /-json applies to -status only/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(t, args);
    t.is(r.code, EXIT.usage, args.join(" "));
    t.regex(r.stderr, message);
  }
});
