import { AppError } from "../protocol/errors.js";
import { currentContext, loadContext } from "./contexts.js";

export const DEFAULT_SERVER_ADDR = "127.0.0.1:9701";

/** How to reach a server. */
export interface ConnectionSettings {
  readonly address: string;
  readonly token?: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
  /** Where the address came from: "flag", "env", "context NAME" or "default". */
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
 * Resolves connection settings field by field with the precedence flags >
 * environment (WAYPOINT_SERVER_ADDR, WAYPOINT_SERVER_TOKEN,
 * WAYPOINT_SERVER_TLS, WAYPOINT_SERVER_TLS_SKIP_VERIFY) > the named or current
 * context > defaults (DESIGN §7).
 */
export function resolveSettings(
  flags: ConnectionFlags,
  env: NodeJS.ProcessEnv,
  configDir: string,
): ConnectionSettings {
  const ctx = flags.context ? loadContext(configDir, flags.context) : currentContext(configDir);
  const envBool = (name: string) => {
    const v = env[name];
    if (v === undefined || v === "") return undefined;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    throw new AppError("CONFIG_INVALID", `${name}=${JSON.stringify(v)} is not a boolean (use true or false)`);
  };
  const pick = <T>(
    flag: T | undefined,
    fromEnv: T | undefined,
    fromCtx: T | undefined,
    sourceOf: string[],
  ) => {
    if (flag !== undefined) return { v: flag, s: sourceOf[0]! };
    if (fromEnv !== undefined) return { v: fromEnv, s: sourceOf[1]! };
    if (fromCtx !== undefined) return { v: fromCtx, s: sourceOf[2]! };
    return undefined;
  };
  const ctxLabel = ctx ? `context ${ctx.name}` : "context";
  const address = pick(flags.serverAddr, env.WAYPOINT_SERVER_ADDR || undefined, ctx?.address, [
    "flag",
    "env",
    ctxLabel,
  ]);
  const token = pick(flags.token, env.WAYPOINT_SERVER_TOKEN || undefined, ctx?.token, [
    "flag",
    "env",
    ctxLabel,
  ]);
  const tls = pick(flags.tls, envBool("WAYPOINT_SERVER_TLS"), ctx?.tls, ["flag", "env", ctxLabel]);
  const skip = pick(flags.tlsSkipVerify, envBool("WAYPOINT_SERVER_TLS_SKIP_VERIFY"), ctx?.tlsSkipVerify, [
    "flag",
    "env",
    ctxLabel,
  ]);
  return {
    address: address?.v ?? DEFAULT_SERVER_ADDR,
    ...(token ? { token: token.v } : {}),
    tls: tls?.v ?? false,
    tlsSkipVerify: skip?.v ?? false,
    source: address?.s ?? "default",
  };
}
