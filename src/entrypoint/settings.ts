/**
 * The entrypoint's configuration, read once from its environment into a
 * frozen object (DESIGN §9). Every default is in DEFAULTS. A malformed value
 * never stops the entrypoint (the app must start whatever happens): it is
 * reported in `problems` and the default is used instead.
 */
import { tokenShapeProblem } from "../protocol/tokens.js";

/** Defaults of the tunables, one table. */
export const DEFAULTS = {
  /** WAYPOINT_CEB_STARTUP_TIMEOUT_MS: how long the child waits for the first configuration (fail open). */
  startupTimeoutMs: 5_000,
  /** WAYPOINT_CEB_RETRY_BASE_MS / WAYPOINT_CEB_RETRY_MAX_MS: reconnect backoff (full jitter). */
  retryBaseMs: 250,
  retryMaxMs: 15_000,
  /** WAYPOINT_CEB_RESTART_GRACE_MS: SIGTERM → SIGKILL of the child's group on a config change. */
  restartGraceMs: 30_000,
  /** WAYPOINT_CEB_CONFIG_QUIET_MS: a burst of config changes is applied after this long without one. */
  configQuietMs: 250,
  /** WAYPOINT_CEB_LOG_BUFFER_BYTES: log bytes kept while the server is away or slow. */
  logBufferBytes: 1024 * 1024,
  /** WAYPOINT_CEB_LOG_LINE_MAX_BYTES: a line longer than this is shipped in pieces. */
  logLineMaxBytes: 64 * 1024,
  /** WAYPOINT_CEB_LOG_FLUSH_MS: how often buffered log lines are shipped. */
  logFlushMs: 100,
  /** WAYPOINT_CEB_LOG_RATE_BYTES: log bytes per second taken for shipping (burst: the buffer size); 0 = no limit. */
  logRateBytes: 4 * 1024 * 1024,
  /** WAYPOINT_CEB_URL_MAX_REQUESTS: URL-service requests carried at once; more get 503 (0 = none at all). */
  urlMaxRequests: 32,
  /** WAYPOINT_CEB_URL_MAX_BUFFER_BYTES: request and response bytes held in the entrypoint at once, all requests together. */
  urlMaxBufferBytes: 4 * 1024 * 1024,
  /** WAYPOINT_CEB_URL_RESPONSE_TIMEOUT_MS: how long the app has to answer a request's head (then 504). */
  urlResponseTimeoutMs: 55_000,
} as const;

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface ServerTarget {
  readonly address: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
  readonly token: string | undefined;
  readonly deploymentId: string;
}

export interface EntrypointSettings {
  /** Undefined: run the child directly, no network at all. */
  readonly server: ServerTarget | undefined;
  /** Why the server is not used, for the debug log. */
  readonly offlineReason: string | undefined;
  readonly execDisabled: boolean;
  readonly serverRequired: boolean;
  readonly logLevel: LogLevel;
  readonly startupTimeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly restartGraceMs: number;
  readonly configQuietMs: number;
  readonly logBufferBytes: number;
  readonly logLineMaxBytes: number;
  readonly logFlushMs: number;
  readonly logRateBytes: number;
  readonly urlMaxRequests: number;
  readonly urlMaxBufferBytes: number;
  readonly urlResponseTimeoutMs: number;
  /** Values that were malformed and replaced by defaults. */
  readonly problems: readonly string[];
}

/** Variables that belong to the entrypoint and never reach the child or an exec session. */
export const PRIVATE_ENV = ["WAYPOINT_CEB_INVITE_TOKEN"] as const;

const NUMBERS = {
  startupTimeoutMs: "WAYPOINT_CEB_STARTUP_TIMEOUT_MS",
  retryBaseMs: "WAYPOINT_CEB_RETRY_BASE_MS",
  retryMaxMs: "WAYPOINT_CEB_RETRY_MAX_MS",
  restartGraceMs: "WAYPOINT_CEB_RESTART_GRACE_MS",
  configQuietMs: "WAYPOINT_CEB_CONFIG_QUIET_MS",
  logBufferBytes: "WAYPOINT_CEB_LOG_BUFFER_BYTES",
  logLineMaxBytes: "WAYPOINT_CEB_LOG_LINE_MAX_BYTES",
  logFlushMs: "WAYPOINT_CEB_LOG_FLUSH_MS",
  logRateBytes: "WAYPOINT_CEB_LOG_RATE_BYTES",
  urlMaxRequests: "WAYPOINT_CEB_URL_MAX_REQUESTS",
  urlMaxBufferBytes: "WAYPOINT_CEB_URL_MAX_BUFFER_BYTES",
  urlResponseTimeoutMs: "WAYPOINT_CEB_URL_RESPONSE_TIMEOUT_MS",
} as const satisfies Record<keyof typeof DEFAULTS, string>;

