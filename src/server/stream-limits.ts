import { AppError } from "../protocol/errors.js";
import type { ServerLogger } from "./logger.js";

/**
 * Streaming calls open at once, counted per token and per client connection (see ARCHITECTURE.md,
 * "Limits"). The per-token limit bounds what one token can hold, and is large because every instance
 * of a deployment shares its deployment's token; the per-connection limit bounds one process (one
 * entrypoint holds its config and log streams, its exec sessions and up to
 * WAYPOINT_CEB_URL_MAX_REQUESTS URL tunnels on one HTTP/2 connection).
 */
export class StreamLimits {
  private readonly byToken = new Map<string, number>();
  private readonly byConnection = new Map<string, number>();
  /** Keys refused since they were last below their limit: one warning per episode. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly limits: { readonly perToken: number; readonly perConnection: number },
    private readonly logger: ServerLogger,
  ) {}

  /**
   * Counts one more stream for `tokenId` (absent for calls without a token) on `connection` (the
   * grpc-js peer, address and port), or throws TOO_MANY_STREAMS. The returned function gives it back;
   * calling it again does nothing.
   */
  acquire(tokenId: string | undefined, connection: string): () => void {
    const onToken = tokenId === undefined ? 0 : (this.byToken.get(tokenId) ?? 0);
    const onConnection = this.byConnection.get(connection) ?? 0;
    if (tokenId !== undefined && onToken >= this.limits.perToken) {
      this.refuse(`token:${tokenId}`, { tokenId, limit: this.limits.perToken }, "token");
      throw new AppError(
        "TOO_MANY_STREAMS",
        `this token already has ${onToken} streaming calls open, the server's limit per token (-max-streams-per-token=${this.limits.perToken})`,
        {
          hint: "Every instance of a deployment shares its deployment's token, and each holds a few streams (config, logs, exec sessions, URL tunnels). Close streams that are no longer needed, or raise -max-streams-per-token on the server.",
        },
      );
    }
    if (onConnection >= this.limits.perConnection) {
      this.refuse(`connection:${connection}`, { connection, limit: this.limits.perConnection }, "connection");
      throw new AppError(
        "TOO_MANY_STREAMS",
        `this connection already has ${onConnection} streaming calls open, the server's limit per connection (-max-streams-per-connection=${this.limits.perConnection})`,
        {
          hint: "One process holds that many streams at once: close those it no longer needs, or raise -max-streams-per-connection on the server.",
        },
      );
    }
    if (tokenId !== undefined) this.byToken.set(tokenId, onToken + 1);
    this.byConnection.set(connection, onConnection + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (tokenId !== undefined) this.drop(this.byToken, tokenId, `token:${tokenId}`);
      this.drop(this.byConnection, connection, `connection:${connection}`);
    };
  }

  /** Streams open now under `tokenId` (for tests and status). */
  openFor(tokenId: string): number {
    return this.byToken.get(tokenId) ?? 0;
  }

  private drop(counts: Map<string, number>, key: string, episode: string): void {
    const n = (counts.get(key) ?? 1) - 1;
    if (n <= 0) counts.delete(key);
    else counts.set(key, n);
    this.warned.delete(episode);
  }

  private refuse(episode: string, fields: Record<string, unknown>, what: string): void {
    if (this.warned.has(episode)) return;
    this.warned.add(episode);
    this.logger.warn(fields, `streaming call refused: the ${what} is at its limit of open streams`);
  }
}
