import { AppError } from "../protocol/errors.js";

/** A listener that could not bind, said as the operator needs it: which flag, which address, why. */
export function bindError(err: Error, address: string, flag: string): AppError {
  const text = `${(err as NodeJS.ErrnoException).code ?? ""} ${err.message}`;
  if (/EADDRINUSE|address already in use/i.test(text)) {
    return new AppError(
      "PORT_IN_USE",
      `cannot listen on ${address} (${flag}): the address is already in use`,
    );
  }
  if (/EACCES|permission denied/i.test(text)) {
    return new AppError("PORT_IN_USE", `cannot listen on ${address} (${flag}): permission denied`, {
      hint: "Ports below 1024 need privileges; pick a higher port.",
    });
  }
  if (/EADDRNOTAVAIL|cannot assign requested address/i.test(text)) {
    return new AppError(
      "STARTUP_FAILED",
      `cannot listen on ${address} (${flag}): no such address on this machine`,
      {
        hint: "Use an address of one of this machine's interfaces, e.g. 127.0.0.1 or 0.0.0.0.",
      },
    );
  }
  return new AppError("STARTUP_FAILED", `cannot listen on ${address} (${flag}): ${err.message}`);
}
