import type { Readable } from "node:stream";
import { AppError } from "../../protocol/errors.js";

/**
 * The first message of a client stream. The stream is paused right after it, so nothing that
 * follows is lost before the caller attaches its own "data" listener and resumes it.
 * Rejects when the stream ends, fails or is cancelled first, or when `timeoutMs` passes without it.
 */
export function firstMessage<T>(
  call: Readable & { cancelled?: boolean },
  what: string,
  timeoutMs?: number,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            cleanup();
            reject(
              new AppError(
                "INVALID_ARGUMENT",
                `no first message (${what}) within ${timeoutMs < 1000 ? `${timeoutMs} ms` : `${Math.round(timeoutMs / 1000)} s`}`,
              ),
            );
          }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      call.off("data", onData);
      call.off("end", onEnd);
      call.off("error", onEnd);
      call.off("cancelled", onEnd);
    };
    const onData = (m: T) => {
      call.pause();
      cleanup();
      resolve(m);
    };
    const onEnd = () => {
      cleanup();
      reject(new AppError("INVALID_ARGUMENT", `the stream ended before its first message (${what})`));
    };
    call.on("data", onData);
    call.on("end", onEnd);
    call.on("error", onEnd);
    call.on("cancelled", onEnd);
  });
}
