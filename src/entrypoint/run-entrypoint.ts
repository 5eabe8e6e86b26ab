import { BUILD_VERSION_INFO } from "../build-info.js";
import type { AppError } from "../protocol/errors.js";
import { clientIdentity } from "../protocol/headers.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { GONE_CODES } from "./gone.js";
import { newInstanceId } from "./instance-id.js";
import { LineSplitter } from "./line-splitter.js";
import { LogBuffer, type OutputSource, RateLimit } from "./log-buffer.js";
import { BATCH_BYTES, LogShipper } from "./log-shipper.js";
import { createEntrypointLogger, type EntrypointLogger } from "./logger.js";
import { ServerLink } from "./server-link.js";
import { PRIVATE_ENV, readSettings } from "./settings.js";
import { FORWARDED_SIGNALS } from "./signals.js";
import { type AppConfig, appEnv, Supervisor } from "./supervisor.js";

/** After the app exits: how long buffered log lines may take to reach the server. */
const EXIT_FLUSH_MS = 2_000;

/**
 * The entrypoint with a server (DESIGN §9). Order of events: read settings →
 * connect in the background → start the app once the first configuration
 * arrived, or after the startup timeout (fail open), or at once when the
 * server refused us; with WAYPOINT_CEB_SERVER_REQUIRED only after the first
 * configuration. Resolves with the exit code: the app's.
 */
