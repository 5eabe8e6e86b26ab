/**
 * `waypoint server snapshot`, `snapshot inspect` and `snapshot verify` as an
 * operator runs them: real processes against a real server, files read back
 * with the standard tools (tar, sha256sum, sqlite3, age).
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGzip, gzipSync } from "node:zlib";
import test, { type ExecutionContext } from "ava";
import Database from "better-sqlite3";
import { encrypt } from "../../src/server/snapshot/crypt.js";
import { LATEST_SCHEMA_VERSION } from "../../src/server/store/migrations.js";
import { cli } from "../helpers/cli-inprocess.js";
import { childEnv, lastLine, runCli, startServerProcess } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { inTerminal, ok, sha256File, tarMembers, waypointArgv } from "../helpers/tools.js";
import {
  consistentSnapshot,
  file,
  flip,
  type Member,
  members,
  packTar,
  parts,
  snapshotBytes,
  storeWithRows,
} from "../server/snapshot/helpers.js";

const WARNING =
  "Warning! The snapshot data contains secret and sensitive information (such as auth tokens) unencrypted. " +
  "Snapshots are highly sensitive and should be carefully protected.";
const MEMBERS = ["meta.json", "data.db", "SHA256SUMS"];
const PASSPHRASE = "correct horse battery staple";

/** A server with its first management token, and the env that points the CLI at it. */
async function serverWithToken(t: ExecutionContext) {
  const server = await startServerProcess(t);
  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${server.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  const token = lastLine(boot.stdout);
  return { server, token, env: { WAYPOINT_SERVER_ADDR: server.grpcAddress, WAYPOINT_SERVER_TOKEN: token } };
}

test("server snapshot writes a verified 0600 file that tar, sha256sum and sqlite3 read", async (t) => {
  const { env } = await serverWithToken(t);
  const cwd = tempDir(t, "waypoint-cwd-");

  const first = await runCli(t, ["server", "snapshot"], { env, cwd });
  t.is(first.code, 0, first.stderr);
  const m =
    /^Snapshot (snap_\w+) \(state index (\d+)\) written to (waypoint-snapshot-\d{8}T\d{6}Z\.snap): .+, not encrypted, read back and verified\n$/.exec(
      first.stdout,
    );
  t.truthy(m, first.stdout);
  const [, id, index, name] = m as unknown as [string, string, string, string];
  t.true(first.stderr.includes(WARNING), first.stderr);
  t.regex(first.stderr, /-encrypt/);
  t.deepEqual(readdirSync(cwd), [name], "no temp file is left beside it");
  const path = join(cwd, name);
  t.is(statSync(path).mode & 0o777, 0o600);

  t.deepEqual(tarMembers(path), MEMBERS);
  const out = join(cwd, "x");
  mkdirSync(out);
  ok("tar", ["-xzf", path, "-C", out]);
  t.regex(ok("sha256sum", ["-c", "SHA256SUMS"], { cwd: out }), /meta\.json: OK\ndata\.db: OK/);
  t.is(ok("sqlite3", [join(out, "data.db"), "PRAGMA integrity_check"]).trim(), "ok");
  const meta = JSON.parse(readFileSync(join(out, "meta.json"), "utf8")) as Record<string, unknown>;
  t.like(meta, { format: 1, id, index: Number(index) });
  t.is(
    ok("sqlite3", [join(out, "data.db"), "SELECT count(*) FROM tokens"]).trim(),
    String((meta.tables as Record<string, number>).tokens),
  );

  const explicit = await runCli(t, ["server", "snapshot", "backup.snap"], { env, cwd });
  t.is(explicit.code, 0, explicit.stderr);
  t.regex(explicit.stdout, /written to backup\.snap: /);
  const before = sha256File(join(cwd, "backup.snap"));
  const again = await runCli(t, ["server", "snapshot", "backup.snap"], { env, cwd });
  t.is(again.code, 1, again.stderr);
  t.regex(again.stderr, /^Error: backup\.snap already exists\nHint: Pass -force/);
  t.is(sha256File(join(cwd, "backup.snap")), before, "the existing file is untouched");
  const forced = await runCli(t, ["server", "snapshot", "-force", "backup.snap"], { env, cwd });
  t.is(forced.code, 0, forced.stderr);
  t.not(sha256File(join(cwd, "backup.snap")), before, "-force replaced it");
  t.deepEqual(readdirSync(cwd).sort(), ["backup.snap", name, "x"]);

  const readonly = await runCli(t, ["token", "new", "-kind=readonly"], { env });
  t.is(readonly.code, 0, readonly.stderr);
  const refused = await runCli(t, ["server", "snapshot", "ro.snap"], {
    env: { ...env, WAYPOINT_SERVER_TOKEN: lastLine(readonly.stdout) },
    cwd,
  });
  t.is(refused.code, 4, refused.stderr);
  t.regex(refused.stderr, /^Error: .*readonly/);
  t.deepEqual(readdirSync(cwd).sort(), ["backup.snap", name, "x"], "a refused snapshot leaves no file");
});

test("server snapshot - streams to a pipe and is refused on a terminal", async (t) => {
  const { env } = await serverWithToken(t);
  const child = spawn(process.execPath, waypointArgv(["server", "snapshot", "-"]).slice(1), {
    env: childEnv(t, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const chunks: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => chunks.push(c));
  child.stderr.setEncoding("utf8").on("data", (s: string) => {
    stderr += s;
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  t.is(code, 0, stderr);
  const dir = tempDir(t);
  writeFileSync(join(dir, "piped.snap"), Buffer.concat(chunks));
  t.deepEqual(tarMembers(join(dir, "piped.snap")), MEMBERS);
  t.regex(
    stderr,
    /^Snapshot snap_\w+ \(state index \d+\) written to stdout: .+, not encrypted, not read back\n/,
  );
  t.true(stderr.includes(WARNING));
  const verified = await runCli(t, ["snapshot", "verify", join(dir, "piped.snap")]);
  t.is(verified.code, 0, verified.stderr);

  const tty = await inTerminal(t, waypointArgv(["server", "snapshot", "-"]), { env });
  t.is(tty.code, 2, tty.output);
  t.regex(tty.output, /Error: refusing to write a snapshot to a terminal/);
});

test("encrypted snapshots: age decrypts them, inspect and verify open them, wrong keys are named", async (t) => {
  const { env } = await serverWithToken(t);
  const cwd = tempDir(t, "waypoint-cwd-");
  const withPass = { ...env, WAYPOINT_SNAPSHOT_PASSPHRASE: PASSPHRASE };
  ok("age-keygen", ["-o", "key.txt"], { cwd });
  const recipient = ok("age-keygen", ["-y", "key.txt"], { cwd }).trim();

  const [byPass, byKey, noPass, badRecipient] = await Promise.all([
    runCli(t, ["server", "snapshot", "-encrypt", "p.snap"], { env: withPass, cwd }),
    runCli(t, ["server", "snapshot", `-recipient=${recipient}`, "r.snap"], { env, cwd }),
    runCli(t, ["server", "snapshot", "-encrypt", "n.snap"], { env, cwd }),
    runCli(t, ["server", "snapshot", "-recipient=age1nope", "b.snap"], { env, cwd }),
  ]);
  t.is(byPass.code, 0, byPass.stderr);
  t.regex(byPass.stdout, /written to p\.snap: .+, age-encrypted with a passphrase, read back and verified/);
  t.false(byPass.stderr.includes("Warning!"), "no warning for an encrypted snapshot");
  t.is(byKey.code, 0, byKey.stderr);
  t.regex(byKey.stdout, /age-encrypted for 1 recipient, read back and verified/);
  t.is(noPass.code, 2, noPass.stderr);
  t.regex(
    noPass.stderr,
    /-encrypt needs a passphrase and there is no terminal to ask on\nHint: Set WAYPOINT_SNAPSHOT_PASSPHRASE/,
  );
  t.is(badRecipient.code, 2, badRecipient.stderr);
  t.regex(badRecipient.stderr, /not an age recipient: "age1nope"/);
  t.deepEqual(readdirSync(cwd).sort(), ["key.txt", "p.snap", "r.snap"]);

  for (const name of ["p.snap", "r.snap"]) {
    const head = readFileSync(join(cwd, name)).subarray(0, 22);
    t.is(head.toString("latin1"), "age-encryption.org/v1\n", `${name} is an age file, not gzip`);
    t.is(statSync(join(cwd, name)).mode & 0o777, 0o600);
  }
  const decrypted = await inTerminal(t, ["age", "-d", "-o", "p.tar.gz", "p.snap"], {
    cwd,
    input: `${PASSPHRASE}\n`,
  });
  t.is(decrypted.code, 0, decrypted.output);
  t.deepEqual(tarMembers(join(cwd, "p.tar.gz")), MEMBERS);
  ok("age", ["-d", "-i", "key.txt", "-o", "r.tar.gz", "r.snap"], { cwd });
  t.deepEqual(tarMembers(join(cwd, "r.tar.gz")), MEMBERS);

  const [vPass, vWrong, vNone, vKey, vNoKey, inspect] = await Promise.all([
    runCli(t, ["snapshot", "verify", "p.snap"], { env: { WAYPOINT_SNAPSHOT_PASSPHRASE: PASSPHRASE }, cwd }),
    runCli(t, ["snapshot", "verify", "p.snap"], { env: { WAYPOINT_SNAPSHOT_PASSPHRASE: "wrong" }, cwd }),
    runCli(t, ["snapshot", "verify", "p.snap"], { cwd }),
    runCli(t, ["snapshot", "verify", "-identity=key.txt", "r.snap"], { cwd }),
    runCli(t, ["snapshot", "verify", "r.snap"], { env: { WAYPOINT_SNAPSHOT_PASSPHRASE: PASSPHRASE }, cwd }),
    runCli(t, ["snapshot", "inspect", "-json", "p.snap"], {
      env: { WAYPOINT_SNAPSHOT_PASSPHRASE: PASSPHRASE },
      cwd,
    }),
  ]);
  t.is(vPass.code, 0, vPass.stderr);
  t.regex(vPass.stdout, /^ok: snap_\w+ .*, age-encrypted: SHA-256 sums match/);
  t.is(vWrong.code, 1);
  t.regex(vWrong.stderr, /^Error: wrong passphrase: it does not decrypt this snapshot\n/);
  t.is(vNone.code, 1);
  t.regex(
    vNone.stderr,
    /^Error: the snapshot is encrypted with a passphrase and there is no terminal to ask for it\n/,
  );
  t.is(vKey.code, 0, vKey.stderr);
  t.is(vNoKey.code, 1);
  t.regex(vNoKey.stderr, /encrypted for age recipients, not with a passphrase; pass -identity/);
  t.is(inspect.code, 0, inspect.stderr);
  t.like(JSON.parse(inspect.stdout), { file: "p.snap", encrypted: true, verified: true, error: null });

  // On a terminal the passphrase is asked for, twice when encrypting.
  const prompted = await inTerminal(t, waypointArgv(["server", "snapshot", "-encrypt", "t.snap"]), {
    env,
    cwd,
    input: `${PASSPHRASE}\n${PASSPHRASE}\n`,
  });
  t.is(prompted.code, 0, prompted.output);
  t.regex(prompted.output, /Passphrase for the snapshot: [\s\S]*Same passphrase again: /);
  const opened = await inTerminal(t, ["age", "-d", "-o", "t.tar.gz", "t.snap"], {
    cwd,
    input: `${PASSPHRASE}\n`,
  });
  t.is(opened.code, 0, opened.output);
  t.deepEqual(tarMembers(join(cwd, "t.tar.gz")), MEMBERS);
});

/** A good snapshot (written in-process, no server): a bootstrap token "secret-tok_boot", two more, three components. */
async function goodSnapshot(t: ExecutionContext) {
  return snapshotBytes(t, storeWithRows(t));
}

interface BadInput {
  readonly name: string;
  readonly bytes: Buffer;
  readonly message: string | RegExp;
  readonly env?: NodeJS.ProcessEnv;
  /** Whether inspect can still show meta.json. */
  readonly metaShown?: boolean;
}

async function badInputs(t: ExecutionContext): Promise<BadInput[]> {
  const { bytes } = await goodSnapshot(t);
  const { meta, db } = await parts(bytes);
  const ms = await members(bytes);
  const repack = async (edit: (m: Member[]) => Member[]) => gzipSync(await packTar(edit(ms)));
  const flippedGzip = Buffer.from(bytes);
  flip(flippedGzip, flippedGzip.length - 8);
  const flippedDb = await repack((list) =>
    list.map((m) => {
      if (m.header.name !== "data.db") return m;
      const data = Buffer.from(m.data);
      flip(data, data.length - 100);
      return { ...m, data };
    }),
  );
  const newerDbPath = join(tempDir(t), "newer.db");
  writeFileSync(newerDbPath, db);
  const sqlite = new Database(newerDbPath);
  sqlite.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
  sqlite.close();
  const bomb = Buffer.concat(
    await Readable.from(
      (function* () {
        for (let i = 0; i < 256; i++) yield Buffer.alloc(64 * 1024); // 16 MiB of zeros
      })(),
    )
      .pipe(createGzip({ level: 9 }))
      .toArray(),
  );
  const sealed = Buffer.concat(await encrypt(Readable.from([bytes]), { passphrase: PASSPHRASE }).toArray());
  return [
    { name: "empty", bytes: Buffer.alloc(0), message: "the file is empty" },
    { name: "not-gzip", bytes: Buffer.from("hello, not a snapshot\n"), message: "not a gzip file" },
    {
      name: "truncated",
      bytes: bytes.subarray(0, Math.floor(bytes.length / 2)),
      message: "truncated: the gzip stream ends early (unexpected end of file)",
      metaShown: true,
    },
    {
      name: "flipped-gzip",
      bytes: flippedGzip,
      message: "the gzip data is corrupt (incorrect data check)",
      metaShown: true,
    },
    {
      name: "flipped-db",
      bytes: flippedDb,
      message: "data.db does not match its SHA-256 in SHA256SUMS (the file is damaged)",
      metaShown: true,
    },
    {
      name: "missing-member",
      bytes: await repack((list) => list.filter((m) => m.header.name !== "SHA256SUMS")),
      message: "missing member SHA256SUMS",
      metaShown: true,
    },
    {
      name: "extra-member",
      bytes: await repack((list) => [...list, file("notes.txt", "hi")]),
      message: 'unknown member "notes.txt" (a snapshot holds only meta.json, data.db, SHA256SUMS)',
      metaShown: true,
    },
    {
      name: "dotdot",
      bytes: await repack((list) => [file("../data.db", "x"), ...list]),
      message: 'member "../data.db" points outside the archive ("..")',
    },
    {
      name: "absolute",
      bytes: await repack((list) => [file("/etc/cron.d/x", "x"), ...list]),
      message: 'member "/etc/cron.d/x" has an absolute path',
    },
    {
      name: "symlink",
      bytes: await repack((list) => [
        list[0] as Member,
        { header: { name: "data.db", type: "symlink", linkname: "/etc/passwd" }, data: Buffer.alloc(0) },
      ]),
      message: 'member "data.db" is a symbolic link (to "/etc/passwd"); only regular files are allowed',
      metaShown: true,
    },
    {
      name: "hardlink",
      bytes: await repack((list) => [
        ...list.slice(0, 2),
        { header: { name: "SHA256SUMS", type: "link", linkname: "meta.json" }, data: Buffer.alloc(0) },
      ]),
      message: 'member "SHA256SUMS" is a hard link (to "meta.json"); only regular files are allowed',
      metaShown: true,
    },
    {
      name: "oversize",
      bytes,
      env: { WAYPOINT_SNAPSHOT_MAX_BYTES: "4096" },
      message: `member "data.db" is ${db.length} bytes, over the 4096-byte limit`,
      metaShown: true,
    },
    {
      name: "gzip-bomb",
      bytes: bomb,
      env: { WAYPOINT_SNAPSHOT_MAX_BYTES: String(1024 * 1024) },
      message: /^the archive expands beyond the \d+-byte limit$/,
    },
    {
      name: "wrong-passphrase",
      bytes: sealed,
      env: { WAYPOINT_SNAPSHOT_PASSPHRASE: "battery staple" },
      message: "wrong passphrase: it does not decrypt this snapshot",
    },
    {
      name: "unknown-format",
      bytes: await consistentSnapshot({ ...meta, format: 2 }, db),
      message: "unknown snapshot format 2 (this build reads format 1)",
    },
    {
      name: "newer-schema",
      bytes: await consistentSnapshot(
        { ...meta, schemaVersion: LATEST_SCHEMA_VERSION + 1 },
        readFileSync(newerDbPath),
      ),
      message: `schema version ${LATEST_SCHEMA_VERSION + 1} is newer than this build's ${LATEST_SCHEMA_VERSION}`,
      metaShown: true,
    },
  ];
}

/** The message line of `Error: …` on stderr. */
const errorLine = (stderr: string) => /^Error: (.*)$/m.exec(stderr)?.[1] ?? "";

test("inspect and verify show a good snapshot and whether the configured token is in it", async (t) => {
  const dir = tempDir(t);
  const { bytes, meta } = await goodSnapshot(t);
  const path = join(dir, "good.snap");
  writeFileSync(path, bytes);
  const [verify, inspect, json, mine, other] = await Promise.all([
    runCli(t, ["snapshot", "verify", path]),
    runCli(t, ["snapshot", "inspect", path]),
    runCli(t, ["snapshot", "inspect", "-json", path]),
    runCli(t, ["snapshot", "verify", path], { env: { WAYPOINT_SERVER_TOKEN: "secret-tok_boot" } }),
    runCli(t, ["snapshot", "verify", "-server-token=wpm_not-in-the-snapshot", path]),
  ]);
  t.is(verify.code, 0, verify.stderr);
  t.true(verify.stdout.startsWith(`ok: ${meta.id} (created ${meta.createdAt}, server 0.1.0, schema `));
  t.is(verify.stderr, "");
  t.is(inspect.code, 0, inspect.stderr);
  t.regex(inspect.stdout, new RegExp(`Snapshot +${meta.id}\n`));
  t.regex(inspect.stdout, new RegExp(`State index +${meta.index}\n`));
  t.regex(inspect.stdout, /\ntokens +3 +\d/);
  t.regex(inspect.stdout, /\nVerification: ok /);
  t.is(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as {
    meta: unknown;
    tables: { name: string; rows: number; bytes: number }[];
  };
  t.deepEqual(report.meta, meta);
  t.like(
    report.tables.find((x) => x.name === "tokens"),
    { rows: 3 },
  );
  t.is(mine.code, 0, mine.stderr);
  t.regex(mine.stdout, /\ntoken: the token you use is in this snapshot; restoring it keeps your access\n$/);
  t.is(other.code, 0, other.stderr);
  t.regex(
    other.stderr,
    /^Warning: the token you use is NOT in this snapshot\. Restoring it replaces every token/,
  );
});

test("inspect and verify refuse each bad input with its own message and exit 1", async (t) => {
  const dir = tempDir(t);
  const tmp = tempDir(t, "waypoint-tmpdir-");
  const cases = await badInputs(t);
  // Three at a time: each case starts a CLI process (some derive keys with scrypt), and a dozen at once
  // on a small machine running other test files could outlast runCli's timeout.
  const queue = [...cases];
  const runCase = async (c: (typeof cases)[number]) => {
    const path = join(dir, `${c.name}.snap`);
    writeFileSync(path, c.bytes);
    // verify as a real process (with its own TMPDIR, to see that nothing is left there); inspect in-process.
    const [verify, inspect] = await Promise.all([
      runCli(t, ["snapshot", "verify", path], { env: { TMPDIR: tmp, ...c.env } }),
      cli(t, ["snapshot", "inspect", path], { ...c.env }),
    ]);
    for (const [what, r] of [
      ["verify", verify],
      ["inspect", inspect],
    ] as const) {
      t.is(r.code, 1, `${c.name} ${what}: ${r.stderr}`);
      if (typeof c.message === "string") t.is(errorLine(r.stderr), c.message, `${c.name} ${what}`);
      else t.regex(errorLine(r.stderr), c.message, `${c.name} ${what}`);
      t.regex(r.stderr, /\nHint: .*Nothing was changed/, `${c.name} ${what}`);
    }
    t.is(verify.stdout, "", c.name);
    t.true(inspect.stdout.includes(`Verification: FAILED: ${errorLine(inspect.stderr)}`), c.name);
    t.is(
      /Snapshot +snap_\w+ +\(unverified\)/.test(inspect.stdout),
      c.metaShown === true,
      `${c.name}: ${inspect.stdout}`,
    );
  };
  await Promise.all(
    Array.from({ length: 3 }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await runCase(c);
    }),
  );
  // tsx keeps its compile cache there; anything of ours would be waypoint-*.
  t.deepEqual(
    readdirSync(tmp).filter((name) => !name.startsWith("tsx-")),
    [],
    "nothing extracted is left in TMPDIR",
  );
});

test("inspect and verify name a missing file and need exactly one FILE", async (t) => {
  const [missing, none, two] = await Promise.all([
    runCli(t, ["snapshot", "verify", "/nonexistent/x.snap"]),
    runCli(t, ["snapshot", "inspect"]),
    runCli(t, ["snapshot", "verify", "a.snap", "b.snap"]),
  ]);
  t.is(missing.code, 1);
  t.is(errorLine(missing.stderr), "cannot read /nonexistent/x.snap: no such file or directory");
  t.is(none.code, 2);
  t.is(two.code, 2);
});
