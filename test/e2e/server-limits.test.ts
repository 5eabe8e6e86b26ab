/**
 * The limits of `waypoint server run` as an operator sets them: a real server process with the flags,
 * the real CLI against it.
 */
import test from "ava";
import { cli } from "../helpers/cli-inprocess.js";
import { lastLine, runCli, startServerProcess } from "../helpers/process.js";

test("server run -max-message-size takes effect, failed authentications from loopback are not throttled, and the CLI says what happened", async (t) => {
  const server = await startServerProcess(t, { args: ["-max-message-size=2MiB", "-auth-failure-limit=2"] });
  const env = { WAYPOINT_SERVER_ADDR: server.grpcAddress };
  const boot = await runCli(t, ["server", "bootstrap"], { env });
  t.is(boot.code, 0, boot.stderr);
  const token = lastLine(boot.stdout);
  const withToken = { ...env, WAYPOINT_SERVER_TOKEN: token };
  t.is((await runCli(t, ["app", "create", "web"], { env: withToken })).code, 0);

  // 3 MiB of configuration in one change (48 values of 64 KiB; in-process: too long for an argv).
  const big = Array.from({ length: 48 }, (_, i) => `BIG_${i}=${"x".repeat(64 * 1024)}`);
  const tooLarge = await cli(t, ["config", "set", "-app=web", ...big], withToken);
  t.is(tooLarge.code, 1, tooLarge.stderr);
  t.regex(
    tooLarge.stderr,
    /refused a message of \d+ bytes: its limit is 2097152 bytes \(the server's -max-message-size\)/,
  );

  // Loopback is not counted (a proxy on this machine would stand for every client; see
  // test/server/auth-throttle.test.ts for the count): bad tokens are refused one by one, good ones pass.
  const wrong = { ...env, WAYPOINT_SERVER_TOKEN: `wpm_${"B".repeat(43)}` };
  for (let i = 0; i < 4; i++) {
    const r = await runCli(t, ["app", "list"], {
      env: { ...wrong, WAYPOINT_SERVER_TOKEN: `wpm_${String(i).repeat(43)}` },
    });
    t.is(r.code, 4);
    t.regex(r.stderr, /the token is not valid on this server/);
  }
  t.is((await runCli(t, ["app", "list"], { env: withToken })).code, 0, "the good token passes");

  const warned = server.records().filter((r) => String(r.msg).startsWith("too many failed authentication"));
  t.is(warned.length, 0);
  t.false(
    server.logs().some((l) => l.includes(token) || l.includes("B".repeat(43))),
    "no token in the server's log",
  );
});