export async function runEntrypoint(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const settings = readSettings(env);
  const logger = createEntrypointLogger(settings.logLevel);
  for (const problem of settings.problems) logger.warn(problem);
  const target = settings.server;
  if (!target) throw new Error("runEntrypoint needs WAYPOINT_SERVER_ADDR (use runChild without a server)");

  const baseEnv = { ...env };
  for (const name of PRIVATE_ENV) delete baseEnv[name];
  const instanceId = newInstanceId();
  const identity = clientIdentity("entrypoint", instanceId, await versionInfo(env, logger));

  const buffer = new LogBuffer(settings.logBufferBytes);
  const shipper = new LogShipper(buffer, instanceId, settings.logFlushMs, logger);
  const splitters: Record<OutputSource, LineSplitter> = {
    stdout: new LineSplitter(settings.logLineMaxBytes, (data) => ship("stdout", data)),
    stderr: new LineSplitter(settings.logLineMaxBytes, (data) => ship("stderr", data)),
  };
  const rate = new RateLimit(settings.logRateBytes, Math.max(settings.logBufferBytes, BATCH_BYTES));
  function ship(source: OutputSource, data: Buffer): void {
    if (!rate.take(data.length)) {
      buffer.drop(data, "rate");
      return;
    }
    buffer.push({ source, data, at: new Date().toISOString() });
    shipper.notify();
  }
  const out = { stdout: process.stdout, stderr: process.stderr };
  for (const [name, s] of Object.entries(out)) {
    // After EPIPE a stdio stream fails every write with an 'error'; the first is worth saying once.
    s.on("error", () => {});
    s.once("error", (err: NodeJS.ErrnoException) =>
      logger.warn(
        { stream: name, code: err.code, err: err.message },
        err.code !== undefined && GONE_CODES.has(err.code)
          ? `the reader of the entrypoint's ${name} went away: the app's ${name} is no longer copied there, and is still shipped to the server`
          : `a write to the entrypoint's ${name} failed: the app runs on, and its ${name} is still shipped to the server`,
      ),
    );
  }

  const supervisor = new Supervisor({
    argv,
    baseEnv,
    graceMs: settings.restartGraceMs,
    quietMs: settings.configQuietMs,
    logger,
    // The bytes go out first, unchanged; splitting for the log stream is one lastIndexOf per read.
    output: {
      sinks: out,
      tap: (source, data) => {
        try {
          // A read the rate limit refuses as a whole is only counted: no cut, copy or chunk per piece.
          if (rate.refuses(data.length)) buffer.drop(splitters[source].skip(data), "rate");
          else splitters[source].feed(data);
        } catch (err) {
          logger.error({ err: (err as Error).message }, "cannot buffer the app's output for the server");
        }
      },
    },
    onChildEnd: () => {
      splitters.stdout.flush();
      splitters.stderr.flush();
    },
  });

  let firstConfig: (config: AppConfig | undefined) => void = () => {};
  const ready = new Promise<AppConfig | undefined>((resolve) => (firstConfig = resolve));
  let tunnelLimits: import("./tunnel-session.js").TunnelLimits | undefined;
  let tunnelModule: Promise<typeof import("./tunnel-session.js")> | undefined;
  // The tunnels in progress by session, to drop one whose client went away.
  const tunnels = new Map<string, () => void>();
  const link = new ServerLink(target, identity, instanceId, settings, shipper, logger, {
    onConfig: (config) => {
      if (supervisor.started) supervisor.configure(config);
      else firstConfig(config);
    },
    onRefused: (_err: AppError) => {
      if (!settings.serverRequired) firstConfig(undefined);
    },
    onExec: (session) => {
      // Loaded on the first session: most instances never see one, and an idle entrypoint stays small.
      import("./exec-session.js")
        .then(({ runExecSession }) =>
          runExecSession({
            conn: link.conn,
            instanceId,
            session,
            disabled: settings.execDisabled,
            env: () => appEnv(baseEnv, supervisor.config),
            cwd: process.cwd(),
            logger,
          }),
        )
        .catch((err: unknown) => {
          logger.error({ err: (err as Error).message, session }, "exec session failed");
        });
    },
    onTunnel: (session, cancel) => {
      if (cancel) {
        tunnels.get(session)?.();
        return;
      }
      // Loaded on the first request, like exec, then kept; the limits are shared by every tunnel.
      tunnelModule ??= import("./tunnel-session.js");
      tunnelModule
        .then(({ runTunnelSession, TunnelLimits, appPort }) => {
          tunnelLimits ??= new TunnelLimits(settings.urlMaxRequests, settings.urlMaxBufferBytes);
          const abort = runTunnelSession({
            conn: link.conn,
            instanceId,
            session,
            port: appPort(appEnv(baseEnv, supervisor.config).PORT),
            limits: tunnelLimits,
            responseTimeoutMs: settings.urlResponseTimeoutMs,
            logger,
            onDone: () => tunnels.delete(session),
          });
          if (abort) tunnels.set(session, abort);
        })
        .catch((err: unknown) => {
          logger.error({ err: (err as Error).message, session }, "tunnel failed");
        });
    },
  });

  // A bug in here must never take the app down with it (DESIGN §9): log it and carry on.
  process.on("uncaughtException", (err) => logger.error({ err: err.stack ?? err.message }, "internal error"));
  process.on("unhandledRejection", (err) => logger.error({ err: String(err) }, "internal error"));
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => supervisor.signal(signal));
  link.start();

  let timer: NodeJS.Timeout | undefined;
  if (!settings.serverRequired) {
    timer = setTimeout(() => {
      logger.warn(
        { address: target.address, waitedMs: settings.startupTimeoutMs },
        "no configuration from the server yet: starting the app without it (it applies when the server answers)",
      );
      firstConfig(undefined);
    }, settings.startupTimeoutMs);
  }
  const initial = await Promise.race([ready, supervisor.done.then(() => "ended" as const)]);
  if (timer) clearTimeout(timer);
  if (initial !== "ended") supervisor.start(initial);

  const code = await supervisor.done;
  await link.stop(EXIT_FLUSH_MS, () => buffer.bytes).catch(() => {});
  // Everything the app wrote is out before the caller exits the process.
  await Promise.all(Object.values(out).map((s) => new Promise((resolve) => s.write("", resolve))));
  return code;
}

/**
 * This build's versions, or the ones of the release WAYPOINT_EMULATE_VERSION
 * names (tests and fleet simulations); the catalog code is loaded only then.
 */
async function versionInfo(env: NodeJS.ProcessEnv, logger: EntrypointLogger): Promise<VersionInfo> {
  if (!env.WAYPOINT_EMULATE_VERSION) return BUILD_VERSION_INFO;
  try {
    const { resolveVersionInfo } = await import("../client/identity.js");
    return resolveVersionInfo({}, env);
  } catch (err) {
    logger.error(
      { err: (err as Error).message },
      "cannot emulate the requested version: advertising this build's",
    );
    return BUILD_VERSION_INFO;
  }
}
