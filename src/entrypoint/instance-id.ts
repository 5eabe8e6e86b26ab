import { randomBytes } from "node:crypto";

/**
 * A new instance id for this process: `ceb_` and 16 hex digits. It matches
 * isComponentId (letters, digits and `_`) and is stable for the life of the
 * process, across reconnections, so the server sees one instance.
 */
export function newInstanceId(): string {
  return `ceb_${randomBytes(8).toString("hex")}`;
}
