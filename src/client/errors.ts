import type { ServiceError } from "@grpc/grpc-js";
import { AppError, ERROR_CODES, type ErrorCode } from "../protocol/errors.js";

/**
 * gRPC status codes (grpc/doc/statuscodes.md). Spelled out here so that
 * reading an error does not load grpc-js: the entrypoint runs without it.
 */
export const STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
const status = STATUS;

const BY_STATUS: Partial<Record<number, ErrorCode>> = {
  [status.UNAUTHENTICATED]: "UNAUTHENTICATED",
  [status.PERMISSION_DENIED]: "PERMISSION_DENIED",
  [status.NOT_FOUND]: "NOT_FOUND",
  [status.ALREADY_EXISTS]: "ALREADY_EXISTS",
  [status.INVALID_ARGUMENT]: "INVALID_ARGUMENT",
  [status.UNAVAILABLE]: "UNAVAILABLE",
  [status.DEADLINE_EXCEEDED]: "UNAVAILABLE",
};

/**
 * Turns a gRPC error into an AppError: the server's own code and hint when it
 * sent them (waypoint-error-code / waypoint-hint trailers), otherwise one
 * derived from the status, with the address for connection failures.
 */
export function fromServiceError(err: unknown, address: string, source?: string): AppError {
  if (err instanceof AppError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e.code !== "number") return new AppError("INTERNAL", String((err as Error)?.message ?? err));
  const sent = e.metadata?.get("waypoint-error-code")[0];
  const hint = e.metadata?.get("waypoint-hint")[0];
  if (typeof sent === "string" && Object.hasOwn(ERROR_CODES, sent)) {
    return new AppError(
      sent as ErrorCode,
      e.details ?? "",
      typeof hint === "string" ? { hint, cause: err } : { cause: err },
    );
  }
  if (e.code === status.UNAVAILABLE || e.code === status.DEADLINE_EXCEEDED) {
    const why =
      e.code === status.DEADLINE_EXCEEDED ? "no answer before the deadline" : plainReason(e.details ?? "");
    return new AppError(
      "UNAVAILABLE",
      `cannot reach the server at ${address}${source ? ` (${source})` : ""}: ${why}`,
      {
        cause: err,
      },
    );
  }
  if (e.code === status.UNIMPLEMENTED) {
    return new AppError(
      "SERVER_OUTDATED",
      `the server at ${address} does not know this call (${e.details || "unimplemented"}): it runs an older release than this client`,
      { cause: err },
    );
  }
  return new AppError(BY_STATUS[e.code] ?? "INTERNAL", e.details || `server error (gRPC status ${e.code})`, {
    cause: err,
  });
}

/** The errno behind grpc-js's "No connection established. Last error: …" text, in words. */
function plainReason(details: string): string {
  const errno = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)\b/.exec(
    details,
  )?.[1];
  const words: Record<string, string> = {
    ECONNREFUSED: "connection refused (is the server running?)",
    ECONNRESET: "the connection was reset (TLS on one side only?)",
    EHOSTUNREACH: "host unreachable",
    ENETUNREACH: "network unreachable",
    ETIMEDOUT: "connection timed out",
    ENOTFOUND: "unknown host name",
    EAI_AGAIN: "host name lookup failed",
  };
  if (errno) return words[errno] ?? errno;
  return details || "unavailable";
}
