/**
 * -tls-self-signed: the server's own certificate, made on first start in the
 * data dir and reused after.
 *
 * Lifecycle: `tls-key.pem` (0600) and `tls-cert.pem` (0644) are each written
 * under a temp name, synced and renamed, key first; whatever a crash leaves
 * (a missing file, a key that does not match the certificate) is found at the
 * next start and replaced. A certificate is also replaced when it expires
 * within RENEW_BEFORE_MS or no longer covers a name the configuration asks
 * for; the previous pair is kept as `*.old`. The host's own name is put in
 * when the certificate is made but a later change of it replaces nothing
 * (container hosts change name at every start; clients would lose their
 * trust each time): -tls-san makes a name required.
 *
 * Called with the database's lock held, so no other server writes these files.
 */
import { createPrivateKey, randomBytes, webcrypto, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { fsyncPath, syncDir } from "../durable.js";
import { AppError } from "../protocol/errors.js";
import type { ServerLogger } from "./logger.js";
import { canonicalName, sanNames, uniqueNames } from "./tls-names.js";

export const SELF_SIGNED_CERT = "tls-cert.pem";
export const SELF_SIGNED_KEY = "tls-key.pem";

const DAY_MS = 24 * 60 * 60 * 1000;
const VALIDITY_MS = 365 * DAY_MS;
/** A certificate this close to its end is replaced at start, so it never expires under a running server. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** notBefore is set this far back: a client whose clock is a little behind still accepts a new certificate. */
const BACKDATE_MS = 60 * 60 * 1000;

/** The certificate in use, and what the operator needs to know about it. */
export interface SelfSigned {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
  /** SHA-256 of the certificate (DER), as colon-separated hex. */
  readonly sha256: string;
  readonly names: readonly string[];
  readonly notAfter: Date;
}

export interface SelfSignedOptions {
  /** The data dir, where the files are kept. */
  readonly dir: string;
  /** Names the certificate must cover, canonical (see tls-names.ts). */
  readonly required: readonly string[];
  /** This host's name: put in a new certificate, not required of an existing one. */
  readonly hostname?: string;
  readonly logger: ServerLogger;
  readonly now?: Date;
}

/** Reuses the certificate in `dir` if it still serves, else makes one (keeping any previous as *.old). */
export async function ensureSelfSigned(opts: SelfSignedOptions): Promise<SelfSigned> {
  const now = opts.now ?? new Date();
  const certFile = join(opts.dir, SELF_SIGNED_CERT);
  const keyFile = join(opts.dir, SELF_SIGNED_KEY);
  const found = readExisting(certFile, keyFile);
  // Why what is there is replaced; undefined when there is nothing yet or it is reused.
  let replacing: string | undefined;
  if (found.kind === "usable") {
    const problem = whyReplace(found.x509, opts.required, now);
    if (!problem) {
      const current = describe(certFile, keyFile, found.cert, found.key, found.x509);
      opts.logger.notice(
        { ...logFields(current), reused: true },
        `reusing the self-signed TLS certificate ${certFile}`,
      );
      warnAboutKey(keyFile, opts.logger);
      noteHostname(found.x509, opts.hostname, opts.logger);
      return current;
    }
    replacing = problem;
  } else if (found.kind === "broken") {
    replacing = found.reason;
  }
  const names = uniqueNames([
    ...opts.required,
    ...(opts.hostname && canonicalName(opts.hostname) ? [canonicalName(opts.hostname)!] : []),
  ]);
  const made = await generate(names, now);
  try {
    if (replacing !== undefined) {
      keepOld(certFile, keyFile);
      // A warning, not a notice: every client that trusts the old certificate refuses the new one until
      // it is given the new file.
      opts.logger.warn(
        { cert: certFile, reason: replacing, old: `${certFile}.old` },
        `replacing the self-signed TLS certificate: ${replacing}; the previous files are kept as ${SELF_SIGNED_CERT}.old and ${SELF_SIGNED_KEY}.old. Clients that trust the old certificate (NODE_EXTRA_CA_CERTS) refuse this server until they are given the new ${SELF_SIGNED_CERT}`,
      );
    }
    // Key first: a crash between the two renames leaves a key that does not match the certificate,
    // which the next start replaces.
    writeAtomically(keyFile, made.key, 0o600);
    writeAtomically(certFile, made.cert, 0o644);
    syncDir(opts.dir);
  } catch (err) {
    throw new AppError(
      "STARTUP_FAILED",
      `cannot write the self-signed TLS certificate into ${opts.dir}: ${(err as Error).message}`,
      {
        hint: "Make the data dir writable by this user and check its free space, then start the server again.",
        cause: err,
      },
    );
  }
  const current = describe(certFile, keyFile, made.cert, made.key, new X509Certificate(made.cert));
  opts.logger.notice(
    { ...logFields(current), reused: false },
    `made a self-signed TLS certificate ${certFile}`,
  );
  return current;
}

type Existing =
  | { readonly kind: "none" }
  | { readonly kind: "broken"; readonly reason: string }
  | { readonly kind: "usable"; readonly cert: Buffer; readonly key: Buffer; readonly x509: X509Certificate };

function readExisting(certFile: string, keyFile: string): Existing {
  const cert = readIfThere(certFile);
  const key = readIfThere(keyFile);
  if (!cert && !key) return { kind: "none" };
  if (!cert) return { kind: "broken", reason: `${SELF_SIGNED_CERT} is missing` };
  if (!key) return { kind: "broken", reason: `${SELF_SIGNED_KEY} is missing` };
  try {
    const x509 = new X509Certificate(cert);
    if (!x509.checkPrivateKey(createPrivateKey(key))) {
      return { kind: "broken", reason: `${SELF_SIGNED_KEY} does not belong to ${SELF_SIGNED_CERT}` };
    }
    return { kind: "usable", cert, key, x509 };
  } catch (err) {
    return { kind: "broken", reason: `cannot be read as PEM (${(err as Error).message})` };
  }
}

/** A file's bytes, or undefined when it does not exist; any other failure stops the start. */
function readIfThere(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new AppError("STARTUP_FAILED", `cannot read ${path}: ${(err as Error).message}`, {
      hint: "Run the server as the user who owns the data dir, or remove the file to have a new certificate made.",
    });
  }
}

