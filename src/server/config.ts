import { getHeapStatistics } from "node:v8";
import { AppError } from "../protocol/errors.js";
import { parseGoDuration } from "../protocol/inventory.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { checkPlaintextExposure, exposedListeners, type NamedListener } from "./listen-exposure.js";
import type { LogLevel } from "./logger.js";
import { parseSans } from "./tls-names.js";

/** Every default of the server in one table. */
export const SERVER_DEFAULTS = Object.freeze({
  db: "./data.db",
  listenGrpc: "127.0.0.1:9701",
  listenHttp: "127.0.0.1:9702",
  /** The URL service's listener, and the domain its hostnames are under. */
  listenUrl: "127.0.0.1:9703",
  urlDomain: "localhost",
  activeWindow: "168h",
  /** How often recorded calls are written to the inventory tables. */
  inventoryFlushMs: 1000,
  /** How long shutdown waits for in-flight calls before cancelling them. */
  shutdownGraceMs: 10_000,
  /** -max-message-size: the largest gRPC message received or sent (grpc-js's own default). */
  maxMessageSize: "4MiB",
  /**
   * -max-streams-per-token: streaming calls open at once under one token. Generous because every
   * instance of a deployment shares its deployment's token (config + logs + exec each; URL tunnels count
   * per connection only): 100,000 holds a 50,000-instance deployment idle. (10,000 held only 5,000
   * instances, half of the fleet the load bench holds.)
   */
  maxStreamsPerToken: 100_000,
  /** -max-streams-per-connection: streaming calls open at once on one HTTP/2 connection (one process). */
  maxStreamsPerConnection: 1_000,
  /** -auth-failure-limit: failed authentications per address within authFailureWindowMs (0: no limit). */
  authFailureLimit: 10,
  authFailureWindowMs: 60_000,
  /** How long an address that reached the limit is refused, without its token being checked. */
  authFailureCooldownMs: 60_000,
  /** Addresses tracked at once; the oldest go first beyond it (bounded memory under a spread-out flood). */
  authFailureTrackedAddresses: 10_000,
  /** HTTP and URL service: the request head must arrive within this long (slow-header clients are cut). */
  httpHeadersTimeoutMs: 30_000,
  /** A snapshot upload (restore) that sends nothing for this long is abandoned (UPLOAD_STALLED). */
  uploadIdleMs: 60_000,
  /** HTTP and URL service: the largest request head (Node's own default, made explicit). */
  httpMaxHeaderBytes: 16 * 1024,
  /** Log output kept in memory per instance (oldest dropped first): 512 KiB. */
  logBufferBytes: "512KiB",
  /**
   * -log-buffer-total: log output kept in memory for all instances together (the largest buffers give up
   * their oldest chunks first). 256 MiB: every one of 512 instances can fill its 512 KiB, and 10,000
   * flooding instances keep ~26 KiB each (a few hundred lines) instead of the 5 GiB their buffers hold
   * otherwise. When not given it is at least -log-buffer-bytes.
   */
  logBufferTotal: "256MiB",
  /** A job whose runner says nothing about it for this long is taken back (DESIGN §10). */
  jobLeaseTimeout: "30s",
  urlResponseTimeout: "60s",
});

/** Bounds of -log-buffer-bytes. */
const LOG_BUFFER_BOUNDS = { min: 1024, max: 1024 * 1024 * 1024 } as const;

/** Bounds of -log-buffer-total before it is compared with -log-buffer-bytes (it must be at least that). */
const LOG_TOTAL_BOUNDS = { min: LOG_BUFFER_BOUNDS.min, max: 64 * 1024 * 1024 * 1024 } as const;

/**
 * Bounds of -max-message-size. Below: the largest messages waypoint itself sends are 1 MiB chunks
 * (snapshot and restore data, job output) plus a few bytes of framing. Above: this release's clients
 * receive at most 16 MiB (src/client/grpc-call.ts), and the server's send limit is the same value.
 */
export const MAX_MESSAGE_BOUNDS = { min: 2 * 1024 * 1024, max: 16 * 1024 * 1024 } as const;

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/**
 * Where the TLS certificate comes from: the operator's files, or one the server makes in its data dir
 * on first start and keeps (`extraNames`: -tls-san, on top of the names it derives itself).
 */
export type TlsSource =
  | { readonly kind: "files"; readonly certFile: string; readonly keyFile: string }
  | { readonly kind: "self-signed"; readonly extraNames: readonly string[] };

