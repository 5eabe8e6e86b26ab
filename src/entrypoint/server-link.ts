import { hostname } from "node:os";
import {
  type EntrypointCall,
  EntrypointConnection,
  type LogStream,
} from "../client/entrypoint-connection.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { AppError } from "../protocol/errors.js";
import type { ClientIdentity } from "../protocol/headers.js";
import { backoffDelay } from "./backoff.js";
import { LogAllowance } from "./log-allowance.js";
import type { LogShipper } from "./log-shipper.js";
import type { EntrypointLogger } from "./logger.js";
import type { EntrypointSettings, ServerTarget } from "./settings.js";
import type { AppConfig } from "./supervisor.js";

/** Refusals that retrying soon cannot fix: logged loudly and retried at the cap. */
const REFUSALS = new Set(["UNAUTHENTICATED", "PERMISSION_DENIED", "FAILED_PRECONDITION", "INVALID_ARGUMENT"]);
/** The same by gRPC status number, for statuses the client maps to no code of its own. */
const REFUSAL_STATUSES = new Set([16, 7, 9, 3]);

function isRefusal(err: AppError): boolean {
  const status = (err.cause as { code?: unknown } | undefined)?.code;
  return REFUSALS.has(err.grpcStatus) || (typeof status === "number" && REFUSAL_STATUSES.has(status));
}

export interface LinkEvents {
  /** A configuration arrived (the first after each registration always does). */
  onConfig(config: AppConfig): void;
  /** The server refused this entrypoint (token, scope or protocol). */
  onRefused(err: AppError): void;
  /** The server asks for an exec session. */
  onExec(session: string): void;
  /** The URL service has a request for the app, or (cancel) its client went away. */
  onTunnel(session: string, cancel: boolean): void;
}

/**
 * The entrypoint's two long-lived calls, each reconnected on its own with
 * capped, jittered backoff: the config stream (registration, configuration,
 * exec notices) and, once registered, the log stream. Nothing here waits on
 * the child or makes the child wait.
 */
