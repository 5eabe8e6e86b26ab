import { createHash } from "node:crypto";
import { isIP } from "node:net";
import { AppError } from "../protocol/errors.js";
import type { AuthFailureLimits } from "./config.js";
import type { ServerLogger } from "./logger.js";

/** One tracked address: failures in the current window, and the end of its cooldown once it reached the limit. */
interface Entry {
  windowStart: number;
  failures: number;
  /** Short digests of the credentials that failed in this window: each counts once. */
  seen: Set<string>;
  /** Set while the address is refused; 0 otherwise. */
  blockedUntil: number;
}

/**
 * Failed authentication attempts per remote address (an IP address, without a port), shared by the gRPC guard and the HTTP listener.
 *
 * `limit` distinct unknown tokens from one address within `windowMs` start a cooldown of `cooldownMs`
 * during which every unknown token from the address is refused with AUTH_THROTTLED (and not counted).
 * A valid token always passes, cooldown or not: many clients often share one address (a proxy, NAT),
 * and one of them retrying a stale token must not lock the others out. Looking a token up is one
 * hash, so checking each costs nothing, and guessing 256-bit secrets is hopeless anyway: the throttle
 * slows probing and keeps the log quiet. The same wrong token retried counts once per window, and
 * loopback is not counted (see AuthFailureLimits.countLoopback).
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

  /**
   * Counts one failed attempt from `address` with `credential` (what it presented; the same one again in
   * the window is not counted; undefined counts every time); the one that reaches the limit starts the
   * cooldown.
   */
  failed(address: string, credential?: string): void {
    const { limit, windowMs, cooldownMs } = this.limits;
    if (limit === 0) return;
    if (!this.limits.countLoopback && isLoopback(address)) return;
    const now = this.now();
    this.sweep(now);
    const key = addressKey(address);
    let e = this.entries.get(key);
    // Attempts during a cooldown are refused unchecked, so they are not counted.
    if (e && e.blockedUntil > now) return;
    if (e === undefined || e.blockedUntil !== 0 || now - e.windowStart >= windowMs)
      e = { windowStart: now, failures: 0, blockedUntil: 0, seen: new Set() };
    if (credential !== undefined) {
      const digest = createHash("sha256").update(credential).digest("base64").slice(0, 16);
      if (e.seen.has(digest)) return;
      if (e.seen.size < limit) e.seen.add(digest);
    }
    e.failures += 1;
    // Re-inserted so that the map's order is by last failure: the first key is the one to drop.
    this.entries.delete(key);
    this.entries.set(key, e);
    if (this.entries.size > this.limits.maxTracked) this.evictOne();
    if (e.failures >= limit) {
      e.blockedUntil = now + cooldownMs;
      // Once per episode: later attempts during the cooldown are refused without a log line each.
      this.logger.warn(
        { address: displayAddress(address), failures: e.failures, windowMs, cooldownMs },
        "too many failed authentication attempts: refusing calls with a token from this address for the cooldown",
      );
    }
  }

  /**
   * Drops the least recent entry that is not cooling down (a flood of new addresses must not free the
   * blocked ones); only when every entry is blocked, the least recent of those.
   */
  private evictOne(): void {
    for (const [key, e] of this.entries) {
      if (e.blockedUntil === 0) {
        this.entries.delete(key);
        return;
      }
    }
    const oldest = this.entries.keys().next().value;
    if (oldest !== undefined) this.entries.delete(oldest);
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

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
function isLoopback(a: string): boolean {
  const v4 = /^(?:::ffff:)?(\d+)\.\d+\.\d+\.\d+$/i.exec(a);
  if (v4) return v4[1] === "127";
  return a === "::1";
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
