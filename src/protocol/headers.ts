import { AppError } from "./errors.js";
import { formatRangeText, type ProtocolRange, parseRangeText } from "./range.js";
import { COMPONENT_ID_PATTERN, isCanonicalSemver } from "./validate.js";
import type { VersionInfo } from "./version-info.js";

/** Metadata header names carried by every RPC (DESIGN §4). gRPC lower-cases them. */
export const HEADERS = {
  version: "client-version",
  kind: "client-kind",
  id: "client-id",
  api: "client-api-protocol",
  entrypoint: "client-entrypoint-protocol",
  /** Optional: "true" when the client emulates a catalog release. */
  emulated: "client-emulated",
  authorization: "authorization",
} as const;

export const CLIENT_KINDS = ["cli", "ui", "runner", "entrypoint"] as const;
export type ClientKind = (typeof CLIENT_KINDS)[number];

/** Who is calling, as told by the metadata headers. */
export interface ClientIdentity {
  readonly version: string;
  readonly kind: ClientKind;
  /** Stable per installation (CLI, runner) or per process (entrypoint instance). */
  readonly id: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  readonly emulated: boolean;
}

/** The identity a client of `kind` with `id` presents for the release `info` describes. */
export function clientIdentity(kind: ClientKind, id: string, info: VersionInfo): ClientIdentity {
  return {
    version: info.version,
    kind,
    id,
    api: info.api,
    entrypoint: info.entrypoint,
    emulated: info.emulated,
  };
}

export function encodeClientHeaders(who: ClientIdentity): Record<string, string> {
  const headers: Record<string, string> = {
    [HEADERS.version]: who.version,
    [HEADERS.kind]: who.kind,
    [HEADERS.id]: who.id,
    [HEADERS.api]: formatRangeText(who.api),
    [HEADERS.entrypoint]: formatRangeText(who.entrypoint),
  };
  if (who.emulated) headers[HEADERS.emulated] = "true";
  return headers;
}

/**
 * Reads the identity headers. `get` returns every value sent for a header
 * name. A missing, duplicated or malformed header is rejected with the
 * header's name.
 */
export function decodeClientHeaders(get: (name: string) => readonly unknown[]): ClientIdentity {
  const one = (name: string, required: boolean): string | undefined => {
    const values = get(name);
    if (values.length === 0) {
      if (!required) return undefined;
      throw new AppError("INVALID_HEADER", `missing metadata header ${name}`);
    }
    if (values.length > 1)
      throw new AppError("INVALID_HEADER", `metadata header ${name} was sent ${values.length} times`);
    const v = values[0];
    if (typeof v !== "string") throw new AppError("INVALID_HEADER", `metadata header ${name} must be text`);
    return v;
  };
  const version = one(HEADERS.version, true)!;
  if (!isCanonicalSemver(version)) {
    throw new AppError(
      "INVALID_HEADER",
      `metadata header ${HEADERS.version}: ${JSON.stringify(version)} is not a semantic version`,
    );
  }
  const kind = one(HEADERS.kind, true)!;
  if (!(CLIENT_KINDS as readonly string[]).includes(kind)) {
    throw new AppError(
      "INVALID_HEADER",
      `metadata header ${HEADERS.kind}: ${JSON.stringify(kind)} is not one of ${CLIENT_KINDS.join(", ")}`,
    );
  }
  const id = one(HEADERS.id, true)!;
  if (!COMPONENT_ID_PATTERN.test(id)) {
    throw new AppError(
      "INVALID_HEADER",
      `metadata header ${HEADERS.id}: must be 1-128 letters, digits or . _ : - (got ${JSON.stringify(id.slice(0, 40))})`,
    );
  }
  const api = parseRangeText(one(HEADERS.api, true)!, `metadata header ${HEADERS.api}`);
  const entrypoint = parseRangeText(one(HEADERS.entrypoint, true)!, `metadata header ${HEADERS.entrypoint}`);
  const emulatedText = one(HEADERS.emulated, false);
  if (emulatedText !== undefined && emulatedText !== "true" && emulatedText !== "false") {
    throw new AppError("INVALID_HEADER", `metadata header ${HEADERS.emulated}: expected "true" or "false"`);
  }
  return { version, kind: kind as ClientKind, id, api, entrypoint, emulated: emulatedText === "true" };
}

/** Extracts the token from "Bearer <token>"; undefined when the header is absent. */
export function decodeBearer(get: (name: string) => readonly unknown[]): string | undefined {
  const values = get(HEADERS.authorization);
  if (values.length === 0) return undefined;
  if (values.length > 1)
    throw new AppError(
      "UNAUTHENTICATED",
      `metadata header ${HEADERS.authorization} was sent ${values.length} times`,
    );
  // The auth scheme is case-insensitive (RFC 7235 §2.1): "bearer x" is as good as "Bearer x".
  const m = typeof values[0] === "string" ? /^Bearer ([\x21-\x7e]{1,512})$/i.exec(values[0]) : null;
  if (!m)
    throw new AppError(
      "UNAUTHENTICATED",
      `metadata header ${HEADERS.authorization}: expected "Bearer <token>"`,
    );
  return m[1];
}
