/**
 * Fault: the disk fills up. Three ways, with real processes:
 *
 *   (a) `waypoint server snapshot -` with stdout on /dev/full (every write fails with ENOSPC);
 *   (b) `waypoint server snapshot FILE` into a tiny tmpfs (its own mount namespace, `unshare -rm`);
 *   (c) the server's own data dir on a small tmpfs, filled to the last byte by a ballast file, while
 *       a client keeps writing.
 *
 * Proves: the command or RPC fails with a clear error (no stack, no SQLite text, an exit code and a
 * code a script can match), nothing half-written is left behind, the server keeps serving reads,
 * once space is freed writes work again, and nothing acknowledged was lost or corrupted (the data
 * is read back through the API, and the database passes the real sqlite3's integrity_check).
 * (b) and (c) need a private mount (root, or unprivileged user namespaces); where `unshare -rm`
 * is not allowed they are skipped with a note.
 */
import { spawnSync } from "node:child_process";
import { appendFileSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import type { AppError } from "../../src/protocol/errors.js";
import { runCli } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { startFaultServer } from "./helpers.js";

const canMount =
  spawnSync(
    "unshare",
    ["-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt || mount -t tmpfs -o size=64k tmpfs /tmp"],
    {
      stdio: "ignore",
    },
  ).status === 0;

/** Incompressible text, so a snapshot of it is as large as the data. */
const noise = (n: number, bytes: number) =>
  Buffer.from(Array.from({ length: bytes }, (_, i) => (n * 7919 + i * 104729) % 251)).toString("base64");

test("(a) a snapshot streamed to a full device: a clear error and exit code; the server serves on", async (t) => {
  const s = await startFaultServer(t);
  for (let n = 0; n < 50; n++)
    await s.admin.setConfig({ set: [{ name: `PAD_${n}`, value: noise(n, 1500) }] });
  const env = { WAYPOINT_SERVER_ADDR: s.grpcAddress, WAYPOINT_SERVER_TOKEN: s.token };
  const full = await runCli(t, ["server", "snapshot", "-"], {
    env,
    wrap: ["sh", "-c", 'exec "$@" >/dev/full', "sh"],
  });
  t.log(`exit ${full.code}; stderr: ${full.stderr.trim()}`);
  t.not(full.code, 0);
  t.regex(full.stderr, /^Error: .*no space left on the device/m);
  t.regex(full.stderr, /^Hint: /m);
  t.notRegex(full.stderr, /\n\s+at /, "no stack trace");
  // Still serving, reads and writes; a snapshot to a file with room works.
  t.is((await s.admin.getConfig()).length, 50);
  await s.admin.setConfig({ set: [{ name: "AFTER", value: "1" }] });
  const file = join(tempDir(t), "ok.snap");
  const ok = await runCli(t, ["server", "snapshot", file], { env });
  t.is(ok.code, 0, ok.stderr);
});

test("(b) a snapshot into a full file system: a clear error, and no partial file left", async (t) => {
  if (!canMount) {
    t.log("skipped: `unshare -rm` with a tmpfs mount is not permitted here");
    t.pass();
    return;
  }
  const s = await startFaultServer(t);
  for (let n = 0; n < 100; n++)
    await s.admin.setConfig({ set: [{ name: `PAD_${n}`, value: noise(n, 2000) }] });
  const mnt = tempDir(t, "waypoint-tiny-");
  const script =
    'mount -t tmpfs -o size=64k tmpfs "$0" || exit 97; "$@"; code=$?; echo "left: $(ls -A "$0")"; exit $code';
  const r = await runCli(t, ["server", "snapshot", join(mnt, "backup.snap")], {
    env: { WAYPOINT_SERVER_ADDR: s.grpcAddress, WAYPOINT_SERVER_TOKEN: s.token },
    wrap: ["unshare", "-rm", "sh", "-c", script, mnt],
  });
  t.log(`exit ${r.code}; stderr: ${r.stderr.trim()}`);
  t.not(r.code, 97, "the tmpfs was mounted");
  t.not(r.code, 0);
  t.regex(r.stderr, /^Error: .*no space left on the device/m);
  t.notRegex(r.stderr, /\n\s+at /, "no stack trace");
  t.is(r.stdout.trim(), "left:", "neither the snapshot nor its temp file is left on the full disk");
  t.is((await s.admin.getConfig()).length, 100, "the server serves on");
});

test("(c) the server's disk fills up under writes: a clear error, reads go on, and after space is freed writes work and nothing was lost", async (t) => {
  if (!canMount) {
    t.log("skipped: `unshare -rm` with a tmpfs mount is not permitted here");
    t.pass();
    return;
  }
  const mnt = tempDir(t, "waypoint-datadir-");
  // The server runs under a shell in a mount namespace of its own, with its data dir on a 4 MiB
  // tmpfs; SIGTERM is passed on, and once the server is gone the shell runs sqlite3's
  // integrity_check on the file before the namespace (and the tmpfs) goes away.
  const script = [
    'mount -t tmpfs -o size=4m tmpfs "$0" || exit 97',
    "trap 'kill -TERM $pid' TERM",
    '"$@" & pid=$!',
    "wait $pid; wait $pid; code=$?",
    'echo "integrity_check: $(sqlite3 "$0/data.db" "PRAGMA integrity_check;" 2>&1)" >&2',
    "exit $code",
  ].join("\n");
  const s = await startFaultServer(t, {
    db: join(mnt, "data.db"),
    wrap: ["unshare", "-rm", "sh", "-c", script, mnt],
  });
  const serverPid = Number(s.process.ready?.pid);
  t.teardown(() => {
    try {
      process.kill(serverPid, "SIGKILL");
    } catch {
      // Gone already.
    }
  });
  // The data dir as the server sees it, through its shell's root.
  const inside = `/proc/${s.process.child.pid}/root${mnt}`;
  const acked = new Map<string, string>();
  for (let n = 0; n < 20; n++) {
    const name = `BEFORE_${n}`;
    await s.admin.setConfig({ set: [{ name, value: noise(n, 1000) }] });
    acked.set(name, noise(n, 1000));
  }

  // Fill the disk to the last block.
  const ballast = join(inside, "ballast");
  for (const chunk of [1 << 16, 4096, 512]) {
    try {
      for (;;) appendFileSync(ballast, Buffer.alloc(chunk));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
    }
  }

  // Writes until one is refused (SQLite may still fit a few in free pages of the WAL).
  let refused: AppError | undefined;
  let n = 0;
  for (; n < 500 && !refused; n++) {
    const name = `DURING_${n}`;
    try {
      await s.admin.setConfig({ set: [{ name, value: noise(n, 3000) }] });
      acked.set(name, noise(n, 3000));
    } catch (err) {
      refused = err as AppError;
    }
  }
  t.truthy(refused, "a write is refused once the disk is full");
  t.log(
    `after ${n - 1} more acknowledged writes: ${refused?.code}: ${refused?.message} (hint: ${refused?.hint})`,
  );
  t.is(refused?.code, "STORAGE_FULL", "a code a script can match, not INTERNAL");
  t.regex(refused?.message ?? "", /full/);
  t.notRegex(`${refused?.message} ${refused?.hint}`, /SQLITE|sqlite3?_|at .*\.ts/, "no SQLite or stack text");

  // Reads go on while the disk is full; so does a second refused write, and the server stays up.
  const during = new Map((await s.admin.getConfig()).map((e) => [e.name, e.value]));
  t.is(during.size, acked.size, "exactly the acknowledged writes");
  await t.throwsAsync(s.admin.setConfig({ set: [{ name: "STILL_FULL", value: noise(1, 3000) }] }), {
    message: /full/,
  });
  t.truthy(await s.admin.serverStatus());

  // A snapshot needs room for its copy of the database in the data dir: refused clearly, nothing left.
  const snapErr = await t.throwsAsync(async () => {
    for await (const _chunk of s.admin.takeSnapshot()) {
      // the archive is not the point
    }
  });
  t.log(
    `a snapshot meanwhile: ${(snapErr as AppError).code}: ${snapErr?.message} (hint: ${(snapErr as AppError).hint})`,
  );
  t.is((snapErr as AppError).code, "STORAGE_FULL");
  const overHttp = await fetch(`http://${s.process.httpAddress}/v1/snapshot`, {
    headers: { authorization: `Bearer ${s.token}` },
  });
  t.is(overHttp.status, 507, "GET /v1/snapshot: 507 Insufficient Storage");
  t.like(await overHttp.json(), { code: "STORAGE_FULL" });
  t.deepEqual(
    readdirSync(inside).filter((f) => f !== "ballast" && !f.startsWith("data.db")),
    [],
    "no temp copy is left in the data dir",
  );

  // Space freed: writes work again, and nothing was lost.
  unlinkSync(ballast);
  for (let k = 0; k < 20; k++) {
    const name = `AFTER_${k}`;
    await s.admin.setConfig({ set: [{ name, value: noise(k, 3000) }] });
    acked.set(name, noise(k, 3000));
  }
  const after = new Map((await s.admin.getConfig()).map((e) => [e.name, e.value]));
  t.deepEqual(
    [...acked].filter(([k, v]) => after.get(k) !== v).map(([k]) => k),
    [],
    "every acknowledged write is there, unchanged",
  );
  t.false(after.has(`DURING_${n - 1}`), "the refused write was not made");
  t.false(after.has("STILL_FULL"));
  let bytes = 0;
  for await (const chunk of s.admin.takeSnapshot()) bytes += (chunk as Buffer).length;
  t.true(bytes > 0, "a snapshot works again");

  t.is(await s.process.stop("SIGTERM"), 0, s.process.logs().join("\n"));
  const check = s.process.logs().find((l) => l.startsWith("integrity_check: "));
  t.is(check, "integrity_check: ok", s.process.logs().slice(-20).join("\n"));
});
