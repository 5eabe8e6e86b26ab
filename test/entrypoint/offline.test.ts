import { writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { inetSockets, spawnEntrypoint } from "../helpers/entrypoint.js";
import { tempDir } from "../helpers/temp.js";

const node = process.execPath;
const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
/** An app that reports each forwarded signal on stdout and exits 0 on the fifth. */
const REPORTER = `let n = 0; for (const s of ${JSON.stringify(SIGNALS)}) process.on(s, () => { console.log('got ' + s); if (++n === 5) process.exit(0); }); console.log('up'); setInterval(() => {}, 1000);`;

test("without WAYPOINT_SERVER_ADDR the app runs directly: its output, its exit code, no token, no network", async (t) => {
  const ep = spawnEntrypoint(
    t,
    ["sh", "-c", 'echo "token=[$WAYPOINT_CEB_INVITE_TOKEN] other=$OTHER"; sleep 0.5; exit 7'],
    { env: { WAYPOINT_CEB_INVITE_TOKEN: "secret", OTHER: "kept" } },
  );
  await ep.waitForStdout("token=");
  t.is(await inetSockets(ep.pid), 0, "no TCP or UDP socket");
  const { code } = await ep.exited;
  t.is(code, 7);
  t.is(ep.stdout().toString(), "token=[] other=kept\n");
});

test("WAYPOINT_CEB_DISABLE wins over a server address: no connection is attempted", async (t) => {
  const ep = spawnEntrypoint(t, [node, "-e", "setTimeout(() => console.log('done'), 400)"], {
    env: { WAYPOINT_SERVER_ADDR: "127.0.0.1:1", WAYPOINT_CEB_DISABLE: "true" },
  });
  await ep.waitForStdout("");
  t.is(await inetSockets(ep.pid), 0);
  const { code } = await ep.exited;
  t.is(code, 0);
  t.is(ep.stdout().toString(), "done\n");
  t.false(ep.stderr().includes("connecting"), ep.stderr());
});

test("a command that does not exist exits 127, one that is not executable 126", async (t) => {
  const file = join(tempDir(t), "not-executable");
  writeFileSync(file, "echo no\n", { mode: 0o644 });
  t.is((await spawnEntrypoint(t, ["/nonexistent/command"]).exited).code, 127);
  t.is((await spawnEntrypoint(t, [file]).exited).code, 126);
});

test("offline: SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 all reach the app", async (t) => {
  const ep = spawnEntrypoint(t, [node, "-e", REPORTER]);
  await ep.waitForStdout("up");
  for (const s of SIGNALS) {
    ep.child.kill(s);
    await ep.waitForStdout(`got ${s}`);
  }
  t.is((await ep.exited).code, 0);
});

test("offline: an app killed by a signal makes the entrypoint exit 128 + its number", async (t) => {
  const term = spawnEntrypoint(t, ["sh", "-c", "echo up; exec sleep 30"]);
  await term.waitForStdout("up");
  term.child.kill("SIGTERM");
  t.is((await term.exited).code, 143);
  t.is((await spawnEntrypoint(t, ["sh", "-c", "kill -s USR1 $$"]).exited).code, 138);
});