export class ServerLink {
  readonly conn: EntrypointConnection;
  private readonly startedAt = new Date().toISOString();
  private config: EntrypointCall | undefined;
  private logs: LogStream | undefined;
  /** Resolves when the current log stream's call is over. */
  private logsClosed: Promise<void> | undefined;
  private configAttempt = 0;
  private logsAttempt = 0;
  private registered = false;
  /** Whether the server we are registered with paces log streams (its first config message says). */
  private pacesLogs = false;
  /** The number of the last log stream opened (paced streams are numbered). */
  private logStreams = 0;
  private stopped = false;
  private configTimer: NodeJS.Timeout | undefined;
  private logsTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly target: ServerTarget,
    identity: ClientIdentity,
    private readonly instanceId: string,
    private readonly settings: EntrypointSettings,
    private readonly shipper: LogShipper,
    private readonly logger: EntrypointLogger,
    private readonly events: LinkEvents,
  ) {
    this.conn = new EntrypointConnection(
      {
        address: target.address,
        ...(target.token ? { token: target.token } : {}),
        tls: target.tls,
        tlsSkipVerify: target.tlsSkipVerify,
        source: "WAYPOINT_SERVER_ADDR",
      },
      identity,
    );
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  start(): void {
    this.openConfig();
  }

  private openConfig(): void {
    if (this.stopped) return;
    let first = true;
    this.logger.debug(
      { address: this.target.address, attempt: this.configAttempt },
      "connecting to the server",
    );
    this.config = this.conn.config(
      {
        instanceId: this.instanceId,
        deploymentId: this.target.deploymentId,
        hostname: hostname(),
        pid: process.pid,
        startedAt: this.startedAt,
        execDisabled: this.settings.execDisabled,
      },
      (m) => {
        try {
          if (first) {
            first = false;
            this.registered = true;
            this.pacesLogs = m.pacesLogs;
            this.configAttempt = 0;
            this.logger.info(
              { address: this.target.address, instance: this.instanceId },
              "registered with the server",
            );
            this.openLogs();
          }
          this.handle(m);
        } catch (err) {
          this.logger.error({ err: (err as Error).message }, "cannot handle a message from the server");
        }
      },
      (err) => this.configEnded(err),
    );
  }

  private handle(m: EntrypointConfigResponse__Output): void {
    if (m.hasConfig) {
      const config = new Map<string, string>();
      for (const v of m.config) config.set(v.name, v.value);
      this.logger.debug({ vars: config.size }, "configuration received");
      this.events.onConfig(config);
    }
    if (m.exec?.session) this.events.onExec(m.exec.session);
    if (m.tunnel?.session) this.events.onTunnel(m.tunnel.session, m.tunnel.cancel);
    if (m.logCredit) this.shipper.credit(m.logCredit.stream, m.logCredit.limit);
  }

  private configEnded(err: AppError | undefined): void {
    this.config = undefined;
    this.registered = false;
    if (this.stopped) return;
    this.closeLogs();
    let delay: number;
    if (err && isRefusal(err)) {
      this.logger.error(
        { code: err.code, err: err.message, hint: err.hint, retryInMs: this.settings.retryMaxMs },
        "the server refused this entrypoint: the app runs without configuration, logs and exec until it is accepted",
      );
      this.events.onRefused(err);
      // At the cap, with some jitter so a refused fleet does not retry in step.
      const cap = this.settings.retryMaxMs;
      delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    } else {
      delay = backoffDelay(this.configAttempt, this.settings.retryBaseMs, this.settings.retryMaxMs);
      this.configAttempt += 1;
      const fields = {
        err: err?.message ?? "the server ended the stream",
        ...(err ? { hint: err.hint } : {}),
        retryInMs: delay,
      };
      // The first failure in a row is worth a warning; the rest of the outage is debug noise.
      if (this.configAttempt === 1)
        this.logger.warn(fields, "lost the server connection; retrying in the background");
      else this.logger.debug(fields, "server still unreachable");
    }
    this.configTimer = setTimeout(() => {
      this.configTimer = undefined;
      this.openConfig();
    }, delay);
  }

  private openLogs(): void {
    if (this.stopped || this.logs || !this.registered) return;
    let closed!: () => void;
    this.logsClosed = new Promise<void>((r) => (closed = r));
    const stream = this.conn.logs(
      () => this.shipper.drained(),
      (err) => {
        closed();
        if (this.logs !== stream) return;
        this.logs = undefined;
        this.shipper.detach();
        if (this.stopped) return;
        if (err) this.logger.warn({ err: err.message }, "the log stream failed");
        // Reopened on its own schedule while the config stream stays up; after it, on registration.
        if (!this.registered) return;
        const delay = backoffDelay(this.logsAttempt, this.settings.retryBaseMs, this.settings.retryMaxMs);
        this.logsAttempt += 1;
        this.logsTimer = setTimeout(() => {
          this.logsTimer = undefined;
          this.openLogs();
        }, delay);
      },
    );
    this.logs = stream;
    this.shipper.attach(stream, this.pacesLogs ? new LogAllowance(++this.logStreams) : undefined);
    this.logsAttempt = 0;
  }

  private closeLogs(): void {
    if (this.logsTimer) clearTimeout(this.logsTimer);
    this.logsTimer = undefined;
    const logs = this.logs;
    this.logs = undefined;
    this.shipper.detach();
    logs?.cancel();
  }

  /**
   * Ships what is buffered, ends the log stream and waits for the server to
   * take it, at most `timeoutMs` in all; then closes everything.
   */
  async stop(timeoutMs: number, pending: () => number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const logs = this.logs;
    const closed = this.logsClosed;
    if (logs && closed && this.registered) {
      this.shipper.flush();
      while (pending() > 0 && this.logs === logs && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
      logs.end();
      await Promise.race([
        closed,
        new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now())).unref()),
      ]);
    }
    this.stopped = true;
    if (this.configTimer) clearTimeout(this.configTimer);
    if (this.logsTimer) clearTimeout(this.logsTimer);
    this.config?.cancel();
    this.logs?.cancel();
    this.conn.close();
  }
}
