import { createSecureContext } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { HEADERS } from "../protocol/headers.js";
import type { ConnectionSettings } from "./settings.js";

/** Largest message a client accepts (the server's own limit is 4 MiB). */
export const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

/**
 * The HTTP/2 receive window (per stream and per connection) of the CLI's and console's connections.
 * HTTP/2's default of 64 KiB lets a server send 64 KiB before it must wait for the client's window
 * update: the inventory of 10,000 entrypoints (~1.9 MB) took ~30 such round trips, each waiting for
 * a turn of a busy server's event loop. With 4 MiB it goes out at once. `logs -f` keeps the default:
 * it pauses its stream while stdout is stuck, and a small window is what makes the server notice soon.
 */
export const READ_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * TLS (optionally without verifying the server) or plain text, as the settings say.
 *
 * The trust store is Node's own: its bundled roots plus NODE_EXTRA_CA_CERTS, the
 * same store the entrypoint's transport uses, so one setting trusts a private CA
 * for every part. (grpc-js's createSsl would instead take the whole store from
 * GRPC_DEFAULT_SSL_ROOTS_FILE_PATH when that is set, and ignore
 * NODE_EXTRA_CA_CERTS.)
 */
export function channelCredentials(settings: ConnectionSettings): grpc.ChannelCredentials {
  if (!settings.tls) return grpc.credentials.createInsecure();
  quietIpServerNameWarning();
  return grpc.credentials.createFromSecureContext(
    createSecureContext(),
    settings.tlsSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}

let quieted = false;
/**
 * grpc-js sends the target's host as the TLS server name even when it is an IP
 * address, and Node answers that with a DEP0123 deprecation warning on stderr
 * that the operator can do nothing about (the certificate is still checked
 * against the address). Only that warning is dropped.
 */
function quietIpServerNameWarning(): void {
  if (quieted) return;
  quieted = true;
  const emit = process.emitWarning;
  process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
    const [typeOrOptions, code] = rest;
    const c =
      typeof typeOrOptions === "object" && typeOrOptions !== null
        ? (typeOrOptions as { code?: unknown }).code
        : code;
    if (c === "DEP0123") return;
    return (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
}

/** The metadata of one call: the identity headers and, with a token, `authorization: Bearer …`. */
export function callMetadata(
  headers: Readonly<Record<string, string>>,
  token: string | undefined,
): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) md.set(k, v);
  if (token) md.set(HEADERS.authorization, `Bearer ${token}`);
  return md;
}