/** Validated, frozen server configuration. Built once by serverConfig(). */
export interface ServerConfig {
  readonly dbPath: string;
  readonly listenGrpc: ListenAddress;
  readonly listenHttp: ListenAddress;
  /** The URL service's listener; absent when it is switched off (-listen-url=off). */
  readonly listenUrl?: ListenAddress;
  /** -listen-entrypoint: a listener for entrypoints only, served by a thread of its own; absent when off. */
  readonly listenEntrypoint?: ListenAddress;
  readonly urlDomain: string;
  /** Absent: every listener serves plain text. */
  readonly tls?: TlsSource;
  /** -insecure-plaintext: plain text on a non-loopback address was asked for (it is refused otherwise). */
  readonly insecurePlaintext: boolean;
  readonly logLevel: LogLevel;
  readonly activeWindowMs: number;
  readonly inventoryFlushMs: number;
  readonly shutdownGraceMs: number;
  /** -max-message-size, in bytes: the gRPC receive and send limit. */
  readonly maxMessageBytes: number;
  /** Streaming calls open at once per token, and per client connection (see ARCHITECTURE.md, Limits). */
  readonly maxStreamsPerToken: number;
  readonly maxStreamsPerConnection: number;
  /** Failed authentications per remote address; `limit` 0 switches the throttle off. */
  readonly authFailures: AuthFailureLimits;
  /** Request-head limits of the HTTP listener and the URL service. */
  readonly httpHeadersTimeoutMs: number;
  /** How long a snapshot upload may send nothing before the restore is abandoned. */
  readonly uploadIdleMs: number;
  readonly httpMaxHeaderBytes: number;
  /** Bytes of log output kept in memory per instance. */
  readonly logBufferBytes: number;
  /** Bytes of log output kept in memory for all instances together; at least logBufferBytes. */
  readonly logBufferTotalBytes: number;
  /** How long a job's lease lasts without word from its runner. */
  readonly jobLeaseMs: number;
  /** -url-response-timeout: how long the URL service waits for an app's response head. */
  readonly urlResponseTimeoutMs: number;
  readonly versionInfo: VersionInfo;
  /** Decrypts an age-encrypted staged restore at start (WAYPOINT_SNAPSHOT_PASSPHRASE). */
  readonly restorePassphrase?: string;
}

export interface AuthFailureLimits {
  /** Failures within `windowMs` that start a cooldown; 0: never. */
  readonly limit: number;
  readonly windowMs: number;
  readonly cooldownMs: number;
  /** Addresses tracked at once. */
  readonly maxTracked: number;
  /**
   * Whether loopback addresses are counted. Off by default: on loopback the "address" is this machine,
   * often a TLS-terminating proxy in front of every client, so one client's stale token would lock all
   * out. Tests turn it on.
   */
  readonly countLoopback: boolean;
}

export interface ServerConfigInput {
  readonly dbPath?: string;
  readonly listenGrpc?: string;
  readonly listenHttp?: string;
  /** "off" switches the URL service off. */
  readonly listenUrl?: string;
  /** Absent or "off": no entrypoint listener of its own. */
  readonly listenEntrypoint?: string;
  readonly urlDomain?: string;
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** -tls-self-signed: make a certificate in the data dir on first start, and reuse it. */
  readonly tlsSelfSigned?: boolean;
  /** -tls-san: more names for the self-signed certificate (each may hold several, comma-separated). */
  readonly tlsSans?: readonly string[];
  /** -insecure-plaintext: allow plain text on non-loopback addresses. */
  readonly insecurePlaintext?: boolean;
  readonly logLevel: LogLevel;
  readonly activeWindow?: string;
  readonly inventoryFlushMs?: number;
  readonly shutdownGraceMs?: number;
  /** Bytes, as a number or text: "524288", "512KiB", "2MiB" (K/M/G are read as KiB/MiB/GiB). */
  readonly logBufferBytes?: number | string;
  /**
   * -log-buffer-total: bytes as for logBufferBytes, at least those and at most 64GiB. Absent: the default,
   * or logBufferBytes when that is larger.
   */
  readonly logBufferTotal?: number | string;
  /** Node's heap limit, for tests; absent: this process's (`v8.getHeapStatistics().heap_size_limit`). */
  readonly heapLimitBytes?: number;
  /** -max-message-size: bytes as for logBufferBytes, 2MiB to 16MiB. */
  readonly maxMessageSize?: number | string;
  readonly maxStreamsPerToken?: number | string;
  readonly maxStreamsPerConnection?: number | string;
  /** -auth-failure-limit; the window, cooldown and table size are for tests (no flags). */
  readonly authFailureLimit?: number | string;
  readonly authFailureWindowMs?: number;
  readonly authFailureCooldownMs?: number;
  readonly authFailureTrackedAddresses?: number;
  /** For tests: count loopback addresses too. */
  readonly authFailureCountLoopback?: boolean;
  /** For tests: the HTTP request-head timeout. */
  readonly httpHeadersTimeoutMs?: number;
  /** For tests (no flag): how long a snapshot upload may send nothing. */
  readonly uploadIdleMs?: number;
  /** A Go duration, e.g. "30s". */
  readonly jobLeaseTimeout?: string;
  readonly urlResponseTimeout?: string;
  readonly versionInfo: VersionInfo;
  readonly restorePassphrase?: string;
}

