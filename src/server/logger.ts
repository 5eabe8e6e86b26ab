import pino, { type Logger } from "pino";
import { AppError } from "../protocol/errors.js";

/**
 * Log levels, most verbose first. `notice` sits between info and warn: the
 * default level, so a headless server says when it is ready and when it
 * stops, and `-v` (info) adds per-call detail.
 */
export const LOG_LEVELS = ["trace", "debug", "info", "notice", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys whose values never reach a log line, wherever they are nested. */
const REDACT = [
  "token",
  "secret",
  "authorization",
  "password",
  "passphrase",
  "*.token",
  "*.secret",
  "*.authorization",
  "*.password",
  "*.passphrase",
  "metadata.authorization",
];

/**
 * Removes bearer tokens from free text that did not pass through pino's redaction (grpc-js's own
 * trace lines, which with GRPC_TRACE=server_call dump each call's headers, authorization included):
 * the credential after "Bearer", and anything shaped like one of our token secrets.
 */
export function scrubTokens(text: string): string {
  return text
    .replace(/(bearer\s+)[^\s"',\]}]+/gi, "$1[redacted]")
    .replace(/\bwp[mrue]_[A-Za-z0-9_-]{16,}/g, "[redacted]");
}

/** `-v` → info, `-vv` → debug, `-vvv` → trace; otherwise WAYPOINT_LOG_LEVEL; otherwise notice. */
export function levelFrom(verbosity: number, envLevel: string | undefined): LogLevel {
  if (verbosity >= 3) return "trace";
  if (verbosity === 2) return "debug";
  if (verbosity === 1) return "info";
  if (envLevel === undefined || envLevel === "") return "notice";
  if ((LOG_LEVELS as readonly string[]).includes(envLevel.toLowerCase()))
    return envLevel.toLowerCase() as LogLevel;
  throw new AppError(
    "CONFIG_INVALID",
    `WAYPOINT_LOG_LEVEL=${JSON.stringify(envLevel)} is not a log level (use one of ${LOG_LEVELS.join(", ")})`,
  );
}

/** A structured logger writing JSON lines to `destination` (stderr by default). */
export function createLogger(
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stderr,
): Logger<"notice"> {
  return pino(
    {
      name: "waypoint",
      level,
      customLevels: { notice: 35 },
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type ServerLogger = Logger<"notice">;
