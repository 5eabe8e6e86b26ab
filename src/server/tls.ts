import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, resolve } from "node:path";
import { createSecureContext } from "node:tls";
import { AppError } from "../protocol/errors.js";
import type { ServerConfig } from "./config.js";
import type { ServerLogger } from "./logger.js";
import { ensureSelfSigned } from "./self-signed.js";
import { LOOPBACK_NAMES, specificHost, uniqueNames } from "./tls-names.js";

/** The server's certificate chain and key, as PEM: every listener (gRPC, HTTP, URL) serves with it. */
export interface TlsPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * The TLS pair the configuration asks for, or undefined for plain text. A
 * self-signed one is made or reused in the data dir (the -db file's dir),
 * which must exist: call with the store open.
 */
export async function resolveTls(config: ServerConfig, logger: ServerLogger): Promise<TlsPair | undefined> {
  const source = config.tls;
  if (!source) return undefined;
  if (source.kind === "files") return loadTlsPair(source);
  const made = await ensureSelfSigned({
    dir: dirname(resolve(config.dbPath)),
    required: selfSignedNames(config),
    hostname: hostname(),
    logger,
  });
  return { cert: made.cert, key: made.key };
}

/**
 * The names a self-signed certificate must cover: the loopback names, each
 * listener's host when it names one interface, `*.<url-domain>` when the URL
 * service is on and the domain has two labels or more (clients refuse a
 * wildcard over one label), and -tls-san.
 */
export function selfSignedNames(config: ServerConfig): string[] {
  const hosts = [config.listenGrpc, config.listenHttp, ...(config.listenUrl ? [config.listenUrl] : [])]
    .map((a) => specificHost(a.host))
    .filter((h): h is string => h !== undefined);
  const wildcard =
    config.listenUrl && config.urlDomain.split(".").length >= 2 ? [`*.${config.urlDomain}`] : [];
  const extra = config.tls?.kind === "self-signed" ? config.tls.extraNames : [];
  return uniqueNames([...LOOPBACK_NAMES, ...hosts, ...wildcard, ...extra]);
}

/** Reads -tls-cert-file and -tls-key-file and checks they make a usable pair. */
function loadTlsPair(files: { readonly certFile: string; readonly keyFile: string }): TlsPair {
  try {
    const pair = { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
    createSecureContext(pair);
    return pair;
  } catch (err) {
    throw new AppError(
      "STARTUP_FAILED",
      `cannot load the TLS certificate or key: ${(err as Error).message}`,
      {
        hint: "Check -tls-cert-file and -tls-key-file: both PEM files, readable by this user, and a matching pair.",
      },
    );
  }
}
