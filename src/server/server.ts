import { createWriteStream, renameSync, rmSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import { loadWaypointProto } from "../gen/load.js";
import type { WaypointHandlers } from "../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../protocol/errors.js";
import { TokenCache } from "./auth.js";
import { AuthThrottle } from "./auth-throttle.js";
import { bindError } from "./bind-error.js";
import { formatAddress, type ListenAddress, listenersOf, type ServerConfig } from "./config.js";
import { passEncoded } from "./encoded.js";
import { EntrypointListener } from "./entrypoint-listener.js";
import { Guard } from "./guard.js";
import { createHttpServer } from "./http.js";
import { InventoryRecorder } from "./inventory-recorder.js";
import { exposedListeners } from "./listen-exposure.js";
import { type ServerLogger, scrubTokens } from "./logger.js";
import { RPC_TABLE } from "./rpc-table.js";
import { EntrypointHub } from "./runtime/entrypoint-hub.js";
import { ExecBroker } from "./runtime/exec-broker.js";
import { IngestGovernor } from "./runtime/ingest-governor.js";
import { InstanceRows } from "./runtime/instance-rows.js";
import { JobBroker } from "./runtime/job-broker.js";
import { LogHub } from "./runtime/log-hub.js";
import { LogPacer } from "./runtime/log-pacer.js";
import { creditSender, entrypointService } from "./services/entrypoint-service.js";
import { jobService } from "./services/job-service.js";
import { runtimeService } from "./services/runtime-service.js";
import { snapshotService } from "./services/snapshot-service.js";
import { waypointService } from "./services/waypoint-service.js";
import { removeLeftovers, restoreOnBoot } from "./snapshot/restore.js";
import { writeSnapshotFromFile } from "./snapshot/write.js";
import { SnapshotControl } from "./snapshot-control.js";
import { StateWatch } from "./state-watch.js";
import { lastSnapshotIn } from "./store/inspect.js";
import { SqliteStore } from "./store/sqlite-store.js";
import type { Store, TokenRecord } from "./store/store.js";
import { StreamLimits } from "./stream-limits.js";
import { resolveTls, type TlsPair } from "./tls.js";
import { TunnelBroker } from "./url/tunnel-broker.js";
import { startUrlService, type UrlService } from "./url/url-service.js";

/**
 * The entrypoint listener's thread runs at this nice value (Linux): when both want the CPU, the main
 * thread, which answers operators, goes first.
 */
const ENTRYPOINT_THREAD_NICE = 10;

/** A started server. close() is the graceful shutdown; it is idempotent. */
export interface RunningServer {
  readonly grpcAddress: string;
  readonly httpAddress: string;
  /** The URL service's address; absent when it is switched off. */
  readonly urlAddress?: string;
  /** The entrypoint listener's address (-listen-entrypoint); absent when it is off. */
  readonly entrypointAddress?: string;
  readonly store: Store;
  /**
   * Stores a token and makes it valid at once (the server's token cache learns it): the first token
   * of a database not yet bootstrapped, else one more. For the console's embedded server.
   */
  addToken(record: TokenRecord): void;
  close(): Promise<void>;
}

/** What the process hosting the server lets it do. */
export interface ServerHooks {
  /**
   * Called when a client asked the server to stop and the process to exit with `code` (75 after a
   * staged restore with -exit, so a supervisor restarts it into the restored data). The host closes
   * the server and exits. Without it the server cannot exit by itself, and says so.
   */
  readonly onExitRequested?: (code: number) => void;
}

/**
 * Opens the store, then binds gRPC and HTTP. If any step fails, everything
 * opened so far is closed again and the error is an AppError that says what
 * to do (port in use, unwritable dir, locked or newer database).
 */
export async function startServer(
  config: ServerConfig,
  logger: ServerLogger,
  hooks: ServerHooks = {},
): Promise<RunningServer> {
  // Everything that can fail without the database comes first, so a failure leaves nothing open.
  const proto = loadWaypointProto();
  assertTableCovers([proto.grpc.waypoint.v1.Waypoint.service, proto.grpc.waypoint.v1.Entrypoint.service]);
  // A staged or offline restore is applied before the database is opened; if it fails, nothing was touched.
  const boot = await restoreOnBoot(config.dbPath, logger, {
    ...(config.restorePassphrase ? { passphrase: config.restorePassphrase } : {}),
  });
  let preMigration: string | undefined;
  const store = SqliteStore.open(config.dbPath, {
    onMigrate: (m) => {
      preMigration = m.backup;
      logger.notice({ from: m.from, to: m.to, copy: m.backup }, "migrating the database schema forward");
    },
  });
  // Only now, with the database's lock held, is no other server working in this dir: what snapshot
  // work left behind here is from a run that died.
  removeLeftovers(config.dbPath, logger);
  // The last snapshot this server took stays the last one after a staged restore, as after a live one:
  // the restored data only knows of older ones.
  if (boot.restored && boot.keptAs) {
    const taken = lastSnapshotIn(boot.keptAs);
    if (taken) store.recordSnapshot(taken);
  }
  if (preMigration) await snapshotPreMigration(preMigration, config, logger);
  const tokens = new TokenCache(store);
  const recorder = new InventoryRecorder(store, {
    server: config.versionInfo,
    activeWindowMs: config.activeWindowMs,
    flushMs: config.inventoryFlushMs,
    logger,
  });
  const watch = new StateWatch(() => store.stateIndex());
  // One throttle for both listeners: alternating between gRPC and HTTP buys no extra attempts.
  const throttle = new AuthThrottle(config.authFailures, logger);
  const streamLimits = new StreamLimits(
    { perToken: config.maxStreamsPerToken, perConnection: config.maxStreamsPerConnection },
    logger,
  );
  const guard = new Guard({ server: config.versionInfo, tokens, recorder, logger, throttle, streamLimits });
  // grpc-js logs through console by default; route it into our structured log instead, without the
  // tokens its call traces quote (they are text, out of reach of the logger's redaction by key).
  const grpcText = (args: unknown[]) => scrubTokens(args.map(String).join(" "));
  grpc.setLogger({
    error: (...args: unknown[]) => logger.warn({ source: "grpc" }, grpcText(args)),
    info: (...args: unknown[]) => logger.debug({ source: "grpc" }, grpcText(args)),
    debug: (...args: unknown[]) => logger.trace({ source: "grpc" }, grpcText(args)),
  });

  const grpcServer = new grpc.Server({
    "grpc.max_receive_message_length": config.maxMessageBytes,
    "grpc.max_send_message_length": config.maxMessageBytes,
  });
  const waypoint = waypointService({
    guard,
    store,
    tokens,
    recorder,
    watch,
    versionInfo: config.versionInfo,
    startedAt: new Date().toISOString(),
    logger,
  });
  const hub = new EntrypointHub();
  const instanceRows = new InstanceRows(store, logger);
  // Started below, once gRPC is bound; deployments and deploy jobs are given its port while it serves.
  let entrypointListener: EntrypointListener | undefined;
  const entrypointPort = () => (entrypointListener?.serving ? entrypointListener.port : undefined);
  const broker = new JobBroker({
    store,
    tokens,
    logger,
    leaseMs: config.jobLeaseMs,
    entrypointPort,
  });
  const snapshots = new SnapshotControl({
    store,
    tokens,
    recorder,
    entrypoints: hub,
    instances: instanceRows,
    jobs: broker,
    dbPath: config.dbPath,
    versionInfo: config.versionInfo,
    uploadIdleMs: config.uploadIdleMs,
    logger,
  });
  const snapshotHandlers = snapshotService({
    guard,
    snapshots,
    logger,
    ...(hooks.onExitRequested ? { requestExit: hooks.onExitRequested } : {}),
  });
  // Bound below, once gRPC and HTTP are; the runtime service makes URLs from its address.
  let urlService: UrlService | undefined;
  const logs = new LogHub({ bufferBytes: config.logBufferBytes, totalBytes: config.logBufferTotalBytes });
  const exec = new ExecBroker({ hub, logger });
  const runtime = runtimeService({
    guard,
    store,
    tokens,
    hub,
    rows: instanceRows,
    logs,
    exec,
    activeWindowMs: config.activeWindowMs,
    entrypointPort,
    urls: () =>
      urlService
        ? { address: urlService.address, domain: config.urlDomain, tls: Boolean(tlsPair) }
        : undefined,
    logger,
  });
  const jobs = jobService({ guard, store, broker, recorder, logger });
  const tunnels = new TunnelBroker({ hub });
  const ingest = new IngestGovernor({ logger });
  const pacer = new LogPacer(creditSender(hub));
  const entrypoint = entrypointService({
    guard,
    store,
    recorder,
    hub,
    rows: instanceRows,
    logs,
    exec,
    tunnels,
    ingest,
    pacer,
    logger,
  });
  // Log buffers of instances gone for longer than the active window are dropped.
  const pruneTimer = setInterval(
    () => logs.prune((id) => hub.isConnected(id), config.activeWindowMs),
    Math.min(60_000, config.activeWindowMs),
  );
  pruneTimer.unref();
  const waypointHandlers: WaypointHandlers = { ...waypoint, ...snapshotHandlers, ...runtime, ...jobs };
  grpcServer.addService(
    passEncoded(proto.grpc.waypoint.v1.Waypoint.service, ["GetInventory"]),
    waypointHandlers,
  );
  const entrypointDefinition = passEncoded(proto.grpc.waypoint.v1.Entrypoint.service, ["EntrypointConfig"]);
  grpcServer.addService(entrypointDefinition, entrypoint);
  const health = new HealthImplementation({
    "": "SERVING",
    "waypoint.v1.Waypoint": "SERVING",
    "waypoint.v1.Entrypoint": "SERVING",
  });
  health.addToServer(grpcServer);
  new ReflectionService(proto.definition).addToServer(grpcServer);

  let draining = false;
  let tlsPair: TlsPair | undefined;
  try {
    tlsPair = await resolveTls(config, logger);
  } catch (err) {
    grpcServer.forceShutdown();
    clearInterval(pruneTimer);
    store.close();
    throw err;
  }
  if (!tlsPair) {
    const exposed = exposedListeners(listenersOf(config));
    if (exposed.length > 0) {
      logger.warn(
        { listeners: exposed.map((l) => `${l.flag}=${formatAddress(l.address)}`), insecurePlaintext: true },
        "serving plain text on non-loopback addresses (-insecure-plaintext): tokens and data travel in clear text to anyone on the network path",
      );
    }
  }
  const http = createHttpServer({
    ...(tlsPair ? { tls: tlsPair } : {}),
    versionInfo: config.versionInfo,
    stateIndex: () => store.stateIndex(),
    draining: () => draining,
    tokens,
    throttle,
    snapshots,
    logger,
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    maxHeaderBytes: config.httpMaxHeaderBytes,
  });

  let grpcPort: number;
  try {
    grpcPort = await bindGrpc(grpcServer, config, tlsPair);
    if (config.listenEntrypoint)
      entrypointListener = await EntrypointListener.start({
        server: grpcServer,
        service: entrypointDefinition,
        address: formatAddress(config.listenEntrypoint),
        ...(tlsPair ? { tls: tlsPair } : {}),
        maxMessageBytes: config.maxMessageBytes,
        logger,
        nice: ENTRYPOINT_THREAD_NICE,
        onFailure: (err) => {
          logger.error(
            { err, listener: formatAddress(config.listenEntrypoint!) },
            "the entrypoint listener's thread ended: entrypoints cannot connect through -listen-entrypoint until the server restarts (those on -listen-grpc are not affected)",
          );
        },
      });
    await listenHttp(http, config.listenHttp);
    if (config.listenUrl)
      urlService = await startUrlService(formatAddress(config.listenUrl), {
        store,
        hub,
        broker: tunnels,
        domain: config.urlDomain,
        logger,
        responseTimeoutMs: config.urlResponseTimeoutMs,
        headersTimeoutMs: config.httpHeadersTimeoutMs,
        maxHeaderBytes: config.httpMaxHeaderBytes,
        ...(tlsPair ? { tls: tlsPair } : {}),
      });
  } catch (err) {
    grpcServer.forceShutdown();
    await entrypointListener?.close(0);
    http.close();
    await urlService?.close();
    clearInterval(pruneTimer);
    store.close();
    throw err;
  }
  recorder.start();
  broker.start();
  ingest.start();
  pacer.start();
  const httpAddr = http.address();
  const httpPort = typeof httpAddr === "object" && httpAddr ? httpAddr.port : config.listenHttp.port;

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      draining = true;
      // Held log streams stay held: their entrypoints send what they hold to the next server.
      ingest.stop();
      pacer.stop();
      health.setStatus("", "NOT_SERVING");
      await urlService?.close();
      logger.notice("shutting down: no new calls; waiting for calls in flight");
      // Long-lived streams would hold tryShutdown open forever: end them; clients reconnect elsewhere.
      // The entrypoint listener stops taking calls now too; its calls end with the streams below.
      const entrypointsClosed = entrypointListener?.close(config.shutdownGraceMs);
      for (const s of guard.streams) if (!s.writableEnded) s.end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          logger.warn(
            { graceMs: config.shutdownGraceMs },
            "calls still in flight after the grace period; cancelling them",
          );
          grpcServer.forceShutdown();
          resolve();
        }, config.shutdownGraceMs);
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await entrypointsClosed;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      // Snapshot work still running lost its receiver above and fails at its next write; let it
      // release the database (a copy in progress holds it) before closing the store.
      await settledWithin(snapshots.settled(), config.shutdownGraceMs);
      watch.stop();
      broker.stop();
      clearInterval(pruneTimer);
      instanceRows.close();
      try {
        recorder.stop();
      } catch (err) {
        logger.error({ err }, "the last inventory flush failed; closing the database anyway");
      } finally {
        store.close();
      }
      logger.notice({ db: config.dbPath }, "stopped; database checkpointed and closed");
    })();
    return closing;
  };

  return {
    grpcAddress: formatAddress({ host: config.listenGrpc.host, port: grpcPort }),
    httpAddress: formatAddress({ host: config.listenHttp.host, port: httpPort }),
    ...(urlService ? { urlAddress: urlService.address } : {}),
    ...(entrypointListener && config.listenEntrypoint
      ? {
          entrypointAddress: formatAddress({
            host: config.listenEntrypoint.host,
            port: entrypointListener.port,
          }),
        }
      : {}),
    store,
    addToken: (record) => {
      if (store.isBootstrapped()) store.insertToken(record);
      else store.bootstrapToken(record);
      tokens.add(record);
    },
    close,
  };
}

