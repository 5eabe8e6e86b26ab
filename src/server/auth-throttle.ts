import { isIP } from "node:net";
import { AppError } from "../protocol/errors.js";
import type { AuthFailureLimits } from "./config.js";
import type { ServerLogger } from "./logger.js";

/** One tracked address: failures in the current window, and the end of its cooldown once it reached the limit. */
interface Entry {
  windowStart: number;
  failures: number;
  /** Set while the address is refused; 0 otherwise. */
  blockedUntil: number;
}

/**
 * Failed authentication attempts per remote address (an IP address, without a port), shared by the gRPC guard and the HTTP listener.
 *
 * `limit` failures (a presented token the server does not know) within `windowMs` start a cooldown of
 * `cooldownMs` during which every call from the address that presents a token is refused with
 * AUTH_THROTTLED before its token is looked at: refusing only wrong tokens would mean checking each
 * one, and the throttle would then slow no guessing at all. Calls without a token (GetVersionInfo,
 * BootstrapToken) are never refused, streams already open are untouched, and a success neither resets
 * nor is slowed by the count.
 *
 * There is no per-token counter: a token is found by the hash of its whole secret, so a wrong secret
 * names no token, and nobody can lock a token's holder out by guessing at it.
 *
 * Memory is bounded: at most `maxTracked` addresses (oldest first out), entries whose window and
 * cooldown are over are swept at most once per window, and IPv6 addresses count per /64 (one host
 * usually holds a whole /64, so per-address counting would be no limit there).
 */
export class AuthThrottle {
  private readonly entries = new Map<string, Entry>();
  private lastSweep = 0;

  constructor(
    private readonly limits: AuthFailureLimits,
    private readonly logger: ServerLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws AUTH_THROTTLED while `address` is cooling down; a no-op when the throttle is off. */
  check(address: string): void {
    const seconds = this.retryAfter(address);
    if (seconds === undefined) return;
    throw new AppError(
      "AUTH_THROTTLED",
      `too many failed authentication attempts from ${displayAddress(address)}: calls with a token are refused for ${seconds} s more`,
    );
  }

  /** While `address` is cooling down: the whole seconds left; otherwise undefined. */
  retryAfter(address: string): number | undefined {
    if (this.limits.limit === 0) return undefined;
    const key = addressKey(address);
    const e = this.entries.get(key);
    if (!e || e.blockedUntil === 0) return undefined;
    const left = e.blockedUntil - this.now();
    if (left > 0) return Math.ceil(left / 1000);
    this.entries.delete(key);
    return undefined;
  }

  /** Whether `address` is cooling down now (for callers that must not throw). */
  blocked(address: string): boolean {
    return this.retryAfter(address) !== undefined;
  }

  /** Counts one failed attempt from `address`; the one that reaches the limit starts the cooldown. */
  failed(address: string): void {
    const { limit, windowMs, cooldownMs } = this.limits;
    if (limit === 0) return;
    const now = this.now();
    this.sweep(now);
    const key = addressKey(address);
    let e = this.entries.get(key);
    // Attempts during a cooldown are refused before they are checked, so they cannot fail: not counted.
    if (e && e.blockedUntil > now) return;
    if (e === undefined || e.blockedUntil !== 0 || now - e.windowStart >= windowMs)
      e = { windowStart: now, failures: 0, blockedUntil: 0 };
    e.failures += 1;
    // Re-inserted so that the map's order is by last failure: the first key is the one to drop.
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.limits.maxTracked) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    if (e.failures >= limit) {
      e.blockedUntil = now + cooldownMs;
      // Once per episode: later attempts during the cooldown are refused without a log line each.
      this.logger.warn(
        { address: displayAddress(address), failures: e.failures, windowMs, cooldownMs },
        "too many failed authentication attempts: refusing calls with a token from this address for the cooldown",
      );
    }
  }

  /** Addresses tracked now (for tests). */
  get size(): number {
    return this.entries.size;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < this.limits.windowMs) return;
    this.lastSweep = now;
    for (const [key, e] of this.entries) {
      const over = e.blockedUntil !== 0 ? e.blockedUntil <= now : now - e.windowStart >= this.limits.windowMs;
      if (over) this.entries.delete(key);
    }
  }
}

/**
 * The remote address of a grpc-js peer, which is "<address>:<port>" ("127.0.0.1:5000", "::1:5000"),
 * or "unknown".
 */
export function grpcPeerAddress(peer: string): string {
  const m = /^(.*):\d+$/.exec(peer);
  return m && isIP(m[1]!) ? m[1]! : peer;
}

/** IPv4 (also IPv4-mapped IPv6) as is; IPv6 by its /64 prefix. */
export function addressKey(a: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) return mapped[1]!;
  if (isIP(a) !== 6) return a;
  return `${expand6(a).slice(0, 4).join(":")}::/64`;
}

function displayAddress(address: string): string {
  const key = addressKey(address);
  return key.endsWith("/64") ? key : address;
}

/** The eight groups of an IPv6 address, without a zone. */
function expand6(a: string): string[] {
  const [head = "", tail = ""] = a.split("%")[0]!.split("::");
  const h = head ? head.split(":") : [];
  const t = a.includes("::") && tail ? tail.split(":") : [];
  if (!a.includes("::")) return h.map((g) => g.toLowerCase());
  return [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t].map((g) => g.toLowerCase());
}
