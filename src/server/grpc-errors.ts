import { randomBytes } from "node:crypto";
import { Metadata, type StatusObject, status } from "@grpc/grpc-js";
import { AppError } from "../protocol/errors.js";
import type { ServerLogger } from "./logger.js";

/** Trailing metadata carrying the AppError code and hint, read back by src/client. */
export const ERROR_CODE_HEADER = "waypoint-error-code";
export const ERROR_HINT_HEADER = "waypoint-hint";

/**
 * The one boundary where errors become gRPC statuses. AppErrors go out with
 * their message, code and hint; anything else is logged in full and the
 * client gets only a reference, never SQLite or stack text.
 */
export function toStatus(err: unknown, logger: ServerLogger, path: string): Partial<StatusObject> {
  const metadata = new Metadata();
  if (err instanceof AppError && err.code !== "INTERNAL") {
    metadata.set(ERROR_CODE_HEADER, err.code);
    metadata.set(ERROR_HINT_HEADER, headerSafe(err.hint));
    // A full disk is the operator's to fix, and the client may be a script nobody watches.
    if (err.code === "STORAGE_FULL")
      logger.error({ rpc: path, err: err.cause }, "a write was refused: the disk is full");
    else logger.debug({ rpc: path, code: err.code, msg: err.message }, "call refused");
    return { code: status[err.grpcStatus], details: err.message, metadata };
  }
  const ref = randomBytes(6).toString("hex");
  logger.error({ rpc: path, err, ref }, "internal error");
  metadata.set(ERROR_CODE_HEADER, "INTERNAL");
  metadata.set(ERROR_HINT_HEADER, `This is a bug; the server log has the details under ref=${ref}.`);
  return { code: status.INTERNAL, details: `internal error (ref ${ref})`, metadata };
}

/**
 * Metadata values must be printable ASCII (grpc-js throws otherwise, which
 * would leave the call unanswered): anything else becomes "?" and line
 * breaks become spaces.
 */
export function headerSafe(text: string): string {
  return text.replace(/[\r\n\t]+/g, " ").replace(/[^\x20-\x7e]/g, "?");
}
