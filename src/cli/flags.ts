/**
 * Go-style flag parsing for the `waypoint` commands (DESIGN §12).
 *
 * Follows Go's `flag` package as HashiCorp tools use it: `-name=value`,
 * `-name value`, `--name` spellings, bare booleans, `-h`/`-help` for help, and
 * Go's error wording. Unlike Go, flags and positional arguments may
 * interleave (unless `flagsFirst`, as for a command line to run); everything
 * after a bare `--` is positional verbatim.
 */
import { AppError } from "../protocol/errors.js";

export type FlagType = "string" | "boolean" | "count" | "string-list";

export type FlagSpec = {
  readonly name: string;
  readonly type: FlagType;
  readonly usage: string;
  /** string flags: a string; boolean flags: a boolean; string-list: one initial element. */
  readonly default?: string | boolean;
  /** Shown in help as `-name=PLACEHOLDER`; defaults to VALUE. */
  readonly placeholder?: string;
  /** Environment variable read elsewhere; only shown in help. */
  readonly env?: string;
};

export type FlagValue = string | boolean | number | string[];

export interface ParsedFlags {
  /** Every flag given on the command line, plus defaults for the rest (strings only when they have one). */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Positional arguments, in order. */
  readonly args: readonly string[];
  string(name: string): string | undefined;
  bool(name: string): boolean;
  count(name: string): number;
  list(name: string): string[];
  /** Whether the flag was given on the command line (defaults do not count). */
  has(name: string): boolean;
}

/** Thrown for `-h`, `-help` and `--help`; the caller prints usage and exits 0. */
export class HelpRequested extends Error {
  override readonly name = "HelpRequested";

  constructor(readonly command?: string) {
    super(command === undefined ? "help requested" : `help requested for "waypoint ${command}"`);
  }
}

const FLAG_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TRUE_WORDS = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE_WORDS = new Set(["0", "f", "F", "FALSE", "false", "False"]);

export function parseFlags(
  argv: readonly string[],
  specs: readonly FlagSpec[],
  opts: {
    command?: string;
    /** As Go's flag package: the first positional argument ends the flags (for `exec -- CMD -x`). */
    flagsFirst?: boolean;
  } = {},
): ParsedFlags {
  const byName = indexSpecs(specs);
  const values = new Map<string, FlagValue>();
  const given = new Set<string>();
  const args: string[] = [];
  const usage = (message: string, hint?: string): AppError =>
    new AppError("USAGE", message, { hint: hint ?? helpHint(opts.command) });

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg.length < 2 || !arg.startsWith("-")) {
      if (opts.flagsFirst) {
        args.push(...argv.slice(i));
        break;
      }
      args.push(arg);
      continue;
    }
    const body = arg.startsWith("--") ? arg.slice(2) : arg.slice(1);
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw usage(
        `bad flag syntax: ${arg}`,
        `Write flags as -name or -name=value. ${helpHint(opts.command)}`,
      );
    }
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const inline = eq === -1 ? undefined : body.slice(eq + 1);
    let spec = byName.get(name);
    let times = 1;
    if (spec === undefined && (name === "h" || name === "help")) throw new HelpRequested(opts.command);
    if (spec === undefined && inline === undefined) {
      spec = stackedCount(name, byName);
      times = name.length;
    }
    if (spec === undefined) {
      const guess = suggest(name, specs);
      const tail = guess === undefined ? "" : ` (did you mean -${guess}?)`;
      throw usage(`flag provided but not defined: -${name}${tail}`);
    }
    const flag = `-${spec.name}`;

    switch (spec.type) {
      case "boolean": {
        if (inline === undefined || TRUE_WORDS.has(inline)) values.set(spec.name, true);
        else if (FALSE_WORDS.has(inline)) values.set(spec.name, false);
        else {
          throw usage(
            `invalid boolean value "${inline}" for ${flag}: parse error`,
            `Write ${flag} or ${flag}=true to turn it on, ${flag}=false to turn it off.`,
          );
        }
        break;
      }
      case "count": {
        let add = times;
        if (inline !== undefined) {
          if (!/^[0-9]{1,3}$/.test(inline)) {
            throw usage(
              `invalid value "${inline}" for ${flag}: want a number`,
              `Repeat the flag (${flag} ${flag}) or stack it (-${spec.name.repeat(2)}), or write ${flag}=N.`,
            );
          }
          add = Number(inline);
        }
        const before = values.get(spec.name);
        values.set(spec.name, (typeof before === "number" ? before : 0) + add);
        break;
      }
      case "string":
      case "string-list": {
        let value = inline;
        if (value === undefined) {
          if (i + 1 >= argv.length) {
            const placeholder = spec.placeholder ?? "VALUE";
            throw usage(
              `flag needs an argument: ${flag}`,
              `Pass a value, as in ${flag}=${placeholder} or ${flag} ${placeholder}.`,
            );
          }
          i++;
          value = argv[i]!;
        }
        if (spec.type === "string") {
          if (given.has(spec.name)) {
            throw usage(
              `flag ${flag} given more than once`,
              `Pass ${flag} once; only flags marked "repeatable" in -help may repeat.`,
            );
          }
          values.set(spec.name, value);
        } else {
          const before = values.get(spec.name);
          values.set(spec.name, [...(Array.isArray(before) ? before : []), value]);
        }
        break;
      }
    }
    given.add(spec.name);
  }

  for (const spec of specs) {
    if (given.has(spec.name)) continue;
    const fallback = defaultValue(spec);
    if (fallback !== undefined) values.set(spec.name, fallback);
  }

  const specFor = (name: string, type: FlagType): void => {
    const spec = byName.get(name);
    if (spec === undefined) throw new AppError("INTERNAL", `flag -${name} is not defined`);
    if (spec.type !== type) {
      throw new AppError("INTERNAL", `flag -${name} is a ${spec.type} flag, not ${type}`);
    }
  };

  return {
    values,
    args,
    string(name) {
      specFor(name, "string");
      const value = values.get(name);
      return typeof value === "string" ? value : undefined;
    },
    bool(name) {
      specFor(name, "boolean");
      return values.get(name) === true;
    },
    count(name) {
      specFor(name, "count");
      const value = values.get(name);
      return typeof value === "number" ? value : 0;
    },
    list(name) {
      specFor(name, "string-list");
      const value = values.get(name);
      return Array.isArray(value) ? [...value] : [];
    },
    has(name) {
      if (!byName.has(name)) throw new AppError("INTERNAL", `flag -${name} is not defined`);
      return given.has(name);
    },
  };
}

