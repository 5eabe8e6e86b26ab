/**
 * The console's desk against a real server and a real directory: the snapshots it takes are real files
 * the `tar` CLI reads, its list reads their meta, its verification catches damage, a live restore
 * swaps the server's data, and plan exports never replace a file.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import test from "ava";
import { consoleDesk } from "../../src/cli/console-desk.js";
import type { DeskProgress } from "../../src/tui/snapshot-desk.js";
import { startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";

function io() {
  return { stdout: new PassThrough(), stderr: new PassThrough(), stdin: new PassThrough(), env: {} };
}

test("take writes a verified snapshot file (mode 0600) that tar reads, and list shows it with its meta", async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const desk = consoleDesk(s.connect(), dir, io());
  t.deepEqual(await desk.list(), []);
  const phases = new Set<string>();
  const taken = await desk.take((p: DeskProgress) => phases.add(p.phase));
  t.true(phases.has("verifying"), [...phases].join(","));
  t.is(readdirSync(dir).length, 1, "no temp file left beside it");
  t.is(statSync(taken.path).mode & 0o777, 0o600);
  const tar = spawnSync("tar", ["-tzf", taken.path], { encoding: "utf8" });
  t.deepEqual(tar.stdout.trim().split("\n"), ["meta.json", "data.db", "SHA256SUMS"]);

  writeFileSync(join(dir, "notes.txt"), "not a snapshot");
  writeFileSync(join(dir, "broken.snap"), "not an archive either");
  const files = await desk.list();
  t.deepEqual(
    files.map((f) => f.name),
    ["broken.snap", taken.name],
    "only snapshot names, newest first",
  );
  t.like(files[1], {
    encrypted: false,
    bytes: taken.bytes,
    meta: { id: taken.meta.id, index: taken.meta.index },
  });
  t.truthy(files[0]!.problem, "an unreadable file says why");
  // The server recorded it.
  t.like((await s.connect().serverStatus()).lastSnapshot, { id: taken.meta.id });
});

test("verify passes a good file, says whether the console's token is in it, and fails a damaged one", async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const desk = consoleDesk(s.connect(), dir, io());
  const taken = await desk.take(() => {});
  const ok = await desk.verify(taken.name, () => {});
  t.like(ok, { encrypted: false, hasToken: true, meta: { id: taken.meta.id } });

  const bytes = readFileSync(taken.path);
  bytes[bytes.length - 40] = (bytes[bytes.length - 40] ?? 0) ^ 0xff;
  writeFileSync(join(dir, "damaged.snap"), bytes);
  await t.throwsAsync(() => desk.verify("damaged.snap", () => {}));
  await t.throwsAsync(() => desk.verify("../elsewhere.snap", () => {}), { message: /is not a file in/ });
});

test("a live restore from the desk brings the snapshot's data back; a stage is reported by the server", async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const admin = s.connect();
  const desk = consoleDesk(admin, dir, io());
  const taken = await desk.take(() => {});
  const later = await admin.createToken({ kind: "readonly", description: "after the snapshot" });
  t.true((await admin.serverStatus()).stateIndex > taken.meta.index);

  const staged = await desk.restore(taken.name, "stage", () => {});
  t.like(staged, { mode: "stage", meta: { id: taken.meta.id } });
  t.true((await admin.stagedRestore()).staged);
  t.true(await admin.cancelStagedRestore());

  const live = await desk.restore(taken.name, "live", () => {});
  t.like(live, { mode: "live", meta: { id: taken.meta.id } });
  // The token made after the snapshot is gone with the data it was in.
  await t.throwsAsync(() => s.connect({ token: later.token }).inventory());
});

test("a restore of a snapshot without the console's token is refused before the server is asked", async (t) => {
  const other = await startTestServer(t);
  const dir = tempDir(t);
  const taken = await consoleDesk(other.connect(), dir, io()).take(() => {});
  const s = await startTestServer(t);
  const desk = consoleDesk(s.connect(), dir, io());
  for (const mode of ["stage", "live"] as const) {
    await t.throwsAsync(() => desk.restore(taken.name, mode, () => {}), {
      message: /does not hold the token this console uses/,
    });
  }
  t.false((await s.connect().stagedRestore()).staged);
  t.is((await s.connect().serverStatus()).lastSnapshot, undefined, "the server's data is its own still");
});

test("exportPlan writes a new file and never replaces one", async (t) => {
  const s = await startTestServer(t);
  const dir = tempDir(t);
  const desk = consoleDesk(s.connect(), dir, io());
  const path = await desk.exportPlan("plan.md", "# Upgrade");
  t.is(readFileSync(path, "utf8"), "# Upgrade\n");
  await t.throwsAsync(() => desk.exportPlan("plan.md", "# Other"), { message: /already exists/ });
  t.is(readFileSync(path, "utf8"), "# Upgrade\n");
  chmodSync(dir, 0o500);
  t.teardown(() => chmodSync(dir, 0o700));
  if (process.getuid?.() !== 0)
    await t.throwsAsync(() => desk.exportPlan("other.md", "x"), { message: /cannot write/ });
});
