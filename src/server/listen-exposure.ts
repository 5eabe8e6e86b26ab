import { AppError } from "../protocol/errors.js";

/** A host and port to listen on (config.ts's ListenAddress; not imported from there, which imports this). */
interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** One listener of the server, named by its flag. */
export interface NamedListener {
  readonly flag: "-listen-grpc" | "-listen-http" | "-listen-url" | "-listen-entrypoint";
  readonly address: ListenAddress;
}

/**
 * True for hosts only this machine can reach: 127.0.0.0/8, ::1 (also as
 * ::ffff:127.x.y.z) and the name localhost. Every other host, the unspecified
 * 0.0.0.0 and :: included, can be reached from the network; so can names under
 * .localhost, which the system resolver may send to DNS.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, "");
  return (
    h === "localhost" ||
    /^(::ffff:)?127(\.\d{1,3}){3}$/.test(h) ||
    h === "::1" ||
    /^(0{1,4}:){7}0{0,3}1$/.test(h)
  );
}

/** The listeners that would serve plain text to the network (TLS off, a non-loopback host). */
export function exposedListeners(listeners: readonly NamedListener[]): NamedListener[] {
  return listeners.filter((l) => !isLoopbackHost(l.address.host));
}

/**
 * Refuses plain text on a non-loopback address unless the operator said -insecure-plaintext: tokens
 * travel in the `authorization` header of every call, and snapshots over HTTP hold the whole database.
 */
export function checkPlaintextExposure(exposed: readonly NamedListener[], allowed: boolean): void {
  if (exposed.length === 0 || allowed) return;
  const named = exposed.map((l) => `${l.flag}=${formatListen(l.address)}`).join(", ");
  throw new AppError(
    "CONFIG_INVALID",
    `refusing to serve plain text on a non-loopback address (${named}): tokens and data would travel in clear text`,
    {
      hint:
        "Serve TLS with -tls-self-signed (a certificate made and kept in the data dir) or -tls-cert-file and " +
        "-tls-key-file; or listen on 127.0.0.1 only; or, behind a TLS-terminating proxy on a trusted network, " +
        "pass -insecure-plaintext to accept clear text.",
    },
  );
}

function formatListen(a: ListenAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
