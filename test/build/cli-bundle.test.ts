/**
 * The CLI as `npm run build` ships it: bundled by scripts/bundle-cli.mjs into dist/bin/waypoint.js and
 * chunks in dist/chunks/. The bundle is built here into a temp package root inside the repository
 * (node_modules above it, fixtures/catalogs/ beside dist/ as package.json "files" ships it, no
 * package.json and no proto/: the bundle needs neither) and run as real processes: a server (its JSON
 * log, the API, gRPC health and reflection, which read their .proto files from node_modules), the
 * shipped catalog, and the console in a pseudo-terminal with its embedded server (SQLite).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as pty from "@lydell/node-pty";
import test, { type ExecutionContext } from "ava";
import { PACKAGE_VERSION } from "../../src/build-info.js";
import { childEnv, cliHome, REPO_ROOT } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const RECORDER = new URL("../helpers/record-imports.mjs", import.meta.url).href;

mkdirSync(join(REPO_ROOT, ".test-tmp"), { recursive: true });
const pkg = mkdtempSync(join(REPO_ROOT, ".test-tmp", "cli-bundle-"));
test.after.always(() => rmSync(pkg, { recursive: true, force: true }));
execFileSync(process.execPath, [join(REPO_ROOT, "scripts", "bundle-cli.mjs"), join(pkg, "dist")], {
  stdio: "pipe",
});
mkdirSync(join(pkg, "fixtures"));
symlinkSync(join(REPO_ROOT, "fixtures", "catalogs"), join(pkg, "fixtures", "catalogs"));
const BIN = join(pkg, "dist", "bin", "waypoint.js");

interface Run {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  readonly exited: Promise<number | null>;
}

function runBundle(t: ExecutionContext, args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: tempDir(t),
    env: childEnv(t, env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  child.stderr!.setEncoding("utf8").on("data", (s: string) => {
    err += s;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** A server from the bundle on temp ports, once its JSON log says it is ready, and its gRPC address. */
async function bundledServer(
  t: ExecutionContext,
  opts: { readonly db?: string; readonly args?: readonly string[] } = {},
): Promise<{ run: Run; address: string }> {
  const run = runBundle(t, [
    "server",
    "run",
    `-db=${opts.db ?? join(tempDir(t), "data.db")}`,
    "-listen-grpc=127.0.0.1:0",
    "-listen-http=127.0.0.1:0",
    "-listen-url=127.0.0.1:0",
    ...(opts.args ?? []),
  ]);
  let ready: Record<string, unknown> | undefined;
  await waitFor(() => {
    if (run.child.exitCode !== null) throw new Error(`the server exited:\n${run.stderr()}`);
    ready = run
      .stderr()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((r) => r.msg === "server ready");
    return ready !== undefined;
  }, 'the bundled server\'s "server ready" log line');
  t.teardown(async () => {
    run.child.kill("SIGTERM");
    await run.exited;
  });
  return { run, address: String(ready!.grpc) };
}

/** A raw unary or bidi call: request and response bytes as they are on the wire. */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };

test("the bundle is the entry file, the entrypoint listener's thread and chunks, all two levels below the package root", (t) => {
  t.deepEqual(readdirSync(join(pkg, "dist")).sort(), ["bin", "chunks", "server"]);
  t.deepEqual(readdirSync(join(pkg, "dist", "bin")), ["waypoint.js"]);
  t.deepEqual(readdirSync(join(pkg, "dist", "server")), ["entrypoint-thread.js"]);
  const chunks = readdirSync(join(pkg, "dist", "chunks"));
  t.true(chunks.length > 0 && chunks.every((f) => f.endsWith(".js")), chunks.join(", "));
  t.true(readFileSync(BIN, "utf8").startsWith("#!/usr/bin/env node\n"));
  // Paths relative to import.meta.url (the shipped catalog) resolve as from src/*/ and dist/*/.
  const depth = (dir: string) => relative(pkg, dir).split("/").length;
  t.is(depth(join(pkg, "dist", "bin")), 2);
  t.is(depth(join(pkg, "dist", "chunks")), 2);
  t.is(depth(join(pkg, "dist", "server")), 2);
});

test("`version -json` reports this build's version, written into the bundle", async (t) => {
  const run = runBundle(t, ["version", "-json"], { WAYPOINT_SERVER_ADDR: "127.0.0.1:1" });
  await run.exited;
  const out = JSON.parse(run.stdout()) as { client: { version: string } };
  t.is(out.client.version, PACKAGE_VERSION, run.stderr());
});

test("`server run` from the bundle: JSON log, the API, gRPC health and reflection", async (t) => {
  const { run, address } = await bundledServer(t);
  t.regex(run.stderr(), /"level":35,.*"msg":"server ready"/);

  const boot = runBundle(t, ["server", "bootstrap"], { WAYPOINT_SERVER_ADDR: address });
  t.is(await boot.exited, 0, boot.stderr());
  const token = boot.stdout().trim();
  t.regex(token, /\S{20,}/);

  const Client = grpc.makeGenericClientConstructor({}, "");
  const client = new Client(address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  // grpc.health.v1.Health/Check with the empty service: HealthCheckResponse{status: SERVING} is 08 01.
  const health = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest(
      "/grpc.health.v1.Health/Check",
      raw.serialize,
      raw.deserialize,
      Buffer.alloc(0),
      (err, res) => (err ? reject(err) : resolve(res!)),
    ),
  );
  t.deepEqual([...health], [0x08, 0x01]);
  // grpc.reflection.v1: list_services (field 7, empty), then the file that defines waypoint.v1.Waypoint
  // (file_containing_symbol, field 4): both come from the package definition the server was built on.
  const reflection = client.makeBidiStreamRequest(
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    raw.serialize,
    raw.deserialize,
  );
  const answers: Buffer[] = [];
  reflection.on("data", (b: Buffer) => answers.push(b));
  const symbol = Buffer.from("waypoint.v1.Waypoint");
  reflection.write(Buffer.from([0x3a, 0x00]));
  reflection.write(Buffer.concat([Buffer.from([0x22, symbol.length]), symbol]));
  reflection.end();
  await new Promise<void>((resolve, reject) => reflection.on("end", resolve).on("error", reject));
  t.is(answers.length, 2);
  t.true(answers[0]!.includes("waypoint.v1.Waypoint") && answers[0]!.includes("waypoint.v1.Entrypoint"));
  t.true(answers[1]!.includes("GetVersionInfo"), "the file descriptor of the service");
});

