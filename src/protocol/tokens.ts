/**
 * Token kinds (DESIGN §7). What each kind may call is decided in one table,
 * src/server/rpc-table.ts.
 */
export const TOKEN_KINDS = ["management", "readonly", "runner", "entrypoint"] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

export function isTokenKind(value: unknown): value is TokenKind {
  return (TOKEN_KINDS as readonly unknown[]).includes(value);
}

/**
 * What is wrong with `token` as a bearer token, or undefined when nothing is: the server takes
 * 1-512 printable ASCII characters without spaces. The answer never quotes the token, so it can go
 * into an error message or a log (a stray newline in a pasted token must not print the token).
 */
export function tokenShapeProblem(token: string): string | undefined {
  if (token.length > 512) return `is ${token.length} characters long, more than a token's 512`;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  if (/[\u0000-\u001f\u007f]/.test(token)) return "holds a control character (a stray newline or tab?)";
  if (token.includes(" ")) return "holds a space";
  if (/[^\x21-\x7e]/.test(token)) return "holds a character that is not printable ASCII (a curly quote?)";
  return undefined;
}
