import { AppError } from "../protocol/errors.js";
import type { Io } from "./command.js";

/** The snapshot passphrase, for the CLI and for the server's boot-time restore alike. */
export const PASSPHRASE_ENV = "WAYPOINT_SNAPSHOT_PASSPHRASE";

/** A terminal input we can switch to raw mode, to read without echo. */
type RawInput = NodeJS.ReadableStream & { isTTY?: boolean; setRawMode(mode: boolean): unknown };

function rawInput(io: Io, stdinIsData: boolean): RawInput | undefined {
  const stdin = io.stdin as NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: unknown };
  if (stdinIsData || stdin.isTTY !== true || typeof stdin.setRawMode !== "function") return undefined;
  return stdin as RawInput;
}

/**
 * The passphrase to encrypt a new snapshot with: WAYPOINT_SNAPSHOT_PASSPHRASE,
 * else asked twice on the terminal (no echo), else an error saying to set it.
 */
export async function newPassphrase(io: Io, stdinIsData = false): Promise<string> {
  const fromEnv = io.env[PASSPHRASE_ENV];
  if (fromEnv) return fromEnv;
  const input = rawInput(io, stdinIsData);
  if (!input) {
    throw new AppError("CONFIG_INVALID", `-encrypt needs a passphrase and there is no terminal to ask on`, {
      hint: `Set ${PASSPHRASE_ENV}, or encrypt for age recipients with -recipient=age1….`,
    });
  }
  const first = await ask(input, io, "Passphrase for the snapshot: ");
  if (first === "") throw new AppError("INVALID_ARGUMENT", "the passphrase is empty");
  const again = await ask(input, io, "Same passphrase again: ");
  if (again !== first) {
    throw new AppError("INVALID_ARGUMENT", "the two passphrases differ", {
      hint: "Run the command again and type the same passphrase twice.",
    });
  }
  return first;
}

/** A passphrase for decrypting, asked for at most once and only when a file turns out to need it. */
export interface PassphraseSource {
  get(): Promise<string>;
  /** The passphrase if `get` has produced one (so the file was passphrase-encrypted). */
  known(): string | undefined;
}

export function passphraseSource(io: Io, stdinIsData: boolean): PassphraseSource {
  let pending: Promise<string> | undefined;
  let value: string | undefined;
  return {
    get() {
      pending ??= (async () => {
        const fromEnv = io.env[PASSPHRASE_ENV];
        if (fromEnv) return fromEnv;
        const input = rawInput(io, stdinIsData);
        if (!input) {
          throw new AppError(
            "SNAPSHOT_DECRYPT_FAILED",
            `the snapshot is encrypted with a passphrase and there is no terminal to ask for it`,
            { hint: `Set ${PASSPHRASE_ENV} to the passphrase it was encrypted with. Nothing was changed.` },
          );
        }
        return ask(input, io, "Passphrase of the snapshot: ");
      })().then((p) => {
        value = p;
        return p;
      });
      return pending;
    },
    known: () => value,
  };
}

/**
 * Input read past the end of a line: typed ahead (or pasted) before the next
 * prompt, and kept for it. A "\n" right after a "\r" ending is dropped.
 */
const typedAhead = new WeakMap<RawInput, { text: string; afterCR: boolean }>();

/** Reads one line from the terminal in raw mode (no echo); Ctrl-C is INTERRUPTED, Ctrl-D on an empty line too. */
function ask(input: RawInput, io: Io, prompt: string): Promise<string> {
  io.stderr.write(prompt);
  input.setRawMode(true);
  input.resume();
  return new Promise((resolve, reject) => {
    let value = "";
    const finish = () => {
      input.off("data", onData);
      input.setRawMode(false);
      input.pause();
      io.stderr.write("\n");
    };
    const take = (text: string): boolean => {
      const ahead = typedAhead.get(input) ?? { text: "", afterCR: false };
      const chars = [...text];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === "\n" && ahead.afterCR) {
          ahead.afterCR = false;
          continue;
        }
        ahead.afterCR = false;
        if (ch === "\r" || ch === "\n") {
          typedAhead.set(input, { text: chars.slice(i + 1).join(""), afterCR: ch === "\r" });
          finish();
          resolve(value);
          return true;
        }
        if (ch === "\u0003" || (ch === "\u0004" && value === "")) {
          typedAhead.delete(input);
          finish();
          reject(new AppError("INTERRUPTED", "interrupted while asking for the passphrase"));
          return true;
        }
        if (ch === "\u007f" || ch === "\b") value = [...value].slice(0, -1).join("");
        else if (ch >= " ") value += ch;
      }
      typedAhead.set(input, { text: "", afterCR: ahead.afterCR });
      return false;
    };
    const onData = (data: Buffer | string) => {
      take(String(data));
    };
    input.on("data", onData);
    const pending = typedAhead.get(input);
    if (pending && pending.text !== "") {
      const text = pending.text;
      typedAhead.set(input, { text: "", afterCR: pending.afterCR });
      take(text);
    }
  });
}
