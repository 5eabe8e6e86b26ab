import { AppError } from "../protocol/errors.js";
import { tokenShapeProblem } from "../protocol/tokens.js";
import { type ContextConfig, currentContext, loadContext } from "./contexts.js";

export const DEFAULT_SERVER_ADDR = "127.0.0.1:9701";

/** How to reach a server. */
export interface ConnectionSettings {
  readonly address: string;
  readonly token?: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
  /** Where the address came from, for messages: "flag", "env", "context NAME" or "default". */
  readonly source: string;
}

/** Connection flags a command accepted (all optional). */
export interface ConnectionFlags {
  readonly serverAddr?: string;
  readonly token?: string;
  readonly tls?: boolean;
  readonly tlsSkipVerify?: boolean;
  readonly context?: string;
}

/**
 * Resolves connection settings (DESIGN §7): flags > environment
 * (WAYPOINT_SERVER_ADDR, WAYPOINT_SERVER_TOKEN, WAYPOINT_SERVER_TLS,
 * WAYPOINT_SERVER_TLS_SKIP_VERIFY) > the current context > defaults. A
 * context named with -context is a flag and beats the environment.
 *
 * A context's token and TLS settings travel only with its own address: when
 * the address comes from a flag or the environment, the saved token is never
 * sent there (it belongs to another server).
 */
export function resolveSettings(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  configDir: string,
): ConnectionSettings {
  const settings = resolveUnchecked(flags, env, configDir);
  const problem = settings.token === undefined ? undefined : tokenShapeProblem(settings.token);
  if (problem) {
    // Refused here, before it is sent: grpc-js would reject it with a message that quotes it.
    const from = flags.token
      ? "-server-token"
      : settings.source.startsWith("context ")
        ? `the ${settings.source}`
        : "WAYPOINT_SERVER_TOKEN";
    throw new AppError("UNAUTHENTICATED", `the token from ${from} ${problem}; it was not sent`, {
      hint: "Copy the token again, without quotes or line breaks around it.",
    });
  }
  return settings;
}

function resolveUnchecked(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  configDir: string,
): ConnectionSettings {
  const named = flags.context ? loadContext(configDir, flags.context) : undefined;
  const envAddr = env.WAYPOINT_SERVER_ADDR || undefined;
  const fromContext = (ctx: ContextConfig): ConnectionSettings => ({
    address: ctx.address,
    ...(flags.token ? { token: flags.token } : ctx.token ? { token: ctx.token } : {}),
    tls: flags.tls ?? ctx.tls,
    tlsSkipVerify: flags.tlsSkipVerify ?? ctx.tlsSkipVerify,
    source: `context ${ctx.name}`,
  });
  if (!flags.serverAddr && named) return fromContext(named);
  if (!flags.serverAddr && !envAddr) {
    const current = currentContext(configDir);
    if (current) return fromContext(current);
  }
  const token = flags.token ?? (env.WAYPOINT_SERVER_TOKEN || undefined);
  return {
    address: flags.serverAddr ?? envAddr ?? DEFAULT_SERVER_ADDR,
    ...(token ? { token } : {}),
    tls: flags.tls ?? envBool(env, "WAYPOINT_SERVER_TLS") ?? false,
    tlsSkipVerify: flags.tlsSkipVerify ?? envBool(env, "WAYPOINT_SERVER_TLS_SKIP_VERIFY") ?? false,
    source: flags.serverAddr ? "flag -server-addr" : envAddr ? "WAYPOINT_SERVER_ADDR" : "default",
  };
}

function envBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new AppError("CONFIG_INVALID", `${name}=${JSON.stringify(v)} is not a boolean (use true or false)`);
}
