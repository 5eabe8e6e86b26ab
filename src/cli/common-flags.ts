import { Connection } from "../client/connection.js";
import { contextsDir } from "../client/contexts.js";
import { READ_WINDOW_BYTES } from "../client/grpc-call.js";
import { clientIdentity, installationId, resolveVersionInfo } from "../client/identity.js";
import { type ConnectionSettings, resolveSettings } from "../client/settings.js";
import type { ClientKind } from "../protocol/headers.js";
import type { VersionInfo } from "../protocol/version-info.js";
import type { Io } from "./command.js";
import type { FlagSpec, ParsedFlags } from "./flags.js";

/** Flags every command that talks to a server accepts. */
export const CONNECTION_FLAGS: readonly FlagSpec[] = [
  {
    name: "server-addr",
    type: "string",
    usage: "server gRPC address HOST:PORT",
    env: "WAYPOINT_SERVER_ADDR",
    placeholder: "ADDR",
  },
  {
    name: "server-token",
    type: "string",
    usage: "token to authenticate with",
    env: "WAYPOINT_SERVER_TOKEN",
    placeholder: "TOKEN",
  },
  { name: "server-tls", type: "boolean", usage: "connect with TLS", env: "WAYPOINT_SERVER_TLS" },
  {
    name: "server-tls-skip-verify",
    type: "boolean",
    usage: "with TLS, do not verify the server's certificate",
    env: "WAYPOINT_SERVER_TLS_SKIP_VERIFY",
  },
  {
    name: "context",
    type: "string",
    usage: "use this saved context instead of the current one",
    placeholder: "NAME",
  },
];

/** Flags of every component that can emulate a catalog release (DESIGN §4). */
export const EMULATION_FLAGS: readonly FlagSpec[] = [
  {
    name: "emulate-version",
    type: "string",
    usage: "advertise this catalog release's version and protocol ranges",
    env: "WAYPOINT_EMULATE_VERSION",
    placeholder: "VERSION",
  },
  {
    name: "catalog",
    type: "string",
    usage: "release catalog JSON file",
    env: "WAYPOINT_CATALOG",
    placeholder: "FILE",
  },
];

export function versionInfoFrom(flags: ParsedFlags, io: Io): VersionInfo {
  return resolveVersionInfo(
    {
      ...(flags.string("emulate-version") ? { emulateVersion: flags.string("emulate-version") } : {}),
      ...(flags.string("catalog") ? { catalog: flags.string("catalog") } : {}),
    },
    io.env,
  );
}

/** Connection settings from flags, env and contexts, without connecting (DESIGN §7). */
export function connectionSettings(flags: ParsedFlags, io: Io): ConnectionSettings {
  const bool = (name: string) => (flags.has(name) ? flags.bool(name) : undefined);
  return resolveSettings(
    {
      ...(flags.string("server-addr") ? { serverAddr: flags.string("server-addr") } : {}),
      ...(flags.string("server-token") ? { token: flags.string("server-token") } : {}),
      ...(bool("server-tls") !== undefined ? { tls: bool("server-tls") } : {}),
      ...(bool("server-tls-skip-verify") !== undefined
        ? { tlsSkipVerify: bool("server-tls-skip-verify") }
        : {}),
      ...(flags.string("context") ? { context: flags.string("context") } : {}),
    },
    io.env,
    contextsDir(io.env),
  );
}

/**
 * Opens a connection as this CLI (kind `cli`) from flags, env and contexts. Its receive window is
 * READ_WINDOW_BYTES unless `smallWindow` (a reader that pauses a stream to hold the server back).
 */
export function connect(
  flags: ParsedFlags,
  io: Io,
  kind: ClientKind = "cli",
  opts: { smallWindow?: boolean } = {},
): Connection {
  const settings = connectionSettings(flags, io);
  const info = versionInfoFrom(flags, io);
  return new Connection(
    settings,
    clientIdentity(kind, installationId(contextsDir(io.env)), info),
    opts.smallWindow ? {} : { channel: { "grpc-node.flow_control_window": READ_WINDOW_BYTES } },
  );
}
