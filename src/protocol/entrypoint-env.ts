/**
 * The environment a `waypoint-entrypoint` needs for one deployment (DESIGN §9),
 * and how `deployment create` prints it: `NAME=value` lines a POSIX shell can
 * source (`set -a; . ./app.env; set +a`) and systemd's EnvironmentFile reads.
 */

export interface EntrypointEnvInput {
  /** Where the entrypoints reach the server. */
  readonly address: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
  readonly token: string;
  readonly deployment: string;
}

/** The variables in the order they are printed; TLS ones only when they are on. */
export function entrypointEnv(input: EntrypointEnvInput): Record<string, string> {
  return {
    WAYPOINT_SERVER_ADDR: input.address,
    ...(input.tls ? { WAYPOINT_SERVER_TLS: "true" } : {}),
    ...(input.tls && input.tlsSkipVerify ? { WAYPOINT_SERVER_TLS_SKIP_VERIFY: "true" } : {}),
    WAYPOINT_CEB_INVITE_TOKEN: input.token,
    WAYPOINT_DEPLOYMENT_ID: input.deployment,
  };
}

/** Characters that mean nothing to a shell; anything else is single-quoted. */
const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** `value` as one shell word: bare when it is safe, else in single quotes ('\'' for a quote). */
export function shellQuote(value: string): string {
  if (SHELL_SAFE.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `NAME=value` lines, one per variable. */
export function envLines(env: Readonly<Record<string, string>>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${shellQuote(value)}`);
}

/**
 * The host of a gRPC target: "HOST:PORT", "[::1]:PORT", "dns:///HOST:PORT",
 * "ipv4:HOST:PORT". Undefined for targets it does not understand (unix sockets).
 */
export function targetHost(address: string): string | undefined {
  let rest = address.trim();
  if (rest.startsWith("unix:")) return undefined;
  const scheme = /^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/.exec(rest);
  if (scheme) rest = rest.slice(scheme[0].length);
  const bracketed = /^\[([^\]]+)\](:\d+)?$/.exec(rest);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const colons = rest.split(":").length - 1;
  // A bare IPv6 address has several colons and no port.
  if (colons > 1) return rest.toLowerCase();
  return (colons === 1 ? rest.slice(0, rest.lastIndexOf(":")) : rest).toLowerCase();
}

/**
 * `address` (a gRPC target, as targetHost reads them) with its port replaced by `port`: where the
 * server's entrypoint listener is, seen from the same host name. Undefined for targets without one
 * host (unix sockets, address lists).
 */
export function withPort(address: string, port: number): string | undefined {
  const trimmed = address.trim();
  // A unix socket has no host; a list of addresses (ipv4:a:1,b:2) is not one host.
  if (/^unix(-abstract)?:/.test(trimmed) || trimmed.includes(",")) return undefined;
  const host = targetHost(trimmed);
  if (host === undefined) return undefined;
  const scheme = /^(dns|ipv4|ipv6):(\/\/[^/]*\/)?/.exec(trimmed)?.[0] ?? "";
  const rest = trimmed.slice(scheme.length);
  const bracketed = /^(\[[^\]]+\])(:\d+)?$/.exec(rest);
  if (bracketed) return `${scheme}${bracketed[1]}:${port}`;
  if (rest.split(":").length - 1 > 1) return `${scheme}[${rest}]:${port}`;
  const at = rest.lastIndexOf(":");
  return `${scheme}${at >= 0 ? rest.slice(0, at) : rest}:${port}`;
}

/**
 * True when an entrypoint on another host could not reach `address`: a
 * loopback address (127/8, ::1, localhost) or the unspecified one (0.0.0.0, ::),
 * which is a listen address, not one to connect to.
 */
export function isLocalOnlyAddress(address: string): boolean {
  const host = targetHost(address);
  if (host === undefined) return false;
  return (
    host === "localhost" ||
    host.endsWith(".localhost") ||
    /^127(\.\d{1,3}){3}$/.test(host) ||
    host === "::1" ||
    host === "0:0:0:0:0:0:0:1" ||
    host === "::ffff:127.0.0.1" ||
    host === "0.0.0.0" ||
    host === "::" ||
    host === ""
  );
}