test("`server run -listen-entrypoint` from the bundle: its thread loads from the bundle and its calls reach the server's handlers", async (t) => {
  const { run } = await bundledServer(t, { args: ["-listen-entrypoint=127.0.0.1:0"] });
  const ready = run
    .stderr()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .find((r) => r.msg === "server ready")!;
  const address = String(ready.entrypoints);
  t.regex(address, /^127\.0\.0\.1:\d+$/);
  const Client = grpc.makeGenericClientConstructor({}, "");
  const client = new Client(address, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const status = (path: string) =>
    new Promise<grpc.StatusObject>((resolve) => {
      const call = client.makeServerStreamRequest(path, raw.serialize, raw.deserialize, Buffer.alloc(0));
      call.on("error", () => {});
      call.on("status", resolve);
    });
  // No identity headers: the server's guard, on the main thread, refuses the call and says why.
  const config = await status("/waypoint.v1.Entrypoint/EntrypointConfig");
  t.is(config.code, grpc.status.INVALID_ARGUMENT);
  t.regex(config.details, /missing metadata header/);
  // The listener serves the Entrypoint service only.
  t.is((await status("/waypoint.v1.Waypoint/WatchState")).code, grpc.status.UNIMPLEMENTED);
});

test("`server run -tls-self-signed` from the bundle makes its certificate (the X.509 library loads from its chunk)", async (t) => {
  const dir = tempDir(t);
  const { run } = await bundledServer(t, { db: join(dir, "data.db"), args: ["-tls-self-signed"] });
  t.regex(run.stderr(), /"msg":"made a self-signed TLS certificate [^"]*tls-cert\.pem"/);
  t.true(existsSync(join(dir, "tls-cert.pem")) && existsSync(join(dir, "tls-key.pem")));
});

test("`upgrade plan` from the bundle plans with the shipped catalog", async (t) => {
  const { address } = await bundledServer(t);
  const boot = runBundle(t, ["server", "bootstrap"], { WAYPOINT_SERVER_ADDR: address });
  t.is(await boot.exited, 0, boot.stderr());
  const plan = runBundle(t, ["upgrade", "plan"], {
    WAYPOINT_SERVER_ADDR: address,
    WAYPOINT_SERVER_TOKEN: boot.stdout().trim(),
  });
  t.is(await plan.exited, 0, plan.stderr());
  t.true(plan.stdout().length > 0);
  // Where it read it from, when asked for a release the catalog does not have.
  const unknown = runBundle(t, ["upgrade", "plan", "-to=99.0.0"], {
    WAYPOINT_SERVER_ADDR: address,
    WAYPOINT_SERVER_TOKEN: boot.stdout().trim(),
  });
  t.not(await unknown.exited, 0);
  t.true(unknown.stderr().includes(join(pkg, "fixtures", "catalogs", "waypoint-ops.json")), unknown.stderr());
});

test("`ui` from the bundle in a terminal: with nothing configured it starts an embedded server, draws, quits, and loads nothing but the bundle, Node's modules and the native addons", async (t) => {
  const home = cliHome(t);
  const imports = join(tempDir(t), "imports.txt");
  const env = childEnv(t, {
    CI: undefined,
    TERM: "xterm-256color",
    HOME: join(home.dataHome, ".."),
    WAYPOINT_TEST_IMPORTS_FILE: imports,
    // Ink's development mode reads files a bundle does not have: the bundle ignores it.
    DEV: "true",
  });
  const term = pty.spawn(process.execPath, [`--import=${RECORDER}`, BIN, "ui"], {
    cols: 100,
    rows: 30,
    cwd: tempDir(t),
    env: env as Record<string, string>,
  });
  let out = "";
  term.onData((d) => {
    out += d;
  });
  const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
  t.teardown(() => {
    try {
      term.kill("SIGKILL");
    } catch {
      // Gone already.
    }
  });
  await waitFor(() => out.includes("Warnings"), `the overview; so far:\n${out}`, 30_000);
  t.regex(out, /embedded server, stops when you quit/);
  term.write("q");
  t.is(await exited, 0, out);
  const dataDir = join(home.dataHome, "waypoint");
  t.regex(readFileSync(join(dataDir, "server.log"), "utf8"), /database checkpointed and closed/);
  t.true(existsSync(join(dataDir, "data.db")));

  const own = pathToFileURL(join(pkg, "dist")).href;
  const loaded = readFileSync(imports, "utf8").split("\n").filter(Boolean);
  t.true(loaded.some((u) => u.startsWith(`${own}/chunks/`)));
  t.deepEqual(
    [...new Set(loaded)].filter(
      (u) =>
        !u.startsWith("node:") &&
        !u.startsWith(`${own}/`) &&
        !/\/node_modules\/(better-sqlite3|@lydell\/node-pty)\//.test(u),
    ),
    [],
    "nothing but the bundle, Node's own modules and the native addons",
  );
});
