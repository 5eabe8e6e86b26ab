/**
 * A stalled server (SIGSTOP: its TCP connection stays open but nobody reads)
 * must not slow the app: its output goes on at full speed and intact.
 */
import { createHash } from "node:crypto";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { startServerProcess } from "../helpers/process.js";
import { entrypointEnvFor } from "../helpers/server.js";

const node = process.execPath;

test("a stopped server does not slow the app: 16 MB of lines reach stdout intact and promptly", async (t) => {
  const server = await startServerProcess(t);
  const settings = { address: server.grpcAddress, tls: false, tlsSkipVerify: false, source: "test" };
  const boot = new Connection(settings, clientIdentity("cli", "stall-test", BUILD_VERSION_INFO));
  const token = (await boot.bootstrap()).token;
  boot.close();
  const conn = new Connection(
    { ...settings, token },
    clientIdentity("cli", "stall-test", BUILD_VERSION_INFO),
  );
  t.teardown(() => conn.close());
  await conn.createApp("web");
  const created = await conn.createDeployment("web");

  // Waits for "go" on a signal, then writes 200,000 lines of 80 bytes (16 MB) as fast as the pipe takes them.
  const app = `
    process.on('SIGUSR2', () => {
      const line = (i) => String(i).padStart(8, '0') + ' ' + 'y'.repeat(70) + '\\n';
      let i = 0;
      const write = () => {
        let ok = true;
        while (i < 200000 && ok) { let s = ''; for (let j = 0; j < 500; j++) s += line(i++); ok = process.stdout.write(s); }
        if (i < 200000) process.stdout.once('drain', write); else process.stdout.write('END\\n', () => process.exit(0));
      };
      write();
    });
    console.log('ready');
    setInterval(() => {}, 1000);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], {
    env: {
      ...entrypointEnvFor(server.grpcAddress, created),
      // No rate limit: the bounded buffer alone must keep the app from waiting on the stopped server.
      WAYPOINT_CEB_LOG_RATE_BYTES: "0",
    },
  });
  await ep.waitForStdout("ready\n");
  await ep.waitForLog("registered with the server");
  server.child.kill("SIGSTOP");
  t.teardown(() => {
    server.child.kill("SIGCONT");
  });
  const started = Date.now();
  ep.child.kill("SIGUSR2");
  const { code } = await ep.exited.then(async (r) => r);
  const elapsed = Date.now() - started;
  server.child.kill("SIGCONT");
  t.is(code, 0);
  let expected = "ready\n";
  for (let i = 0; i < 200000; i++) expected += `${String(i).padStart(8, "0")} ${"y".repeat(70)}\n`;
  expected += "END\n";
  const hash = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
  t.is(ep.stdout().length, Buffer.byteLength(expected));
  t.is(hash(ep.stdout()), hash(expected), "stdout is intact");
  // Generous for a loaded 2-core machine; the exit waits at most 2 s for the log stream.
  t.true(elapsed < 8_000, `took ${elapsed} ms`);
  t.true(
    ep
      .records()
      .some((r) => r.msg === "log buffer full: dropping the oldest lines until the server takes more"),
    "the overflow is logged, not silent",
  );
});
