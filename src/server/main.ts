/**
 * The server's public entry for hosting it in-process: `waypoint server run`
 * and (later) the console's embedded server start it through here. Nothing
 * else outside src/server may import server modules (see
 * .dependency-cruiser.cjs).
 */
import { formatVersion } from "../protocol/version-info.js";
import { type ServerConfig, type ServerConfigInput, serverConfig } from "./config.js";
import { createLogger, type LogLevel, levelFrom, type ServerLogger } from "./logger.js";
import { type RunningServer, startServer } from "./server.js";

export { SERVER_DEFAULTS } from "./config.js";
export type { LogLevel, RunningServer, ServerConfig, ServerConfigInput, ServerLogger };
export { createLogger, levelFrom, serverConfig, startServer };

/**
 * Runs the server until SIGINT or SIGTERM, then shuts down gracefully: stop
 * accepting, let calls in flight finish, flush the inventory, checkpoint the
 * WAL and close, so that a copy of the database file taken afterwards is a
 * complete offline backup. A second signal exits at once.
 */
export async function runServer(config: ServerConfig, logger: ServerLogger): Promise<number> {
  const server = await startServer(config, logger);
  logger.notice(
    {
      version: formatVersion(config.versionInfo),
      api: config.versionInfo.api,
      entrypoint: config.versionInfo.entrypoint,
      grpc: server.grpcAddress,
      http: server.httpAddress,
      db: config.dbPath,
      tls: Boolean(config.tls),
    },
    "server ready",
  );
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals += 1;
      if (signals > 1) {
        logger.warn({ signal }, "second signal: exiting without waiting");
        process.exit(130);
      }
      logger.notice({ signal }, "signal received");
      server.close().then(
        () => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve(0);
        },
        (err: unknown) => {
          logger.error({ err }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
