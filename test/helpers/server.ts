import { join } from "node:path";
import { Writable } from "node:stream";
import type { ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection, type ExecOptions } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import type { ClientKind } from "../../src/protocol/headers.js";
import type { VersionInfo } from "../../src/protocol/version-info.js";
import type { ServerConfigInput } from "../../src/server/config.js";
import { createLogger, type RunningServer, serverConfig, startServer } from "../../src/server/main.js";
import { tempDir } from "./temp.js";

/** Collects a server's log lines (parsed JSON) for assertions. */
export class LogSink extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  readonly raw: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (!line) continue;
      this.raw.push(line);
      try {
        this.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        this.lines.push({ msg: line });
      }
    }
    cb();
  }
}

export interface TestServer {
  readonly server: RunningServer;
  readonly address: string;
  readonly dbPath: string;
  readonly logs: LogSink;
  /** The bootstrapped management token. */
  readonly token: string;
  /** A connection as `kind` with `token` (default: the management token); closed at teardown. */
  connect(opts?: { kind?: ClientKind; id?: string; token?: string | null; info?: VersionInfo }): Connection;
}

/**
 * Starts a real server in-process on 127.0.0.1 port 0 with a fresh database
 * in a temp dir, bootstraps it, and shuts it down at the end of the test.
 */
export async function startTestServer(
  t: ExecutionContext,
  opts: {
    versionInfo?: VersionInfo;
    logLevel?: "trace" | "debug" | "info" | "notice";
    flushMs?: number;
    /** The host's exit hook (startServer's ServerHooks); without it the server cannot exit by itself. */
    onExitRequested?: (code: number) => void;
    /** -job-lease-timeout (default 30s). */
    jobLeaseTimeout?: string;
    /** -listen-url (default 127.0.0.1:0; "off" switches the URL service off). */
    listenUrl?: string;
    /** -url-domain (default localhost). */
    urlDomain?: string;
    /** -url-response-timeout (default 60s). */
    urlResponseTimeout?: string;
    /** Anything else of the server's configuration (limits, say); applied last. */
    config?: Partial<ServerConfigInput>;
  } = {},
): Promise<TestServer> {
  const dir = tempDir(t);
  const dbPath = join(dir, "data.db");
  const logs = new LogSink();
  const logger = createLogger(opts.logLevel ?? "debug", logs);
  const config = serverConfig({
    dbPath,
    listenGrpc: "127.0.0.1:0",
    listenHttp: "127.0.0.1:0",
    listenUrl: opts.listenUrl ?? "127.0.0.1:0",
    ...(opts.urlDomain ? { urlDomain: opts.urlDomain } : {}),
    ...(opts.urlResponseTimeout ? { urlResponseTimeout: opts.urlResponseTimeout } : {}),
    logLevel: opts.logLevel ?? "debug",
    inventoryFlushMs: opts.flushMs ?? 50,
    shutdownGraceMs: 2000,
    versionInfo: opts.versionInfo ?? BUILD_VERSION_INFO,
    ...(opts.jobLeaseTimeout ? { jobLeaseTimeout: opts.jobLeaseTimeout } : {}),
    ...opts.config,
  });
  const server = await startServer(
    config,
    logger,
    opts.onExitRequested ? { onExitRequested: opts.onExitRequested } : {},
  );
  t.teardown(() => server.close());
  const connections: Connection[] = [];
  t.teardown(() => {
    for (const c of connections) c.close();
  });
  const connect: TestServer["connect"] = (c = {}) => {
    const info = c.info ?? opts.versionInfo ?? BUILD_VERSION_INFO;
    const token = c.token === null ? undefined : (c.token ?? bootstrapToken);
    const conn = new Connection(
      {
        address: server.grpcAddress,
        ...(token ? { token } : {}),
        tls: false,
        tlsSkipVerify: false,
        source: "test",
      },
      clientIdentity(c.kind ?? "cli", c.id ?? `test-${c.kind ?? "cli"}`, info),
    );
    connections.push(conn);
    return conn;
  };
  let bootstrapToken = "";
  bootstrapToken = (await connect({ token: null, id: "bootstrapper" }).bootstrap()).token;
  return { server, address: server.grpcAddress, dbPath, logs, token: bootstrapToken, connect };
}

/** Whether the server holds the log line `line` of `app` (one read, not following). */
export function hasLogLine(conn: Connection, app: string, line: string): Promise<boolean> {
  return new Promise((resolve) => {
    let seen = false;
    conn.logs(
      { app },
      (lines) => {
        if (lines.some((l) => l.line === line)) seen = true;
      },
      () => resolve(seen),
    );
  });
}

/** Runs an exec session to its end: the command's exit code and its whole stdout. */
export async function execToEnd(
  conn: Connection,
  opts: ExecOptions,
): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const session = conn.exec(opts, { stdout: (d) => (stdout += d), stderr: () => {} });
  const code = await session.exit;
  return { code, stdout };
}

/** What an entrypoint of `created` needs to reach the server at `address` (as `deployment create` prints it). */
export function entrypointEnvFor(
  address: string,
  created: { readonly token: string; readonly deployment: { readonly id: string } },
): Record<string, string> {
  return {
    WAYPOINT_SERVER_ADDR: address,
    WAYPOINT_CEB_INVITE_TOKEN: created.token,
    WAYPOINT_DEPLOYMENT_ID: created.deployment.id,
  };
}
