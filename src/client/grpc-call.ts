import * as grpc from "@grpc/grpc-js";
import { HEADERS } from "../protocol/headers.js";
import type { ConnectionSettings } from "./settings.js";

/** Largest message a client accepts (the server's own limit is 4 MiB). */
export const MAX_RECEIVE_MESSAGE_BYTES = 16 * 1024 * 1024;

/** TLS (optionally without verifying the server) or plain text, as the settings say. */
export function channelCredentials(settings: ConnectionSettings): grpc.ChannelCredentials {
  return settings.tls
    ? grpc.credentials.createSsl(
        null,
        null,
        null,
        settings.tlsSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
      )
    : grpc.credentials.createInsecure();
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
