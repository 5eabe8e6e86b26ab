/**
 * The server's public entry for hosting it in-process: `waypoint server run`
 * and the console's embedded server start it through here (loaded when they
 * run, not when the CLI starts). Nothing else outside src/server may import
 * server modules but offline.ts (see .dependency-cruiser.cjs), which has what
 * the CLI needs without a server; this re-exports it too.
 */
import { formatVersion } from "../protocol/version-info.js";
import { type ServerConfig, type ServerConfigInput, serverConfig } from "./config.js";
import { createLogger, type LogLevel, levelFrom, type ServerLogger } from "./logger.js";
import { type RunningServer, type ServerHooks, startServer } from "./server.js";

export { type EmbeddedServer, startEmbeddedServer } from "./embedded.js";
export * from "./offline.js";
export type { LogLevel, RunningServer, ServerConfig, ServerConfigInput, ServerHooks, ServerLogger };
export { createLogger, levelFrom, serverConfig, startServer };

/**
 * Runs the server until SIGINT or SIGTERM, then shuts down gracefully: stop
 * accepting, let calls in flight finish, flush the inventory, checkpoint the
 * WAL and close, so that a copy of the database file taken afterwards is a
 * complete offline backup. A second signal exits at once. Resolves with the
 * exit code: 0 after a signal, 75 when a client staged a restore with -exit
 * (the server closed the same way; a supervisor restarts it into the restored
 * data), 1 if the shutdown failed.
 */
export async function runServer(config: ServerConfig, logger: ServerLogger): Promise<number> {
  // Set below, once the promise that resolves the exit code exists; no client can ask before that.
  let stopWith: (code: number) => void = () => {};
  const server = await startServer(config, logger, {
    onExitRequested: (code) => {
      logger.notice({ exitCode: code }, "stopping: a client asked the server to exit");
      stopWith(code);
    },
  });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, "second signal: exiting without waiting");
        process.exit(130);
      }
      logger.notice({ signal }, "signal received");
      stopWith(0);
    };
    stopWith = (code) => {
      if (stopping) return;
      stopping = true;
      server
        .close()
        .then(
          () => code,
          (err: unknown) => {
            logger.error({ err }, "shutdown failed");
            return 1;
          },
        )
        .then((exitCode) => {
          process.off("SIGINT", onSignal);
          process.off("SIGTERM", onSignal);
          resolve(exitCode);
        });
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // Only now: whoever waits for this line may signal the server at once and get a clean stop.
    logger.notice(
      {
        version: formatVersion(config.versionInfo),
        api: config.versionInfo.api,
        entrypoint: config.versionInfo.entrypoint,
        grpc: server.grpcAddress,
        http: server.httpAddress,
        url: server.urlAddress ?? "off",
        entrypoints: server.entrypointAddress ?? "off",
        urlDomain: config.urlDomain,
        db: config.dbPath,
        tls: Boolean(config.tls),
      },
      "server ready",
    );
  });
}