export function serverConfig(input: ServerConfigInput): ServerConfig {
  const activeWindow = input.activeWindow ?? SERVER_DEFAULTS.activeWindow;
  const activeWindowMs = parseGoDuration(activeWindow);
  if (activeWindowMs === undefined || activeWindowMs <= 0) {
    throw new AppError(
      "CONFIG_INVALID",
      `-active-window: ${JSON.stringify(activeWindow)} is not a duration like 168h or 30m`,
    );
  }
  const lease = input.jobLeaseTimeout ?? SERVER_DEFAULTS.jobLeaseTimeout;
  const jobLeaseMs = parseGoDuration(lease);
  if (jobLeaseMs === undefined || jobLeaseMs < 1000 || jobLeaseMs > 3_600_000) {
    throw new AppError(
      "CONFIG_INVALID",
      `-job-lease-timeout: ${JSON.stringify(lease)} is not a duration between 1s and 1h (e.g. 30s)`,
    );
  }
  const urlTimeout = input.urlResponseTimeout ?? SERVER_DEFAULTS.urlResponseTimeout;
  const urlResponseTimeoutMs = parseGoDuration(urlTimeout);
  if (urlResponseTimeoutMs === undefined || urlResponseTimeoutMs < 1000 || urlResponseTimeoutMs > 3_600_000) {
    throw new AppError(
      "CONFIG_INVALID",
      `-url-response-timeout: ${JSON.stringify(urlTimeout)} is not a duration between 1s and 1h (e.g. 60s)`,
    );
  }
  const tls = tlsSource(input);
  const listenGrpc = parseListen(input.listenGrpc ?? SERVER_DEFAULTS.listenGrpc, "-listen-grpc");
  const listenHttp = parseListen(input.listenHttp ?? SERVER_DEFAULTS.listenHttp, "-listen-http");
  const listenUrl =
    (input.listenUrl ?? SERVER_DEFAULTS.listenUrl) === "off"
      ? undefined
      : parseListen(input.listenUrl ?? SERVER_DEFAULTS.listenUrl, "-listen-url");
  const listenEntrypoint =
    (input.listenEntrypoint ?? "off") === "off"
      ? undefined
      : parseListen(input.listenEntrypoint ?? "", "-listen-entrypoint");
  const insecurePlaintext = input.insecurePlaintext ?? false;
  const logBufferBytes = parseByteSize(
    input.logBufferBytes ?? SERVER_DEFAULTS.logBufferBytes,
    "-log-buffer-bytes",
  );
  const logBufferTotalBytes = logBufferTotal(
    input.logBufferTotal,
    logBufferBytes,
    input.heapLimitBytes ?? getHeapStatistics().heap_size_limit,
  );
  if (!tls) {
    checkPlaintextExposure(
      exposedListeners(
        listenersOf({
          listenGrpc,
          listenHttp,
          ...(listenUrl ? { listenUrl } : {}),
          ...(listenEntrypoint ? { listenEntrypoint } : {}),
        }),
      ),
      insecurePlaintext,
    );
  }
  return Object.freeze({
    dbPath: input.dbPath ?? SERVER_DEFAULTS.db,
    listenGrpc,
    listenHttp,
    ...(listenUrl ? { listenUrl } : {}),
    ...(listenEntrypoint ? { listenEntrypoint } : {}),
    urlDomain: parseDomain(input.urlDomain ?? SERVER_DEFAULTS.urlDomain),
    ...(tls ? { tls } : {}),
    insecurePlaintext,
    logLevel: input.logLevel,
    activeWindowMs,
    inventoryFlushMs: input.inventoryFlushMs ?? SERVER_DEFAULTS.inventoryFlushMs,
    shutdownGraceMs: input.shutdownGraceMs ?? SERVER_DEFAULTS.shutdownGraceMs,
    maxMessageBytes: parseByteSize(
      input.maxMessageSize ?? SERVER_DEFAULTS.maxMessageSize,
      "-max-message-size",
      MAX_MESSAGE_BOUNDS,
    ),
    maxStreamsPerToken: parseCount(
      input.maxStreamsPerToken ?? SERVER_DEFAULTS.maxStreamsPerToken,
      "-max-streams-per-token",
      1,
    ),
    maxStreamsPerConnection: parseCount(
      input.maxStreamsPerConnection ?? SERVER_DEFAULTS.maxStreamsPerConnection,
      "-max-streams-per-connection",
      1,
    ),
    authFailures: Object.freeze({
      limit: parseCount(input.authFailureLimit ?? SERVER_DEFAULTS.authFailureLimit, "-auth-failure-limit", 0),
      windowMs: input.authFailureWindowMs ?? SERVER_DEFAULTS.authFailureWindowMs,
      cooldownMs: input.authFailureCooldownMs ?? SERVER_DEFAULTS.authFailureCooldownMs,
      maxTracked: input.authFailureTrackedAddresses ?? SERVER_DEFAULTS.authFailureTrackedAddresses,
      countLoopback: input.authFailureCountLoopback ?? false,
    }),
    httpHeadersTimeoutMs: input.httpHeadersTimeoutMs ?? SERVER_DEFAULTS.httpHeadersTimeoutMs,
    uploadIdleMs: input.uploadIdleMs ?? SERVER_DEFAULTS.uploadIdleMs,
    httpMaxHeaderBytes: SERVER_DEFAULTS.httpMaxHeaderBytes,
    logBufferBytes,
    logBufferTotalBytes,
    jobLeaseMs,
    urlResponseTimeoutMs,
    versionInfo: input.versionInfo,
    ...(input.restorePassphrase ? { restorePassphrase: input.restorePassphrase } : {}),
  });
}

