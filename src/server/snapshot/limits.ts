import { AppError } from "../../protocol/errors.js";
import type { SnapshotLimits } from "./types.js";

/**
 * The size limits a reader applies. Precedence: an explicit option, then
 * WAYPOINT_SNAPSHOT_MAX_BYTES (data.db only), then the defaults. The total
 * decompressed size is capped too (a gzip bomb is refused after at most that
 * many bytes, whatever its members claim): the members' limits plus room for
 * tar headers, padding and end-of-archive records.
 */
export const DEFAULT_LIMITS: SnapshotLimits = Object.freeze({
  maxDbBytes: 16 * 1024 ** 3,
  maxSmallBytes: 1024 ** 2,
});

export const MAX_BYTES_ENV = "WAYPOINT_SNAPSHOT_MAX_BYTES";

/** tar overhead allowed beyond the members: 3 headers, padding, end marker, a record's zero fill. */
const TAR_OVERHEAD = 64 * 1024;

export function resolveLimits(
  limits: Partial<SnapshotLimits> = {},
  env: NodeJS.ProcessEnv = process.env,
): SnapshotLimits {
  return Object.freeze({
    maxDbBytes: limits.maxDbBytes ?? envBytes(env) ?? DEFAULT_LIMITS.maxDbBytes,
    maxSmallBytes: limits.maxSmallBytes ?? DEFAULT_LIMITS.maxSmallBytes,
  });
}

/** The most decompressed bytes a valid archive within `limits` can hold. */
export function maxArchiveBytes(limits: SnapshotLimits): number {
  return limits.maxDbBytes + 2 * limits.maxSmallBytes + TAR_OVERHEAD;
}

function envBytes(env: NodeJS.ProcessEnv): number | undefined {
  const text = env[MAX_BYTES_ENV];
  if (text === undefined || text === "") return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n === 0) {
    throw new AppError(
      "CONFIG_INVALID",
      `${MAX_BYTES_ENV} must be a whole number of bytes greater than 0, not "${text}"`,
    );
  }
  return n;
}
