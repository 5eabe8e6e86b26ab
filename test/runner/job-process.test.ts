/**
 * A job's command as the runner runs it: real `sh` processes in their own group, their exit codes,
 * output, cancel (SIGTERM, then SIGKILL after the grace period), and nothing left behind.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { groupHasLiveMembers, startJobProcess } from "../../src/runner/job-process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

function run(command: string, graceSeconds = 1, cwd = "/tmp") {
  const out: string[] = [];
  const p = startJobProcess({
    command,
    env: { PATH: process.env.PATH, MARK: "from-env" },
    cwd,
    graceSeconds,
    onOutput: (stream, data) => out.push(`${stream}:${data.toString()}`),
  });
  return { p, out };
}

test("exit codes pass through; a signal gives 128+N; a missing command is 127", async (t) => {
  t.deepEqual(await run("exit 0").p.result, { exitCode: 0, cancelled: false });
  t.deepEqual(await run("exit 42").p.result, { exitCode: 42, cancelled: false });
  t.deepEqual(await run("kill -USR1 $$").p.result, { exitCode: 138, cancelled: false });
  const missing = run("no-such-command-anywhere");
  t.deepEqual(await missing.p.result, { exitCode: 127, cancelled: false });
  t.regex(missing.out.join(""), /^stderr:.*no-such-command-anywhere.*not found/);
});

test("output keeps its stream; env, cwd and an empty stdin are the job's", async (t) => {
  const dir = tempDir(t);
  const { p, out } = run('echo "$MARK"; echo oops >&2; pwd; cat; echo end', 1, dir);
  t.deepEqual(await p.result, { exitCode: 0, cancelled: false });
  const stdout = out.filter((o) => o.startsWith("stdout:")).map((o) => o.slice(7));
  t.is(stdout.join(""), `from-env\n${dir}\nend\n`);
  t.deepEqual(
    out.filter((o) => o.startsWith("stderr:")),
    ["stderr:oops\n"],
  );
});

test("cancel: SIGTERM to the whole group, SIGKILL after the grace period for what ignores it", async (t) => {
  const dir = tempDir(t);
  const polite = run(`trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done`);
  await waitFor(() => polite.out.join("").includes("ready"), "ready");
  polite.p.cancel();
  const r = await polite.p.result;
  t.true(r.cancelled);
  const stubborn = run(
    `awk '{print $5}' /proc/$$/stat > ${dir}/pgid; trap '' TERM; sleep 30 & echo ready; wait`,
    1,
  );
  await waitFor(() => stubborn.out.join("").includes("ready"), "ready");
  const pgid = Number(readFileSync(join(dir, "pgid"), "utf8"));
  const started = Date.now();
  stubborn.p.cancel();
  const r2 = await stubborn.p.result;
  t.true(r2.cancelled);
  t.true(Date.now() - started >= 900, "the grace period was given");
  t.false(groupHasLiveMembers(pgid), "nothing of the job is left");
});

test("what a job leaves in its group when it ends is ended with it", async (t) => {
  const dir = tempDir(t);
  const { p } = run(
    `awk '{print $5}' /proc/$$/stat > ${dir}/pgid; sleep 60 >/dev/null 2>&1 & sleep 60 & echo done`,
  );
  t.deepEqual(await p.result, { exitCode: 0, cancelled: false });
  const pgid = Number(readFileSync(join(dir, "pgid"), "utf8"));
  t.false(groupHasLiveMembers(pgid));
});
