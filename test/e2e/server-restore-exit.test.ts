/**
 * A staged restore with -exit, as a supervisor sees it: the real `waypoint
 * server run` process answers, shuts down gracefully and exits with 75.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { lastLine, runCli, startServerProcess } from "../helpers/process.js";

test("a restore staged with exit makes `waypoint server run` shut down gracefully and exit with 75", async (t) => {
  const server = await startServerProcess(t);
  const boot = await runCli(t, ["server", "bootstrap", `-server-addr=${server.grpcAddress}`]);
  t.is(boot.code, 0, boot.stderr);
  const conn = new Connection(
    {
      address: server.grpcAddress,
      token: lastLine(boot.stdout),
      tls: false,
      tlsSkipVerify: false,
      source: "test",
    },
    clientIdentity("cli", "restore-exit-test", BUILD_VERSION_INFO),
  );
  t.teardown(() => conn.close());

  const chunks: Buffer[] = [];
  for await (const chunk of conn.takeSnapshot()) chunks.push(chunk as Buffer);
  const result = await conn.restoreSnapshot(Readable.from([Buffer.concat(chunks)]), {
    mode: "stage",
    exit: true,
  });
  t.like(result, { mode: "stage", exiting: true });

  t.is((await server.exited).code, 75, server.logs().join("\n"));
  t.is(result.stagedPath, join(dirname(server.dbPath!), "waypoint-restore.db"));
  t.true(existsSync(result.stagedPath!), "the stage is left for the next start");
  t.true(
    server.records().some((r) => typeof r.msg === "string" && /^stopped/.test(r.msg)),
    "the server closed the database before exiting",
  );
});
