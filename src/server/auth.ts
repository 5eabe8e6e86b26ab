import { createHash, randomBytes } from "node:crypto";
import type { TokenKind } from "../protocol/tokens.js";
import type { Store, TokenRecord } from "./store/store.js";

/**
 * Token secrets look like `wp<k>_<43 base64url chars>` (256 random bits); the
 * kind letter only helps people and secret scanners recognise them, it is not
 * trusted: the kind comes from the stored record.
 */
const PREFIX: Record<TokenKind, string> = {
  management: "wpm_",
  readonly: "wpr_",
  runner: "wpu_",
  entrypoint: "wpe_",
};

export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

export interface MintedToken {
  readonly secret: string;
  readonly record: TokenRecord;
}

export function mintToken(
  kind: TokenKind,
  scope: { app?: string; deployment?: string; description?: string } = {},
  now: Date = new Date(),
): MintedToken {
  const secret = PREFIX[kind] + randomBytes(32).toString("base64url");
  const record: TokenRecord = {
    id: `tok_${randomBytes(9).toString("base64url")}`,
    kind,
    hash: hashToken(secret),
    createdAt: now.toISOString(),
    ...(scope.app ? { app: scope.app } : {}),
    ...(scope.deployment ? { deployment: scope.deployment } : {}),
    ...(scope.description ? { description: scope.description } : {}),
  };
  return { secret, record };
}

/**
 * Hash → token lookups on the hot path. The store is the only writer and this
 * server owns it exclusively, so the cache is refreshed after each token write
 * made through `add`, and rebuilt with `reload` after the store's contents were
 * replaced wholesale (a live restore).
 */
export class TokenCache {
  private byHash = new Map<string, TokenRecord>();

  constructor(private readonly store: Store) {
    this.reload();
  }

  /**
   * Re-reads every token from the store. The new map is built first and swapped in at once, so a
   * lookup sees either the old set or the new one, never a mix.
   */
  reload(): void {
    const next = new Map<string, TokenRecord>();
    for (const t of this.store.listTokens()) next.set(t.hash, t);
    this.byHash = next;
  }

  lookup(secret: string): TokenRecord | undefined {
    return this.byHash.get(hashToken(secret));
  }

  add(record: TokenRecord): void {
    this.byHash.set(record.hash, record);
  }
}
