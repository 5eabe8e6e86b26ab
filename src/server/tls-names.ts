import { isIP } from "node:net";
import { AppError } from "../protocol/errors.js";

/** The names every self-signed certificate covers: this machine by its loopback names. */
export const LOOPBACK_NAMES = Object.freeze(["localhost", "127.0.0.1", "::1"]);

/** A DNS name, optionally with one leading wildcard label: "wp.example.com", "*.apps.example.com". */
const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/** An IP address in the one form used for comparisons here (IPv6 compressed and lower case). */
export function normalizeIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

/** A DNS name or IP address in canonical form, or undefined when it is neither. */
export function canonicalName(text: string): string | undefined {
  const t = text.trim().toLowerCase().replace(/\.$/, "");
  if (isIP(t)) return normalizeIp(t);
  return t.length <= 253 && DNS_NAME.test(t) ? t : undefined;
}

/** -tls-san values: names or addresses, several per flag when comma-separated. */
export function parseSans(values: readonly string[]): string[] {
  const names: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      if (part.trim() === "") continue;
      const name = canonicalName(part);
      if (!name) {
        throw new AppError(
          "CONFIG_INVALID",
          `-tls-san: ${JSON.stringify(part)} is neither a DNS name nor an IP address`,
          { hint: "Give names clients use to reach the server, e.g. -tls-san=wp.example.com,10.0.0.5." },
        );
      }
      names.push(name);
    }
  }
  return names;
}

/** Host of a listen address that names one interface (not 0.0.0.0 or ::), as a certificate name. */
export function specificHost(host: string): string | undefined {
  const name = canonicalName(host);
  return name === undefined || name === "0.0.0.0" || name === "::" ? undefined : name;
}

/**
 * The names in Node's X509Certificate.subjectAltName text ("DNS:localhost, IP Address:127.0.0.1"),
 * in canonical form; other kinds of names are left out.
 */
export function sanNames(subjectAltName: string | undefined): Set<string> {
  const out = new Set<string>();
  for (const entry of (subjectAltName ?? "").split(", ")) {
    const m = /^(DNS|IP Address):(.*)$/.exec(entry);
    const name = m ? canonicalName(m[2]!) : undefined;
    if (name) out.add(name);
  }
  return out;
}

/** `names` without repeats, first occurrence kept. */
export function uniqueNames(names: readonly string[]): string[] {
  return [...new Set(names)];
}
