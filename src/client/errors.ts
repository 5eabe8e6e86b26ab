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
export function fromServiceError(
  err: unknown,
  address: string,
  source?: string,
  /** Whether the call was made over TLS, when known (it tells the causes of a closed connection apart). */
  tls?: boolean,
): AppError {
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
    const problem = e.code === status.UNAVAILABLE ? tlsProblem(e.details ?? "", tls) : undefined;
    const why =
      e.code === status.DEADLINE_EXCEEDED
        ? "no answer before the deadline"
        : (problem?.why ?? plainReason(e.details ?? ""));
    return new AppError(
      "UNAVAILABLE",
      `cannot reach the server at ${address}${source ? ` (${source})` : ""}: ${why}`,
      problem ? { hint: problem.hint, cause: err } : { cause: err },
    );
  }
  if (e.code === status.RESOURCE_EXHAUSTED) {
    const tooLarge = messageTooLarge(e.details ?? "", address, err);
    if (tooLarge) return tooLarge;
  }
  if (e.code === status.UNIMPLEMENTED) {
    return new AppError(
      "SERVER_OUTDATED",
      `the server at ${address} does not know this call (${e.details || "unimplemented"}): it runs an older release than this client`,
      { cause: err },
    );
  }
  // A code this client does not know (a newer server's) still comes with the server's own hint, which
  // says what to do better than INTERNAL's "this is a bug".
  return new AppError(BY_STATUS[e.code] ?? "INTERNAL", e.details || `server error (gRPC status ${e.code})`, {
    ...(typeof sent === "string" && typeof hint === "string" ? { hint } : {}),
    cause: err,
  });
}

/**
 * grpc-js's own refusals of a message over its limit, which it sends before any waypoint code runs (so
 * without a waypoint-error-code): "Received message larger than max (A vs B)" is the server refusing
 * what this client sent, "Sent message larger than max (A vs. B)" the server unable to send its answer.
 * This client's own receive limit (16 MiB) is never the one hit: the server's limit is at most that.
 */
function messageTooLarge(details: string, address: string, cause: unknown): AppError | undefined {
  const m = /^(Received|Sent) message larger than max \((\d+) vs\.? (\d+)\)/.exec(details);
  if (!m) return undefined;
  const [, dir, size, limit] = m;
  if (dir === "Received") {
    return new AppError(
      "MESSAGE_TOO_LARGE",
      `the server at ${address} refused a message of ${size} bytes: its limit is ${limit} bytes (the server's -max-message-size)`,
      { cause },
    );
  }
  return new AppError(
    "MESSAGE_TOO_LARGE",
    `the server at ${address} could not send its answer of ${size} bytes: its limit is ${limit} bytes (the server's -max-message-size)`,
    {
      hint: "Ask for less at once, or ask the server's operator to raise -max-message-size (at most 16MiB).",
      cause,
    },
  );
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

/** Status details of a connection the server closed before it said anything (no HTTP/2 SETTINGS). */
export const NO_HTTP2 = "the server closed the connection before speaking HTTP/2";

const SKIP_HINT =
  "or skip verification with -server-tls-skip-verify (WAYPOINT_SERVER_TLS_SKIP_VERIFY=true) on a network you trust.";
const TRUST_HINT = `Trust the CA that signed the server's certificate with NODE_EXTRA_CA_CERTS=/path/to/ca.pem, ${SKIP_HINT}`;
/** A self-signed server certificate is its own CA: the file to trust is the certificate itself. */
const TRUST_SELF_SIGNED_HINT =
  "Trust the server's certificate itself with NODE_EXTRA_CA_CERTS=/path/to/cert.pem (a server started with " +
  "-tls-self-signed logs the path of its tls-cert.pem and its SHA-256 when it starts: copy that file and " +
  `compare the fingerprint), ${SKIP_HINT}`;

/**
 * A failed TLS handshake, in words, with what to do about it: Node's
 * certificate errors (their codes or their messages, which is all grpc-js
 * passes on) and the two ways of speaking TLS to one side only.
 */
export function tlsProblem(raw: string, tls?: boolean): { why: string; hint: string } | undefined {
  const has = (...words: string[]) => words.some((w) => raw.includes(w));
  const details = lastError(raw);
  // "self-signed certificate in certificate chain" is an untrusted root CA: the next case.
  const inChain = has("SELF_SIGNED_CERT_IN_CHAIN", "in certificate chain");
  if (!inChain && has("DEPTH_ZERO_SELF_SIGNED_CERT", "self-signed certificate", "self signed certificate"))
    return {
      why: `TLS: the server's certificate is self-signed and not trusted here (${details})`,
      hint: TRUST_SELF_SIGNED_HINT,
    };
  if (
    inChain ||
    has(
      "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      "UNABLE_TO_GET_ISSUER_CERT",
      "unable to verify the first certificate",
      "unable to get local issuer certificate",
      "unable to get issuer certificate",
    )
  )
    return {
      why: `TLS: the server's certificate was issued by a CA not trusted here (${details})`,
      hint: `${TRUST_HINT} If the server has an intermediate CA, give -tls-cert-file the full chain.`,
    };
  if (
    has("CERT_HAS_EXPIRED", "certificate has expired", "CERT_NOT_YET_VALID", "certificate is not yet valid")
  )
    return {
      why: `TLS: the server's certificate is outside its validity dates (${details})`,
      hint: "Renew the server's certificate (or check the clocks of both machines), then restart the server with it.",
    };
  if (has("ERR_TLS_CERT_ALTNAME_INVALID", "does not match certificate's altnames"))
    return {
      why: `TLS: the server's certificate does not name the address used to reach it (${details})`,
      hint:
        "Reach the server by a name or IP its certificate lists (subjectAltName), or reissue the certificate with " +
        "that address (a server started with -tls-self-signed makes a new one when given -tls-san=ADDRESS).",
    };
  // grpc-js says "Failed to connect" when the connection closed before the server's SETTINGS.
  if (has(NO_HTTP2, "Last error: Failed to connect")) {
    const listener =
      "check that the address names the server's gRPC listener (-listen-grpc) and that the server is up";
    if (tls === true)
      return {
        why: `${NO_HTTP2} (not the server's gRPC listener, or a server shutting down?)`,
        hint: `Over TLS as well: ${listener}.`,
      };
    return {
      why: `${NO_HTTP2}: a server that serves TLS, reached in plain text?`,
      hint: `If the server was started with -tls-cert-file or -tls-self-signed, set WAYPOINT_SERVER_TLS=true (-server-tls); otherwise ${listener}.`,
    };
  }
  if (has("wrong version number", "packet length too long", "unknown protocol", "WRONG_VERSION_NUMBER"))
    return {
      why: `TLS was used but the server answers in plain text (${details})`,
      hint: "Drop WAYPOINT_SERVER_TLS / -server-tls, or start the server with TLS (-tls-self-signed, or -tls-cert-file and -tls-key-file).",
    };
  return undefined;
}

/**
 * The error inside grpc-js's "No connection established. Last error: Error: …. Resolution note: …"
 * and the reason inside an OpenSSL error string ("…:SSL routines:ssl3_get_record:wrong version number:…").
 */
function lastError(details: string): string {
  const inner =
    /Last error: (?:Error: )?([\s\S]*?)(?:\. Resolution note:[\s\S]*)?$/.exec(details)?.[1] ?? details;
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(inner)?.[1];
  return (ssl ?? inner).trim();
}
