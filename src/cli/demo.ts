import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Connection } from "../client/connection.js";
import { Fleet, type FleetGroup } from "../client/fleet.js";
import { readCatalogFile } from "../client/identity.js";
import type { Catalog } from "../protocol/catalog.js";
import { emulatedVersionInfo } from "../protocol/emulation.js";
import { AppError } from "../protocol/errors.js";
import { clientIdentity } from "../protocol/headers.js";
import type { VersionInfo } from "../protocol/version-info.js";
import type { RunningServer } from "../server/main.js";
import type { Command } from "./command.js";
import { runConsole } from "./ui.js";

/** The demo's release catalog, shipped in the package (package.json "files"); resolves from src/cli and dist/cli. */
export const DEMO_CATALOG = fileURLToPath(new URL("../../fixtures/catalogs/demo.json", import.meta.url));

/** The release the demo's server emulates: old enough that reaching the newest takes several steps. */
export const DEMO_SERVER_VERSION = "1.2.0";

/** The id the console presents to the demo's server. */
export const DEMO_CONSOLE_ID = "demo-console";

/**
 * The simulated fleet: clients, runners and entrypoints spread over the demo catalog's releases. The
 * 2.1.0 runners speak api protocols 3-4, which the 1.2.0 server (1-2) refuses: they show as refused.
 */
export const DEMO_FLEET: readonly FleetGroup[] = [
  { kind: "cli", count: 3, version: "1.0.0" },
  { kind: "cli", count: 4, version: "1.2.0" },
  { kind: "ui", count: 2, version: "1.1.0" },
  { kind: "runner", count: 2, version: "1.1.0" },
  { kind: "runner", count: 3, version: "1.2.0" },
  { kind: "runner", count: 2, version: "2.1.0" },
  { kind: "entrypoint", count: 6, version: "1.0.0", app: "web", deployment: "web-v12" },
  { kind: "entrypoint", count: 4, version: "1.1.0", app: "api", deployment: "api-v7" },
  { kind: "entrypoint", count: 3, version: "1.2.0", app: "worker", deployment: "worker-v3" },
  { kind: "entrypoint", count: 2, version: "1.2.0", app: "billing", deployment: "billing-v5" },
];