/** Why a certificate that matches its key is replaced anyway, or undefined to keep it. */
function whyReplace(x509: X509Certificate, required: readonly string[], now: Date): string | undefined {
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() <= now.getTime()) return `it expired on ${notAfter.toISOString()}`;
  if (notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS)
    return `it expires on ${notAfter.toISOString()}, within 30 days`;
  const covered = sanNames(x509.subjectAltName);
  const missing = required.filter((n) => !covered.has(n));
  if (missing.length > 0) return `it does not cover ${missing.join(", ")}`;
  return undefined;
}

function keepOld(certFile: string, keyFile: string): void {
  for (const file of [certFile, keyFile]) if (existsSync(file)) renameSync(file, `${file}.old`);
}

function writeAtomically(path: string, data: string, mode: number): void {
  const partial = `${path}.partial`;
  rmSync(partial, { force: true });
  writeFileSync(partial, data, { mode, flag: "wx" });
  fsyncPath(partial);
  renameSync(partial, path);
}

/** A new key pair (ECDSA P-256) and a certificate for `names`, valid for a year, signed by that key. */
async function generate(names: readonly string[], now: Date): Promise<{ cert: string; key: string }> {
  // Loaded only here, and in this order: @peculiar/x509 needs the Reflect metadata polyfill first.
  await import("reflect-metadata");
  const loaded = await import("@peculiar/x509");
  // A CommonJS package: Node gives its exports both by name and as `default`, the CLI's bundle only as
  // `default`.
  const x509 = loaded.default ?? loaded;
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  const serial = randomBytes(16);
  // A positive INTEGER as RFC 5280 asks, with no leading zero byte (which DER would not allow).
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString("hex"),
    name: [{ CN: ["waypoint-ops server (self-signed)"] }],
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + VALIDITY_MS),
    signingAlgorithm: algorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension(
        names.map((n) => ({ type: isIP(n) ? ("ip" as const) : ("dns" as const), value: n })),
        false,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" }).export({
    type: "pkcs8",
    format: "pem",
  });
  return { cert: cert.toString("pem"), key: String(key) };
}

function describe(
  certFile: string,
  keyFile: string,
  cert: Buffer | string,
  key: Buffer | string,
  x509: X509Certificate,
): SelfSigned {
  return {
    certFile,
    keyFile,
    cert: Buffer.from(cert),
    key: Buffer.from(key),
    sha256: x509.fingerprint256,
    names: [...sanNames(x509.subjectAltName)],
    notAfter: new Date(x509.validTo),
  };
}

/** What the startup line says: where, which (the fingerprint to compare), and how clients trust it. */
function logFields(c: SelfSigned): Record<string, unknown> {
  return {
    cert: c.certFile,
    sha256: c.sha256,
    names: c.names,
    notAfter: c.notAfter.toISOString(),
    clients: `trust it with NODE_EXTRA_CA_CERTS=${c.certFile} (a copy of the file on the client's machine) and WAYPOINT_SERVER_TLS=true, or skip verification with WAYPOINT_SERVER_TLS_SKIP_VERIFY=true`,
  };
}

function warnAboutKey(keyFile: string, logger: ServerLogger): void {
  const mode = statSync(keyFile).mode & 0o777;
  if (mode & 0o077) {
    logger.warn(
      { key: keyFile, mode: mode.toString(8) },
      `the TLS key ${keyFile} can be read by other users; run chmod 600 on it`,
    );
  }
}

function noteHostname(x509: X509Certificate, hostname: string | undefined, logger: ServerLogger): void {
  const name = hostname ? canonicalName(hostname) : undefined;
  if (name && !sanNames(x509.subjectAltName).has(name)) {
    logger.info(
      { hostname: name },
      `the self-signed certificate does not name this host (${name}); pass -tls-san=${name} to have it replaced by one that does`,
    );
  }
}