/** Aligned help lines: `  -name=VALUE   usage (default "x"; env WAYPOINT_X)`. */
export function formatFlagHelp(specs: readonly FlagSpec[]): string {
  const rows = specs.map((spec) => {
    const takesValue = spec.type === "string" || spec.type === "string-list";
    const left = `  -${spec.name}${takesValue ? `=${spec.placeholder ?? "VALUE"}` : ""}`;
    const notes: string[] = [];
    if (spec.type === "string" && typeof spec.default === "string" && spec.default !== "") {
      notes.push(`default ${JSON.stringify(spec.default)}`);
    }
    if (spec.type === "string-list" && typeof spec.default === "string") {
      notes.push(`default ${JSON.stringify(spec.default)}`);
    }
    if (spec.type === "boolean" && spec.default === true) notes.push("default true");
    if (spec.type === "count" && spec.name.length === 1) {
      notes.push(`repeatable: -${spec.name.repeat(2)}, -${spec.name.repeat(3)}`);
    } else if (spec.type === "count" || spec.type === "string-list") notes.push("repeatable");
    if (spec.env !== undefined) notes.push(`env ${spec.env}`);
    const right = notes.length === 0 ? spec.usage : `${spec.usage} (${notes.join("; ")})`;
    return { left, right };
  });
  const width = Math.max(0, ...rows.map((row) => row.left.length));
  return rows
    .map(({ left, right }) => {
      const [first = "", ...rest] = right.split("\n");
      const indent = " ".repeat(width + 3);
      return [`${left.padEnd(width)}   ${first}`, ...rest.map((line) => indent + line)].join("\n");
    })
    .join("\n");
}

function helpHint(command: string | undefined): string {
  return command === undefined
    ? "Run the command with -help to see its flags."
    : `Run "waypoint ${command} -help" to see its flags.`;
}

function indexSpecs(specs: readonly FlagSpec[]): Map<string, FlagSpec> {
  const byName = new Map<string, FlagSpec>();
  for (const spec of specs) {
    if (!FLAG_NAME.test(spec.name) || spec.name.includes("=")) {
      throw new AppError("INTERNAL", `invalid flag name in spec: ${JSON.stringify(spec.name)}`);
    }
    if (byName.has(spec.name)) throw new AppError("INTERNAL", `flag -${spec.name} defined twice`);
    const wanted = spec.type === "boolean" ? "boolean" : "string";
    if (spec.default !== undefined && (spec.type === "count" || typeof spec.default !== wanted)) {
      throw new AppError("INTERNAL", `flag -${spec.name}: default does not fit a ${spec.type} flag`);
    }
    byName.set(spec.name, spec);
  }
  return byName;
}

function defaultValue(spec: FlagSpec): FlagValue | undefined {
  switch (spec.type) {
    case "string":
      return typeof spec.default === "string" ? spec.default : undefined;
    case "boolean":
      return spec.default === true;
    case "count":
      return 0;
    case "string-list":
      return typeof spec.default === "string" ? [spec.default] : [];
  }
}

/** `-vvv` for a one-letter count flag `v`. */
function stackedCount(name: string, byName: ReadonlyMap<string, FlagSpec>): FlagSpec | undefined {
  const letter = name[0];
  if (letter === undefined || name.length < 2 || name !== letter.repeat(name.length)) return undefined;
  const spec = byName.get(letter);
  return spec?.type === "count" ? spec : undefined;
}

/** The closest defined name within edit distance 2 (and closer than the typed name is long). */
function suggest(name: string, specs: readonly FlagSpec[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const spec of specs) {
    const distance = editDistance(name, spec.name);
    if (distance <= 2 && distance < name.length && (best === undefined || distance < best.distance)) {
      best = { name: spec.name, distance };
    }
  }
  return best?.name;
}

export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}
