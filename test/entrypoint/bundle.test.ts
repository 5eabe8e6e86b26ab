/**
 * The entrypoint as `npm run build` ships it: bundled by scripts/bundle-entrypoint.mjs
 * into one entry file and a few chunks. The bundle is built here into a temp dir
 * inside the repository (node_modules above it, as in an install) and run as a
 * real process against a real server.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import test from "ava";
import { PACKAGE_VERSION } from "../../src/build-info.js";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { freePort, REPO_ROOT } from "../helpers/process.js";
import { entrypointEnvFor, execToEnd, hasLogLine, startTestServer } from "../helpers/server.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const URL_APP = fileURLToPath(new URL("../helpers/url-app.cjs", import.meta.url));
const RECORDER = new URL("../helpers/record-imports.mjs", import.meta.url).href;

mkdirSync(join(REPO_ROOT, ".test-tmp"), { recursive: true });
const dist = mkdtempSync(join(REPO_ROOT, ".test-tmp", "bundle-"));
test.after.always(() => rmSync(dist, { recursive: true, force: true }));
execFileSync(process.execPath, [join(REPO_ROOT, "scripts", "bundle-entrypoint.mjs"), dist], {
  stdio: "pipe",
});
const BIN = join(dist, "bin", "waypoint-entrypoint.js");

test("the bundle is one entry file and its chunks, with nothing of tsc's beside it", (t) => {
  t.deepEqual(readdirSync(join(dist, "bin")).sort(), ["entrypoint", "waypoint-entrypoint.js"]);
  const chunks = readdirSync(join(dist, "bin", "entrypoint"));
  t.true(chunks.length > 0 && chunks.every((f) => f.endsWith(".js")), chunks.join(", "));
  t.true(readFileSync(BIN, "utf8").startsWith("#!/usr/bin/env node\n"));
});

test("bundled, without a server: runs the app and exits with its code", async (t) => {
  const ep = spawnEntrypoint(t, [process.execPath, "-e", "console.log('plain'); process.exit(9)"], {
    bin: BIN,
  });
  t.is((await ep.exited).code, 9);
  t.is(ep.stdout().toString(), "plain\n");
});

test("bundled and connected: registers with this build's version, ships logs, runs exec with and without a terminal, and loads only its own files", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect();
  await conn.createApp("web");
  const created = await conn.createDeployment("web");
  const file = join(tempDir(t), "imports.txt");
  const ep = spawnEntrypoint(
    t,
    [process.execPath, "-e", "console.log('hello'); setInterval(() => {}, 1000);"],
    {
      bin: BIN,
      env: {
        ...entrypointEnvFor(s.address, created),
        WAYPOINT_TEST_IMPORTS_FILE: file,
      },
      nodeArgs: [`--import=${RECORDER}`],
    },
  );
  await ep.waitForStdout("hello\n");
  await waitFor(
    async () => (await conn.listInstances({ app: "web" })).some((i) => i.connected),
    "the instance to register",
  );
  const [instance] = await conn.listInstances({ app: "web" });
  t.is(instance?.version, PACKAGE_VERSION, "the version written into the bundle");
  await waitFor(() => hasLogLine(conn, "web", "hello"), "the app's line to reach the server");
  t.deepEqual(await execToEnd(conn, { app: "web", args: ["echo", "exec works"] }), {
    code: 0,
    stdout: "exec works\n",
  });
  // A terminal session loads node-pty, the one module the bundle leaves out.
  const tty = await execToEnd(conn, {
    app: "web",
    args: ["sh", "-c", "test -t 1 && echo on a terminal"],
    tty: { rows: 24, cols: 80 },
  });
  t.is(tty.code, 0);
  t.regex(tty.stdout, /on a terminal/);

  const own = pathToFileURL(join(dist, "bin")).href;
  const loaded = readFileSync(file, "utf8").split("\n").filter(Boolean);
  t.true(
    loaded.some((u) => u.startsWith(`${own}/entrypoint/run-entrypoint-`)),
    "the recorder saw the lazy chunk",
  );
  t.deepEqual(
    loaded.filter(
      (u) => !u.startsWith("node:") && !u.startsWith(`${own}/`) && !u.includes("/node_modules/@lydell/"),
    ),
    [],
    "nothing but the bundle, Node's own modules and node-pty",
  );
});

test("bundled, with version emulation: the lazily loaded emulation registers the emulated release", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect();
  await conn.createApp("web");
  const created = await conn.createDeployment("web");
  const ep = spawnEntrypoint(t, [process.execPath, "-e", "setInterval(() => {}, 1000);"], {
    bin: BIN,
    env: {
      ...entrypointEnvFor(s.address, created),
      WAYPOINT_EMULATE_VERSION: "0.2.0",
      WAYPOINT_CATALOG: join(REPO_ROOT, "fixtures", "catalogs", "protocol-steps.json"),
    },
  });
  await waitFor(
    async () => (await conn.listInstances({ app: "web" })).some((i) => i.connected && i.version === "0.2.0"),
    "the instance to register as 0.2.0",
  );
  t.like(await ep.waitForLog("app started"), { configVars: 0 });
});

test("bundled: the lazily loaded tunnel carries a URL-service request to the app", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect();
  await conn.createApp("web");
  const created = await conn.createDeployment("web");
  const port = await freePort();
  const ep = spawnEntrypoint(t, [process.execPath, URL_APP], {
    bin: BIN,
    env: { ...entrypointEnvFor(s.address, created), PORT: String(port) },
  });
  await ep.waitForStdout("listening");
  await waitFor(
    async () => (await conn.listInstances({ app: "web" })).some((i) => i.connected),
    "the instance to register",
  );
  const [host, urlPort] = s.server.urlAddress!.split(":");
  const body = await new Promise<string>((resolve, reject) => {
    httpRequest(
      { host, port: Number(urlPort), method: "POST", path: "/echo", headers: { host: "web.localhost" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8").on("data", (d: string) => (text += d));
        res.on("end", () => resolve(`${res.statusCode} ${text}`));
      },
    )
      .on("error", reject)
      .end("abc");
  });
  t.regex(body, /^200 POST \/echo 3 [0-9a-f]{64}$/);
});
