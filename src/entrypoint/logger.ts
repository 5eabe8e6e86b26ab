import pino, { type Logger } from "pino";
import type { LogLevel } from "./settings.js";

/** Keys whose values never reach a log line. */
const REDACT = ["token", "authorization", "*.token", "*.authorization"];

/**
 * The entrypoint's own structured log: JSON lines on stderr (never stdout,
 * which is the child's), named so they can be told from the app's lines.
 */
export function createEntrypointLogger(
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stderr,
): Logger {
  return pino(
    {
      name: "waypoint-entrypoint",
      level,
      redact: { paths: REDACT, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type EntrypointLogger = Logger;