/**
 * -log-buffer-total in bytes: as given (at least -log-buffer-bytes), else the default raised to the latter, and
 * at most half of Node's heap limit: the log buffers are kept in the heap (LogHub), and a total past the limit
 * would end the server out of memory in a flood, not at start. A default the heap cannot take is lowered to half.
 */
function logBufferTotal(given: number | string | undefined, perInstance: number, heapLimit: number): number {
  const MiB = 1024 ** 2;
  // In whole MiB, as the hint gives it.
  const room = Math.floor(heapLimit / 2 / MiB) * MiB;
  const limitText = sizeText(Math.floor(heapLimit / MiB) * MiB);
  const heapHint = (bytes: number) =>
    `or raise Node's heap limit to twice it: NODE_OPTIONS=--max-old-space-size=${Math.ceil((2 * bytes) / MiB) + 256} (MiB) in the server's environment.`;
  if (perInstance > room)
    throw new AppError(
      "CONFIG_INVALID",
      `-log-buffer-bytes: ${sizeText(perInstance)} is more than half of Node's heap limit (${limitText}), where log output is kept`,
      { hint: `Give -log-buffer-bytes at most ${sizeText(room)}, ${heapHint(perInstance)}` },
    );
  if (given === undefined)
    return Math.max(
      Math.min(parseByteSize(SERVER_DEFAULTS.logBufferTotal, "-log-buffer-total", LOG_TOTAL_BOUNDS), room),
      perInstance,
    );
  const total = parseByteSize(given, "-log-buffer-total", LOG_TOTAL_BOUNDS);
  if (total < perInstance) {
    throw new AppError(
      "CONFIG_INVALID",
      `-log-buffer-total: ${JSON.stringify(String(given))} is less than -log-buffer-bytes (${sizeText(perInstance)}): all instances together must hold at least one instance's buffer`,
      { hint: "Give -log-buffer-total at least -log-buffer-bytes, or a smaller -log-buffer-bytes." },
    );
  }
  if (total > room) {
    throw new AppError(
      "CONFIG_INVALID",
      `-log-buffer-total: ${JSON.stringify(String(given))} is more than half of Node's heap limit (${limitText}), where log output is kept`,
      { hint: `Give -log-buffer-total at most ${sizeText(room)}, ${heapHint(total)}` },
    );
  }
  return total;
}

