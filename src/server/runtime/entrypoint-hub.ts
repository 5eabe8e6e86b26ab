import type * as grpc from "@grpc/grpc-js";
import type { EntrypointConfigRequest__Output } from "../../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse } from "../../gen/waypoint/v1/EntrypointConfigResponse.js";

export type ConfigStream = grpc.ServerWritableStream<
  EntrypointConfigRequest__Output,
  EntrypointConfigResponse
>;

/** One open EntrypointConfig stream: a connected instance. */
export interface ConnectedInstance {
  readonly instance: string;
  readonly app: string;
  readonly deployment: string;
  readonly execDisabled: boolean;
  readonly stream: ConfigStream;
}

/**
 * The open EntrypointConfig streams, by instance. Being listed here is what
 * "connected" means for instances (ListInstances, ListDeployments, exec).
 * Config pushes and exec notices are written through it.
 */
/** Config messages written per turn of the event loop by `queue`. */
const QUEUE_BATCH = 500;

export class EntrypointHub {
  private readonly byInstance = new Map<string, ConnectedInstance>();
  /** Messages `queue` has yet to write, at most one per stream, in the order they were first queued. */
  private readonly pending = new Map<ConnectedInstance, EntrypointConfigResponse>();
  private scheduled = false;
  private readonly listeners = new Set<(instance: string, connected: boolean) => void>();

  /**
   * Lists `conn` as the instance's stream. A stream already open for the same instance is ended
   * first (the newer registration wins). Returns the function that unlists it (only if it is still
   * the listed one) and reports whether it did.
   */
  attach(conn: ConnectedInstance): () => boolean {
    const previous = this.byInstance.get(conn.instance);
    this.byInstance.set(conn.instance, conn);
    if (previous) endQuietly(previous.stream);
    this.emit(conn.instance, true);
    let done = false;
    return () => {
      if (done) return false;
      done = true;
      if (this.byInstance.get(conn.instance) !== conn) return false;
      this.byInstance.delete(conn.instance);
      this.emit(conn.instance, false);
      return true;
    };
  }

  get(instance: string): ConnectedInstance | undefined {
    return this.byInstance.get(instance);
  }

  isConnected(instance: string): boolean {
    return this.byInstance.has(instance);
  }

  /** Connected instances of one deployment. */
  countByDeployment(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of this.byInstance.values()) counts.set(c.deployment, (counts.get(c.deployment) ?? 0) + 1);
    return counts;
  }

  /** Connected instances, optionally only those of `app`. */
  connected(app?: string): ConnectedInstance[] {
    const all = [...this.byInstance.values()];
    return app === undefined ? all : all.filter((c) => c.app === app);
  }

  /**
   * Ends every instance's config stream (after a live restore: each entrypoint reconnects and is
   * checked against the restored data). Returns how many were ended.
   */
  endAll(): number {
    const all = [...this.byInstance.values()];
    for (const c of all) endQuietly(c.stream);
    return all.length;
  }

  /** Writes `message` to one stream; false when it is not open any more. */
  send(conn: ConnectedInstance, message: EntrypointConfigResponse): boolean {
    if (!isOpen(conn.stream)) return false;
    conn.stream.write(message);
    return true;
  }

  /**
   * Writes `message` to `conn` within a few turns of the event loop, QUEUE_BATCH streams a turn, so
   * that a configuration going out to 10,000 instances does not hold every other call for the
   * whole of it. A message still queued for the stream is replaced by this one, in its place:
   * a stream never gets an older message after a newer one, and gets only the latest of a burst.
   * Returns false when the stream is not open.
   */
  queue(conn: ConnectedInstance, message: EntrypointConfigResponse): boolean {
    if (!isOpen(conn.stream)) return false;
    this.pending.set(conn, message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
    return true;
  }

  private readonly drain = (): void => {
    let n = 0;
    for (const [conn, message] of this.pending) {
      if (n++ >= QUEUE_BATCH) break;
      this.pending.delete(conn);
      this.send(conn, message);
    }
    if (this.pending.size > 0) setImmediate(this.drain);
    else this.scheduled = false;
  };

  /** Called with (instance, connected) whenever an instance connects or disconnects. */
  onChange(listener: (instance: string, connected: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(instance: string, connected: boolean): void {
    for (const l of this.listeners) l(instance, connected);
  }
}

function isOpen(stream: ConfigStream): boolean {
  return !stream.cancelled && !stream.writableEnded && !stream.destroyed;
}

function endQuietly(stream: ConfigStream): void {
  if (!stream.writableEnded && !stream.cancelled) stream.end();
}
