/**
 * The entrypoint sits beside every app process, so what it loads is part of
 * its contract (BENCHMARKS.md, idle memory): connected to a real server,
 * shipping logs and running an exec session, it must not load grpc-js,
 * protobufjs, pino or semver. A module hook records every module the
 * process imports.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { entrypointEnvFor, execToEnd, hasLogLine, startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const RECORDER = new URL("../helpers/record-imports.mjs", import.meta.url).href;
const HEAVY = /\/node_modules\/(@grpc\/|@protobufjs\/|protobufjs\/|pino\/|semver\/|@lydell\/)/;

test("connected, shipping logs and running exec, the entrypoint loads none of the heavy libraries", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect();
  await conn.createApp("web");
  const created = await conn.createDeployment("web");
  const file = join(tempDir(t), "imports.txt");
  const ep = spawnEntrypoint(
    t,
    [process.execPath, "-e", "console.log('hello from the app'); setInterval(() => {}, 1000);"],
    {
      env: {
        ...entrypointEnvFor(s.address, created),
        WAYPOINT_TEST_IMPORTS_FILE: file,
      },
      nodeArgs: [`--import=${RECORDER}`],
    },
  );
  await ep.waitForStdout("hello from the app\n");
  await waitFor(
    async () => (await conn.listInstances({ app: "web" })).some((i) => i.connected),
    "the instance to register",
  );
  await waitFor(() => hasLogLine(conn, "web", "hello from the app"), "the app's line to reach the server");
  t.deepEqual(await execToEnd(conn, { app: "web", args: ["echo", "exec works"] }), {
    code: 0,
    stdout: "exec works\n",
  });

  const loaded = readFileSync(file, "utf8").split("\n").filter(Boolean);
  // The recorder saw the entrypoint's own transport, so an empty list cannot pass for a clean one.
  t.true(
    loaded.some((u) => u.endsWith("/src/client/grpc-h2.ts")),
    "the recorder saw the transport",
  );
  t.deepEqual(
    loaded.filter((u) => HEAVY.test(u)),
    [],
  );
});