export function readSettings(env: NodeJS.ProcessEnv): EntrypointSettings {
  const problems: string[] = [];
  const flag = (name: string): boolean => {
    const v = env[name];
    if (v === undefined || v === "") return false;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    if (!/^(1|true|yes|on)$/i.test(v)) problems.push(`${name}=${JSON.stringify(v)} is taken as true`);
    return true;
  };
  const numbers = {} as Record<keyof typeof DEFAULTS, number>;
  for (const [key, name] of Object.entries(NUMBERS) as [keyof typeof DEFAULTS, string][]) {
    const v = env[name];
    numbers[key] = DEFAULTS[key];
    if (v === undefined || v === "") continue;
    const n = Number(v);
    if (/^\d+$/.test(v.trim()) && Number.isSafeInteger(n)) numbers[key] = n;
    else problems.push(`${name}=${JSON.stringify(v)} is not a whole number; using ${DEFAULTS[key]}`);
  }
  if (numbers.retryBaseMs < 1) numbers.retryBaseMs = 1;
  if (numbers.retryMaxMs < numbers.retryBaseMs) numbers.retryMaxMs = numbers.retryBaseMs;
  if (numbers.logLineMaxBytes < 1) numbers.logLineMaxBytes = DEFAULTS.logLineMaxBytes;
  if (numbers.logFlushMs < 1) numbers.logFlushMs = 1;
  if (numbers.urlMaxBufferBytes < 64 * 1024) numbers.urlMaxBufferBytes = 64 * 1024;
  if (numbers.urlResponseTimeoutMs < 1) numbers.urlResponseTimeoutMs = 1;

  const rawLevel = (env.WAYPOINT_LOG_LEVEL ?? "").toLowerCase();
  let logLevel: LogLevel = "warn";
  if (rawLevel === "notice") logLevel = "info";
  else if ((LOG_LEVELS as readonly string[]).includes(rawLevel)) logLevel = rawLevel as LogLevel;
  else if (rawLevel !== "")
    problems.push(`WAYPOINT_LOG_LEVEL=${JSON.stringify(rawLevel)} is not a log level`);

  const disabled = flag("WAYPOINT_CEB_DISABLE");
  const address = env.WAYPOINT_SERVER_ADDR ?? "";
  let server: ServerTarget | undefined;
  let offlineReason: string | undefined;
  if (disabled) offlineReason = "WAYPOINT_CEB_DISABLE is set";
  else if (address === "") offlineReason = "WAYPOINT_SERVER_ADDR is empty";
  else {
    const token = env.WAYPOINT_CEB_INVITE_TOKEN || undefined;
    const problem = token === undefined ? undefined : tokenShapeProblem(token);
    // Sent anyway (the server refuses it and the app runs on), but said plainly, never quoted.
    if (problem) problems.push(`WAYPOINT_CEB_INVITE_TOKEN ${problem}; the server will refuse it`);
    server = {
      address,
      tls: flag("WAYPOINT_SERVER_TLS"),
      tlsSkipVerify: flag("WAYPOINT_SERVER_TLS_SKIP_VERIFY"),
      token,
      deploymentId: env.WAYPOINT_DEPLOYMENT_ID ?? "",
    };
  }
  return Object.freeze({
    server,
    offlineReason,
    execDisabled: flag("WAYPOINT_CEB_DISABLE_EXEC"),
    serverRequired: flag("WAYPOINT_CEB_SERVER_REQUIRED"),
    logLevel,
    ...numbers,
    problems,
  });
}

/** True when the entrypoint should talk to no server; cheap, so the binary can skip loading grpc. */
export function isOffline(env: NodeJS.ProcessEnv): boolean {
  const disable = env.WAYPOINT_CEB_DISABLE ?? "";
  return (env.WAYPOINT_SERVER_ADDR ?? "") === "" || (disable !== "" && !/^(0|false|no|off)$/i.test(disable));
}
