import { AppError } from "./errors.js";
import { formatRange, type ProtocolFamily, type ProtocolRange } from "./range.js";

/** One side of a negotiation: who it is and the range it speaks. */
export interface Party {
  readonly range: ProtocolRange;
  readonly version: string;
  /** Shown in messages, e.g. "cli", "runner", "server". */
  readonly label: string;
}

export type Negotiation =
  | { readonly ok: true; readonly agreed: number }
  | { readonly ok: false; readonly outdated: "client" | "server"; readonly error: AppError };

/**
 * Negotiates one protocol family (DESIGN §4).
 *
 * client.current < server.min → the client is outdated; server.current <
 * client.min → the server is outdated; otherwise both speak
 * min(client.current, server.current). The error names both ranges and the
 * side that must upgrade.
 */
export function negotiate(family: ProtocolFamily, client: Party, server: Party): Negotiation {
  const both =
    `${client.label} ${client.version} speaks ${family} protocol ${formatRange(client.range)}, ` +
    `${server.label} ${server.version} speaks ${formatRange(server.range)}`;
  if (client.range.current < server.range.min) {
    return {
      ok: false,
      outdated: "client",
      error: new AppError(
        "CLIENT_OUTDATED",
        `${client.label} is outdated: ${both}; upgrade the ${client.label} to a release speaking ${family} protocol ${server.range.min} or newer`,
      ),
    };
  }
  if (server.range.current < client.range.min) {
    return {
      ok: false,
      outdated: "server",
      error: new AppError(
        "SERVER_OUTDATED",
        `${server.label} is outdated: ${both}; upgrade the ${server.label} to a release speaking ${family} protocol ${client.range.min} or newer`,
      ),
    };
  }
  return { ok: true, agreed: Math.min(client.range.current, server.range.current) };
}
