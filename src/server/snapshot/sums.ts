import { AppError } from "../../protocol/errors.js";

/**
 * SHA256SUMS in the `sha256sum -c` text format: one `<64 lowercase hex>
 * <two spaces><name>\n` line per hashed member, meta.json then data.db.
 * Parsing is strict: exactly those two members, each once, every line
 * newline-terminated, nothing else (no blank lines, comments, CRLF or the
 * `*name` binary marker).
 */
export const HASHED_MEMBERS = ["meta.json", "data.db"] as const;
export type HashedMember = (typeof HASHED_MEMBERS)[number];

export type Sums = Readonly<Record<HashedMember, string>>;

export function formatSums(sums: Sums): string {
  return HASHED_MEMBERS.map((name) => `${sums[name]}  ${name}\n`).join("");
}

const LINE = /^([0-9a-f]{64}) {2}(\S+)$/;

export function parseSums(text: string): Sums {
  if (text === "") throw invalid("SHA256SUMS is empty");
  if (!text.endsWith("\n")) throw invalid("SHA256SUMS does not end with a newline");
  const found: Partial<Record<HashedMember, string>> = {};
  text
    .slice(0, -1)
    .split("\n")
    .forEach((line, i) => {
      const m = LINE.exec(line);
      if (!m)
        throw invalid(
          `SHA256SUMS line ${i + 1} is not "<sha256>  <member>": ${JSON.stringify(line.slice(0, 100))}`,
        );
      const [, hex, name] = m as unknown as [string, string, string];
      if (!isHashed(name))
        throw invalid(`SHA256SUMS line ${i + 1} names "${name}", which is not a hashed member`);
      if (found[name] !== undefined) throw invalid(`SHA256SUMS lists ${name} twice`);
      found[name] = hex;
    });
  const meta = found["meta.json"];
  const db = found["data.db"];
  if (meta === undefined) throw invalid("SHA256SUMS has no line for meta.json");
  if (db === undefined) throw invalid("SHA256SUMS has no line for data.db");
  return { "meta.json": meta, "data.db": db };
}

function isHashed(name: string): name is HashedMember {
  return (HASHED_MEMBERS as readonly string[]).includes(name);
}

function invalid(message: string): AppError {
  return new AppError("SNAPSHOT_INVALID", message);
}