/** The TLS flags, checked: files (both), self-signed (alone, with its -tls-san), or none. */
function tlsSource(input: ServerConfigInput): TlsSource | undefined {
  const files = Boolean(input.tlsCertFile) || Boolean(input.tlsKeyFile);
  if (input.tlsSelfSigned && files) {
    throw new AppError("USAGE", "-tls-self-signed cannot be combined with -tls-cert-file or -tls-key-file", {
      hint: "Give -tls-cert-file and -tls-key-file to serve your own certificate, or -tls-self-signed alone to have the server make one in its data dir.",
    });
  }
  const sans = input.tlsSans ?? [];
  if (sans.length > 0 && !input.tlsSelfSigned) {
    throw new AppError("USAGE", "-tls-san names go into the certificate -tls-self-signed makes", {
      hint: "Add -tls-self-signed, or put the names into your own certificate (-tls-cert-file).",
    });
  }
  if (input.tlsSelfSigned)
    return Object.freeze({ kind: "self-signed", extraNames: Object.freeze(parseSans(sans)) });
  if (Boolean(input.tlsCertFile) !== Boolean(input.tlsKeyFile)) {
    throw new AppError("CONFIG_INVALID", "-tls-cert-file and -tls-key-file must be given together");
  }
  return input.tlsCertFile && input.tlsKeyFile
    ? Object.freeze({ kind: "files", certFile: input.tlsCertFile, keyFile: input.tlsKeyFile })
    : undefined;
}

/** The server's listeners with their flags (the URL service's only when it is on). */
export function listenersOf(
  config: Pick<ServerConfig, "listenGrpc" | "listenHttp" | "listenUrl" | "listenEntrypoint">,
): NamedListener[] {
  return [
    { flag: "-listen-grpc", address: config.listenGrpc },
    { flag: "-listen-http", address: config.listenHttp },
    ...(config.listenUrl ? [{ flag: "-listen-url" as const, address: config.listenUrl }] : []),
    ...(config.listenEntrypoint
      ? [{ flag: "-listen-entrypoint" as const, address: config.listenEntrypoint }]
      : []),
  ];
}

/**
 * A size in bytes: a number, or text like "524288", "512KiB", "2MiB", "1GiB" (K, M, G alone mean the
 * same), within `bounds` (by default those of -log-buffer-bytes).
 */
export function parseByteSize(
  value: number | string,
  flag: string,
  bounds: { readonly min: number; readonly max: number } = LOG_BUFFER_BOUNDS,
): number {
  const units: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  let bytes = Number.NaN;
  if (typeof value === "number") bytes = value;
  else {
    const m = /^(\d{1,13})\s*(?:([kmg])(?:i?b)?|b)?$/i.exec(value.trim());
    if (m) bytes = Number(m[1]) * units[(m[2] ?? "").toLowerCase()]!;
  }
  if (!Number.isSafeInteger(bytes) || bytes < bounds.min || bytes > bounds.max) {
    throw new AppError(
      "CONFIG_INVALID",
      `${flag}: ${JSON.stringify(String(value))} is not a size between ${sizeText(bounds.min)} and ${sizeText(bounds.max)} (e.g. ${bounds.min}, ${sizeText(bounds.max)})`,
    );
  }
  return bytes;
}

/** 1024 → "1KiB", 4194304 → "4MiB"; other values in bytes. */
export function sizeText(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}`;
}

/** A whole number of at least `min` (at most 1,000,000), as a number or decimal text. */
export function parseCount(value: number | string, flag: string, min: number): number {
  const n =
    typeof value === "number" ? value : /^\d{1,7}$/.test(value.trim()) ? Number(value.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > 1_000_000) {
    throw new AppError(
      "CONFIG_INVALID",
      `${flag}: ${JSON.stringify(String(value))} is not a whole number between ${min} and 1000000`,
    );
  }
  return n;
}

/** "127.0.0.1:9701", "[::1]:9701", "localhost:0" or ":9701" (all interfaces). */
export function parseListen(text: string, flag: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) {
    throw new AppError(
      "CONFIG_INVALID",
      `${flag}: ${JSON.stringify(text)} is not HOST:PORT (e.g. 127.0.0.1:9701)`,
    );
  }
  return { host: m[1] ?? (m[2] || "0.0.0.0"), port };
}

/** -url-domain: one or more DNS labels ("localhost", "apps.example.com"), in lower case. */
export function parseDomain(text: string): string {
  const domain = text.toLowerCase().replace(/\.$/, "");
  const labels = domain.split(".");
  if (domain.length > 200 || !labels.every((l) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(l))) {
    throw new AppError(
      "CONFIG_INVALID",
      `-url-domain: ${JSON.stringify(text)} is not a domain name (e.g. localhost or apps.example.com); apps are served at <app>.<domain>`,
    );
  }
  return domain;
}

export function formatAddress(a: ListenAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
