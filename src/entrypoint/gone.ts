/**
 * Error codes of a write to stdout or stderr that mean its reader is gone for good (a closed pipe):
 * nothing more is written there. Others (a full disk under a redirected stdout, say) may pass, so
 * writing goes on.
 */
export const GONE_CODES: ReadonlySet<string> = new Set(["EPIPE", "ECONNRESET", "ERR_STREAM_DESTROYED"]);
