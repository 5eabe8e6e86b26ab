/**
 * Token kinds (DESIGN §7). What each kind may call is decided in one table,
 * src/server/rpc-table.ts.
 */
export const TOKEN_KINDS = ["management", "readonly", "runner", "entrypoint"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export function isTokenKind(value: unknown): value is TokenKind {
  return (TOKEN_KINDS as readonly unknown[]).includes(value);
}
