import { randomBytes } from "node:crypto";
import type * as grpc from "@grpc/grpc-js";
import type { EntrypointTunnelRequest__Output } from "../../gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { EntrypointTunnelResponse } from "../../gen/waypoint/v1/EntrypointTunnelResponse.js";
import { AppError } from "../../protocol/errors.js";
import type { ConnectedInstance, EntrypointHub } from "../runtime/entrypoint-hub.js";

export type EntrypointTunnelCall = grpc.ServerDuplexStream<
  EntrypointTunnelRequest__Output,
  EntrypointTunnelResponse
>;

/** How long an entrypoint has to open EntrypointTunnel after the notice. */
export const TUNNEL_OPEN_TIMEOUT_MS = 10_000;

/** A tunnel the instance opened, and how to tell it to drop the tunnel when the client went away. */
export interface OpenTunnel {
  readonly call: EntrypointTunnelCall;
  /** Sent on the config stream: the tunnel itself may be held back by flow control. */
  cancel(): void;
}

interface Pending {
  readonly instance: string;
  readonly deployment: string;
  readonly opened: (call: EntrypointTunnelCall) => void;
}

/**
 * Pairs a request the URL service took with the EntrypointTunnel stream the instance opens after a
 * TunnelNotice on its config stream, as ExecBroker does for exec sessions.
 */
export class TunnelBroker {
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly deps: { readonly hub: EntrypointHub; readonly openTimeoutMs?: number }) {}

  /** Asks `conn` to open a tunnel; resolves with its stream, rejects when it does not come. */
  open(conn: ConnectedInstance, signal: AbortSignal): Promise<OpenTunnel> {
    const session = randomBytes(16).toString("hex");
    const timeoutMs = this.deps.openTimeoutMs ?? TUNNEL_OPEN_TIMEOUT_MS;
    return new Promise<OpenTunnel>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        this.pending.delete(session);
        unwatch();
        signal.removeEventListener("abort", onAbort);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new AppError(
            "INSTANCE_DISCONNECTED",
            `instance ${conn.instance} did not open the tunnel within ${Math.round(timeoutMs / 1000)} s`,
          ),
        );
      }, timeoutMs);
      const unwatch = this.deps.hub.onChange((id, connected) => {
        if (id !== conn.instance || connected) return;
        cleanup();
        reject(new AppError("INSTANCE_DISCONNECTED", `instance ${conn.instance} disconnected`));
      });
      const onAbort = () => {
        cleanup();
        reject(new AppError("INTERRUPTED", "the client went away before the tunnel opened"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.pending.set(session, {
        instance: conn.instance,
        deployment: conn.deployment,
        opened: (call) => {
          cleanup();
          resolve({
            call,
            cancel: () => {
              this.deps.hub.send(conn, { config: [], tunnel: { session, cancel: true }, hasConfig: false });
            },
          });
        },
      });
      if (!this.deps.hub.send(conn, { config: [], tunnel: { session }, hasConfig: false })) {
        cleanup();
        reject(new AppError("INSTANCE_NOT_CONNECTED", `instance ${conn.instance} is not connected`));
      }
    });
  }

  /** The entrypoint's side: its first message was `open`; pairs it or refuses. */
  accept(
    call: EntrypointTunnelCall,
    open: { instanceId: string; session: string },
    deployment: string,
  ): void {
    const p = this.pending.get(open.session);
    if (!p) throw new AppError("NOT_FOUND", "no tunnel is waiting under this session id");
    if (p.deployment !== deployment || p.instance !== open.instanceId) {
      throw new AppError("PERMISSION_DENIED", "this tunnel is for another instance");
    }
    p.opened(call);
  }
}