/**
 * The automatic snapshot before a schema migration (DESIGN §7): the
 * pre-migration copy becomes `<copy>.snap`, a regular snapshot that
 * `waypoint server restore` accepts. If archiving fails the raw copy stays,
 * which is still a complete backup, and the log says so.
 */
async function snapshotPreMigration(copy: string, config: ServerConfig, logger: ServerLogger): Promise<void> {
  const target = `${copy}.snap`;
  // Written under a temp name and renamed: a crash mid-write never leaves a truncated ".snap".
  const partial = `${target}.partial`;
  try {
    const meta = await writeSnapshotFromFile(copy, createWriteStream(partial, { flags: "wx", mode: 0o600 }), {
      versionInfo: config.versionInfo,
    });
    renameSync(partial, target);
    rmSync(copy, { force: true });
    logger.notice(
      { snapshot: target, id: meta.id, schemaVersion: meta.schemaVersion },
      "wrote a snapshot of the database as it was before the migration",
    );
  } catch (err) {
    rmSync(partial, { force: true });
    logger.warn({ err, copy }, "could not archive the pre-migration copy; the raw copy is kept instead");
  }
}

/** Resolves when `work` does or after `ms`, whichever comes first. */
async function settledWithin(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

function bindGrpc(server: grpc.Server, config: ServerConfig, tls: TlsPair | undefined): Promise<number> {
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false)
    : grpc.ServerCredentials.createInsecure();
  const address = formatAddress(config.listenGrpc);
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (err) reject(bindError(err, address, "-listen-grpc"));
      else resolve(port);
    });
  });
}

function listenHttp(http: HttpServer, addr: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    http.once("error", (err) => reject(bindError(err, formatAddress(addr), "-listen-http")));
    http.listen(addr.port, addr.host, () => resolve());
  });
}

/** Every method of our services must be in RPC_TABLE: an unlisted RPC would be unguarded. */
function assertTableCovers(services: readonly grpc.ServiceDefinition[]): void {
  for (const service of services) {
    for (const method of Object.values(service)) {
      if (!(method.path in RPC_TABLE))
        throw new AppError("INTERNAL", `RPC ${method.path} has no entry in RPC_TABLE`);
    }
  }
}