/** A running demo: a server on a temporary data dir, emulating a release, and a simulated fleet on it. */
export interface Demo {
  readonly address: string;
  /** A management token of the demo's server. */
  readonly token: string;
  readonly catalog: Catalog;
  readonly catalogPath: string;
  /** What the server and the console advertise: DEMO_SERVER_VERSION of the catalog, emulated. */
  readonly info: VersionInfo;
  readonly fleet: Fleet;
  /** The temporary data dir (database, server.log); removed by close(). */
  readonly dataDir: string;
  /** What the console's header says about it. */
  readonly note: string;
  /** Stops the fleet and the server and removes the data dir. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the demo: a server in this process on a fresh temporary data dir (never the user's data), on
 * ports of its own choosing, emulating DEMO_SERVER_VERSION of the demo catalog; bootstraps it; and starts
 * the simulated fleet (real gRPC connections, ids "sim-…", emulated versions). On failure whatever was
 * started is closed and the data dir removed.
 */
export async function startDemo(
  opts: { readonly catalogPath?: string; readonly serverVersion?: string } = {},
): Promise<Demo> {
  const catalogPath = opts.catalogPath ?? DEMO_CATALOG;
  const catalog = readCatalogFile(catalogPath);
  const info = emulatedVersionInfo(catalog, opts.serverVersion ?? DEMO_SERVER_VERSION);
  let dataDir: string;
  try {
    dataDir = mkdtempSync(join(tmpdir(), "waypoint-demo-"));
  } catch (err) {
    throw new AppError(
      "STARTUP_FAILED",
      `cannot create the demo's temporary directory in ${tmpdir()}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      { hint: "Set TMPDIR to a writable directory." },
    );
  }
  // Last resort for an exit that skips close() (a second signal exits at once): no demo data left behind.
  const removeDir = () => rmSync(dataDir, { recursive: true, force: true });
  process.on("exit", removeDir);
  const log = createWriteStream(join(dataDir, "server.log"), { mode: 0o600 });
  log.on("error", () => {});
  let server: RunningServer | undefined;
  let fleet: Fleet | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        fleet?.stop();
        await server?.close();
      } finally {
        await new Promise<void>((resolve) => log.end(resolve));
        removeDir();
        process.off("exit", removeDir);
      }
    })();
    return closing;
  };
  try {
    // Loaded only here: the server (SQLite, grpc-js's server side) is not needed by other commands.
    const { createLogger, serverConfig, startServer } = await import("../server/main.js");
    server = await startServer(
      serverConfig({
        dbPath: join(dataDir, "data.db"),
        listenGrpc: "127.0.0.1:0",
        listenHttp: "127.0.0.1:0",
        listenUrl: "127.0.0.1:0",
        logLevel: "info",
        versionInfo: info,
        // Nothing in flight is worth waiting for when the demo ends.
        shutdownGraceMs: 1000,
      }),
      createLogger("info", log),
    );
    const address = server.grpcAddress;
    const settings = { address, tls: false, tlsSkipVerify: false, source: "demo" } as const;
    const boot = new Connection(settings, clientIdentity("ui", DEMO_CONSOLE_ID, info));
    let token: string;
    try {
      token = (await boot.bootstrap()).token;
    } finally {
      boot.close();
    }
    fleet = await Fleet.start({
      server: { address, tls: false, tlsSkipVerify: false },
      managementToken: token,
      catalog,
      groups: DEMO_FLEET,
      idPrefix: "sim",
    });
    const failed = fleet.members.find((m) => m.state === "failed");
    if (failed) {
      throw new AppError(
        "STARTUP_FAILED",
        `the simulated ${failed.id} could not connect: ${failed.error?.message}`,
      );
    }
    // One line at 80 columns: the header keeps its height, so the screens below fit.
    const note = `DEMO: server emulates ${info.version}, temp db, ${fleet.members.length} simulated components; nothing persists`;
    return { address, token, catalog, catalogPath, info, fleet, dataDir, note, close };
  } catch (err) {
    await close();
    throw err;
  }
}

export const demo: Command = {
  name: "demo",
  summary: "The console on a simulated fleet, to see a real upgrade plan at once (needs a terminal)",
  help: `Starts a server in this process on a temporary database, emulating release ${DEMO_SERVER_VERSION} of the demo
catalog (fixtures/catalogs/demo.json: fictional releases), connects a simulated fleet to it (a few dozen
clients, runners and entrypoints of the apps web, api, worker and billing, on older and newer releases; their
ids start with "sim-", and the server refuses some), and opens the console (\`waypoint ui\`) on it, so the
Versions screen and the upgrade plan have something to show. The components are real gRPC connections made by
this process; only their versions are emulated, and the console says so. q or Ctrl-C quits: the server stops
and its temporary data is removed. Your contexts and ~/.local/share/waypoint are not touched. Also: npm run demo.
To try the CLI on an emulated server instead, see README "Emulation".`,
  flags: [],
  async run(_flags, io) {
    if (!io.stdout.isTTY || !io.stdin.isTTY)
      throw new AppError("USAGE", "the demo needs a terminal on stdin and stdout", {
        hint: 'Run `npm run demo` (or `waypoint demo`) in a terminal. For scripts, see README "Emulation": a server with -emulate-version and `waypoint upgrade plan`.',
      });
    // Until the console takes over the signals, one ends the start-up (cleaned up) and a second exits at once.
    const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
    let interrupted = false;
    const onSignal = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
    };
    for (const sig of signals) process.on(sig, onSignal);
    let d: Demo;
    // On the line the console then draws over (erased once the demo runs, so the console starts at its top).
    const starting = "Starting the demo: a server and a simulated fleet…";
    io.stderr.write(io.stderr.isTTY ? starting : `${starting}\n`);
    try {
      d = await startDemo();
    } finally {
      for (const sig of signals) process.off(sig, onSignal);
      if (io.stderr.isTTY) io.stderr.write("\r\x1b[2K");
    }
    if (interrupted) {
      await d.close();
      return 130;
    }
    const conn = new Connection(
      { address: d.address, token: d.token, tls: false, tlsSkipVerify: false, source: "demo" },
      clientIdentity("ui", DEMO_CONSOLE_ID, d.info),
    );
    const close = async () => {
      conn.close();
      await d.close();
    };
    // Snapshots taken and plans exported in the demo stay in its temporary dir too: nothing persists.
    const options = {
      note: d.note,
      catalog: { catalog: d.catalog, path: d.catalogPath },
      snapshotDir: join(d.dataDir, "snapshots"),
      cleanup: close,
    };
    try {
      mkdirSync(options.snapshotDir, { mode: 0o700 });
      await runConsole(io, conn, options);
      return 0;
    } finally {
      await close();
    }
  },
};
