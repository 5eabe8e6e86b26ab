import { GONE_CODES } from "./gone.js";
import type { LogLevel } from "./settings.js";

/** pino's level numbers, so the entrypoint's lines read like every other waypoint process's. */
const LEVELS = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  silent: Number.POSITIVE_INFINITY,
} as const;

/** Keys whose values never reach a log line (at the top level and one level down). */
const REDACT = new Set(["token", "authorization"]);

type Fields = Record<string, unknown>;

export interface EntrypointLogger {
  trace(fields: Fields | string, msg?: string): void;
  debug(fields: Fields | string, msg?: string): void;
  info(fields: Fields | string, msg?: string): void;
  warn(fields: Fields | string, msg?: string): void;
  error(fields: Fields | string, msg?: string): void;
  /** A logger whose lines also carry `bindings`. */
  child(bindings: Fields): EntrypointLogger;
}

function redact(fields: Fields): Fields {
  let out: Fields | undefined;
  for (const [k, v] of Object.entries(fields)) {
    let value = v;
    if (REDACT.has(k)) value = "[redacted]";
    else if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const inner = v as Fields;
      if (Object.keys(inner).some((ik) => REDACT.has(ik))) {
        value = Object.fromEntries(
          Object.entries(inner).map(([ik, iv]) => [ik, REDACT.has(ik) ? "[redacted]" : iv]),
        );
      }
    }
    if (value !== v) {
      out ??= { ...fields };
      out[k] = value;
    }
  }
  return out ?? fields;
}

/**
 * The entrypoint's own structured log: JSON lines on stderr (never stdout,
 * which is the child's), named so they can be told from the app's lines,
 * in pino's shape — `{"level":40,"time":"…","pid":…,"name":"waypoint-entrypoint",…,"msg":"…"}`
 * — without pino itself, which would cost every app ~7 MiB of memory
 * (ARCHITECTURE "The entrypoint's transport").
 */
export function createEntrypointLogger(
  level: LogLevel,
  destination: NodeJS.WritableStream = process.stderr,
): EntrypointLogger {
  const threshold = LEVELS[level];
  // Once the reader of stderr went away, the log goes nowhere rather than failing again on every line.
  let broken = false;
  destination.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== undefined && GONE_CODES.has(err.code)) broken = true;
  });
  const make = (bindings: Fields): EntrypointLogger => {
    const at =
      (name: Exclude<LogLevel, "silent">) =>
      (fields: Fields | string, msg?: string): void => {
        const n = LEVELS[name];
        if (n < threshold || broken) return;
        const own = typeof fields === "string" ? {} : redact(fields);
        const text = typeof fields === "string" ? fields : msg;
        let line: string;
        try {
          line = JSON.stringify({
            level: n,
            time: new Date().toISOString(),
            pid: process.pid,
            name: "waypoint-entrypoint",
            ...bindings,
            ...own,
            ...(text !== undefined ? { msg: text } : {}),
          });
        } catch {
          line = JSON.stringify({ level: n, time: new Date().toISOString(), pid: process.pid, msg: text });
        }
        destination.write(`${line}\n`);
      };
    return {
      trace: at("trace"),
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
      child: (more) => make({ ...bindings, ...redact(more) }),
    };
  };
  return make({});
}
