import { chmodSync, createWriteStream, fchmod, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AppError } from "../protocol/errors.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { hashToken, mintToken } from "./auth.js";
import { SERVER_DEFAULTS, serverConfig } from "./config.js";
import { createLogger } from "./logger.js";
import { type RunningServer, startServer } from "./server.js";

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
 * The token: `token` if the database knows it, else the one kept in `dataDir`/console-token (0600)
 * if the database knows that, else a new management token, kept there. It is checked and added only
 * once the server has opened the database, so after any staged restore and schema migration: a
 * restored database that lacks the console's token gets a new one instead of locking it out. Whoever
 * can start the console can read the database file anyway.
 */
export async function startEmbeddedServer(opts: {
  readonly dataDir: string;
  readonly token?: string;
  readonly versionInfo: VersionInfo;
}): Promise<EmbeddedServer> {
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const dbPath = join(opts.dataDir, "data.db");
  const logFile = join(opts.dataDir, "server.log");
  const tokenFile = join(opts.dataDir, "console-token");
  const log = createWriteStream(logFile, { flags: "a", mode: 0o600 });
  // An existing file keeps its mode when opened; the log and the token file are made private either way.
  log.on("open", (fd: number) => fchmod(fd, 0o600, () => {}));
  // A log that cannot be written (a full disk) must not take the console down: the server runs on.
  log.on("error", () => {});
  const logger = createLogger("info", log);
  const start = (grpc: string, http: string, url: string) =>
    startServer(
      serverConfig({
        dbPath,
        listenGrpc: grpc,
        listenHttp: http,
        listenUrl: url,
        logLevel: "info",
        versionInfo: opts.versionInfo,
      }),
      logger,
    );
  let server: RunningServer;
  let onDefaultPorts = true;
  try {
    server = await start(SERVER_DEFAULTS.listenGrpc, SERVER_DEFAULTS.listenHttp, SERVER_DEFAULTS.listenUrl);
  } catch (err) {
    if (!(err instanceof AppError && err.code === "PORT_IN_USE")) throw err;
    onDefaultPorts = false;
    server = await start("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0");
  }
  try {
    const known = (t: string | undefined): t is string =>
      t !== undefined &&
      server.store.listTokens().some((r) => r.kind === "management" && r.hash === hashToken(t));
    let token = [opts.token, readToken(tokenFile)].find(known);
    if (!token) {
      const minted = mintToken("management", { description: "console (embedded server)" });
      server.addToken(minted.record);
      writeFileSync(tokenFile, `${minted.secret}\n`, { mode: 0o600 });
      chmodSync(tokenFile, 0o600);
      token = minted.secret;
    }
    return { server, address: server.grpcAddress, token, onDefaultPorts, dbPath, logFile };
  } catch (err) {
    await server.close();
    throw err;
  }
}

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}
