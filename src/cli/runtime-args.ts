/**
 * Parsing of the positional arguments and selector flags of the runtime
 * commands (config, logs, exec) into typed values, with usage errors that
 * name the argument at fault. Pure: nothing is sent before all of it parses.
 */
import { AppError } from "../protocol/errors.js";
import { configNameProblem, configValueProblem } from "../protocol/validate.js";
import type { ParsedFlags } from "./flags.js";

/** Looks like a variable name: only then is a malformed argument echoed. */
const NAME_LIKE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface ConfigPair {
  readonly name: string;
  readonly value: string;
}

/**
 * `KEY=VALUE` arguments (split at the first "="; the value may be empty or
 * hold more "="). A name given twice is refused rather than silently
 * resolved. An argument without "=" is echoed only when it looks like a name,
 * since a stray value may be a secret.
 */
export function parseConfigPairs(args: readonly string[], command: string): ConfigPair[] {
  if (args.length === 0) {
    throw new AppError("USAGE", `waypoint ${command} needs at least one KEY=VALUE`, {
      hint: `For example: waypoint ${command} DATABASE_URL=postgres://db/app LOG_LEVEL=info`,
    });
  }
  const seen = new Set<string>();
  return args.map((arg, i) => {
    const at = `argument ${i + 1}`;
    const eq = arg.indexOf("=");
    if (eq === -1) {
      const shown = NAME_LIKE.test(arg) ? `"${arg}" (${at})` : at;
      throw new AppError("USAGE", `${shown} is not KEY=VALUE; nothing was written`, {
        hint: `Write each variable as KEY=VALUE, e.g. ${NAME_LIKE.test(arg) ? arg : "KEY"}=value; quote values with spaces.`,
      });
    }
    const name = arg.slice(0, eq);
    checkName(name, at);
    if (seen.has(name)) {
      throw new AppError("USAGE", `${name} is given more than once (${at}); nothing was written`, {
        hint: "Give each variable once.",
      });
    }
    seen.add(name);
    const value = arg.slice(eq + 1);
    const problem = configValueProblem(name, value);
    if (problem) throw new AppError("USAGE", `${problem} (${at}); nothing was written`);
    return { name, value };
  });
}

/** Names for `config unset` and `config get KEY`. */
export function parseConfigNames(args: readonly string[], command: string): string[] {
  if (args.length === 0) {
    throw new AppError("USAGE", `waypoint ${command} needs at least one KEY`);
  }
  args.forEach((name, i) => {
    checkName(name, `argument ${i + 1}`);
  });
  return [...new Set(args)];
}

/** The server's own rules (src/protocol/validate.ts), checked before anything is sent. */
function checkName(name: string, at: string): void {
  const problem = configNameProblem(name);
  if (problem === undefined) return;
  throw new AppError("USAGE", `${problem} (${at}); nothing was written`, {
    hint: "Configuration variables become environment variables of the app, so they follow their rules.",
  });
}

export type Selector =
  | { readonly kind: "all" }
  | { readonly kind: "app"; readonly app: string }
  | { readonly kind: "deployment"; readonly deployment: string }
  | { readonly kind: "instance"; readonly instance: string };

type SelectorFlag = "app" | "deployment" | "instance";

/** The one selector among `names` given on the command line; none is "all". */
export function pickSelector(flags: ParsedFlags, names: readonly SelectorFlag[]): Selector {
  const given = names.filter((n) => flags.has(n));
  if (given.length > 1) {
    throw new AppError("USAGE", `${given.map((n) => `-${n}`).join(" and ")} do not combine; give one`, {
      hint: `Select by one of ${names.map((n) => `-${n}`).join(", ")}.`,
    });
  }
  const name = given[0];
  if (name === undefined) return { kind: "all" };
  const value = flags.string(name) ?? "";
  if (value === "") throw new AppError("USAGE", `-${name} needs a value`);
  switch (name) {
    case "app":
      return { kind: "app", app: value };
    case "deployment":
      return { kind: "deployment", deployment: value };
    case "instance":
      return { kind: "instance", instance: value };
  }
}

/** The request fields of a selector. */
export function selectorRequest(s: Selector): { app?: string; deployment?: string; instance?: string } {
  switch (s.kind) {
    case "all":
      return {};
    case "app":
      return { app: s.app };
    case "deployment":
      return { deployment: s.deployment };
    case "instance":
      return { instance: s.instance };
  }
}

/** A count flag such as -tail=N: a whole number from 0 to `max`. */
export function parseCount(flag: string, text: string | undefined, max = 0xffff_ffff): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > max) {
    throw new AppError("USAGE", `invalid value "${text}" for -${flag}: want a whole number of lines`, {
      hint: `Write -${flag}=N, e.g. -${flag}=100 (0 for all).`,
    });
  }
  return Number(text);
}
