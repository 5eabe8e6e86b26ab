import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../protocol/errors.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { hashToken, mintToken } from "./auth.js";
import { SERVER_DEFAULTS, serverConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { type RunningServer, startServer } from "./server.js";
import { SqliteStore } from "./store/sqlite-store.js";

/** A server the console runs in its own process when no server is configured. */
export interface EmbeddedServer {
  readonly server: RunningServer;
  readonly address: string;
  /** A management token the server knows: the one given, or a new one. */
  readonly token: string;
  /** False when the default ports were taken and it listens on ports of its own choosing. */
  readonly onDefaultPorts: boolean;
  readonly dbPath: string;
  readonly logFile: string;
}

/**
 * Starts a server in this process on `dataDir`/data.db, logging to `dataDir`/server.log (never to
 * the terminal the console owns). It listens on the default addresses so other commands reach it
 * through a saved context while it runs, or on free ports when those are taken.
 *
 * The token: `token` if the database knows it; otherwise a new management token, written into the
 * database before the server opens it (the first one through bootstrap on a fresh database). So a
 * console whose saved token was lost, or replaced by a restore, still gets in: whoever can start
 * the console can read the database file anyway.
 */
export async function startEmbeddedServer(opts: {
  readonly dataDir: string;
  readonly token?: string;
  readonly versionInfo: VersionInfo;
}): Promise<EmbeddedServer> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const dbPath = join(opts.dataDir, "data.db");
  const logFile = join(opts.dataDir, "server.log");
  const token = ensureToken(dbPath, opts.token);
  const logger = createLogger("info", createWriteStream(logFile, { flags: "a", mode: 0o600 }));
  const start = (grpc: string, http: string) =>
    startServer(
      serverConfig({
        dbPath,
        listenGrpc: grpc,
        listenHttp: http,
        logLevel: "info",
        versionInfo: opts.versionInfo,
      }),
      logger,
    );
  let server: RunningServer;
  let onDefaultPorts = true;
  try {
    server = await start(SERVER_DEFAULTS.listenGrpc, SERVER_DEFAULTS.listenHttp);
  } catch (err) {
    if (!(err instanceof AppError && err.code === "PORT_IN_USE")) throw err;
    onDefaultPorts = false;
    server = await start("127.0.0.1:0", "127.0.0.1:0");
  }
  return { server, address: server.grpcAddress, token, onDefaultPorts, dbPath, logFile };
}

function ensureToken(dbPath: string, token: string | undefined): string {
  const store = SqliteStore.open(dbPath);
  try {
    if (token && store.listTokens().some((t) => t.kind === "management" && t.hash === hashToken(token)))
      return token;
    const minted = mintToken("management", { description: "console (embedded server)" });
    if (store.isBootstrapped()) store.insertToken(minted.record);
    else store.bootstrapToken(minted.record);
    return minted.secret;
  } finally {
    store.close();
  }
}
