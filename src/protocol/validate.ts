/** Small checks shared by every parser of outside input in src/protocol. */

export type Obj = Record<string, unknown>;

/** Ids of components (client-id header, inventory ids, entrypoint instances). */
export const COMPONENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** A runner label: KEY=VALUE (letters, digits and . _ / - in the key; also : in the value). */
export const RUNNER_LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}=[A-Za-z0-9._/:-]{0,128}$/;

export function isComponentId(value: unknown): value is string {
  return typeof value === "string" && COMPONENT_ID_PATTERN.test(value);
}

/** SemVer 2.0.0's own grammar (semver.org), build metadata included. */
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/**
 * True for a semantic version written exactly as the semver package prints
 * it (build metadata allowed): its grammar, at most 256 characters, and
 * major, minor and patch no larger than Number.MAX_SAFE_INTEGER. A test
 * holds it equal to `semver.parse` for every input; it does without the
 * package so the entrypoint, which sends its version in a header, need not
 * load it. semver.valid also accepts "v1.2.3" and surrounding blanks; such a
 * version would never match a catalog release by name.
 */
export function isCanonicalSemver(text: string): boolean {
  if (text.length > 256) return false;
  const m = SEMVER.exec(text);
  if (m === null) return false;
  return [m[1], m[2], m[3]].every((n) => Number(n) <= Number.MAX_SAFE_INTEGER);
}

/** A plain JSON object, or `onError()`. */
export function asObject(value: unknown, onError: () => never): Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) onError();
  return value as Obj;
}

/** Calls `onUnknown` with the first key of `o` not in `allowed`. */
export function onlyKeys(o: Obj, allowed: readonly string[], onUnknown: (key: string) => never): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) onUnknown(k);
}

/**
 * App names: 1-63 lowercase letters, digits and "-", starting with a letter, not ending with "-"
 * and without "--" (`<app>--<deployment>` is reserved for URLs). Returns the problem, or undefined.
 */
export function appNameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name);
  if (name.length === 0) return "the app name is empty";
  if (name.length > 63) return `the app name ${shown.slice(0, 40)}…" is longer than 63 characters`;
  if (!/^[a-z][a-z0-9-]*$/.test(name))
    return `the app name ${shown} must start with a lowercase letter and hold only lowercase letters, digits and "-"`;
  if (name.endsWith("-")) return `the app name ${shown} must not end with "-"`;
  if (name.includes("--"))
    return `the app name ${shown} must not contain "--" (reserved to join app and deployment in URLs)`;
  return undefined;
}

/** Longest operation command accepted, in characters. */
export const MAX_COMMAND_LENGTH = 8192;

/**
 * What is wrong with `command` as the shell command of an app's `operation`
 * (run with `sh -c`), or undefined. Empty is not a command: callers treat it
 * as "not defined".
 */
export function commandProblem(operation: string, command: string): string | undefined {
  if (command.trim() === "") return `the ${operation} command is empty`;
  if (command.length > MAX_COMMAND_LENGTH)
    return `the ${operation} command is longer than ${MAX_COMMAND_LENGTH} characters (put it in a script and run that)`;
  if (command.includes("\0")) return `the ${operation} command holds a NUL character, which no shell can run`;
  return undefined;
}

export function isAppName(name: string): boolean {
  return appNameProblem(name) === undefined;
}

/** Deployment ids: "<app>-v<sequence>". */
const DEPLOYMENT_ID = /^([a-z][a-z0-9-]*)-v([1-9][0-9]{0,9})$/;

export function parseDeploymentId(id: string): { app: string; sequence: number } | undefined {
  const m = DEPLOYMENT_ID.exec(id);
  if (!m || !isAppName(m[1]!)) return undefined;
  return { app: m[1]!, sequence: Number(m[2]) };
}

export const CONFIG_NAME_MAX = 256;
export const CONFIG_VALUE_MAX_BYTES = 64 * 1024;
/** Variables the entrypoint sets for itself; configuration may not set them. */
export const RESERVED_CONFIG_PREFIX = "WAYPOINT_";

/** Configuration variable names, like environment variable names. Returns the problem, or undefined. */
export function configNameProblem(name: string): string | undefined {
  const shown = JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
  if (name.length === 0) return "a configuration variable name is empty";
  if (name.length > CONFIG_NAME_MAX)
    return `the variable name ${shown} is longer than ${CONFIG_NAME_MAX} characters`;
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
    return `the variable name ${shown} is not an environment variable name: letters, digits and "_", not starting with a digit`;
  if (name.toUpperCase().startsWith(RESERVED_CONFIG_PREFIX))
    return `the variable name ${shown} starts with ${RESERVED_CONFIG_PREFIX}, which is reserved for the entrypoint's own variables`;
  return undefined;
}

/** Configuration values: at most 64 KiB of UTF-8, no NUL (it cannot be in an environment). */
export function configValueProblem(name: string, value: string): string | undefined {
  if (value.includes("\u0000"))
    return `the value of ${name} contains a NUL character, which an environment cannot hold`;
  // UTF-8 length without Node's Buffer: at most 3 bytes per UTF-16 unit (4 per surrogate pair).
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < value.length) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  if (bytes > CONFIG_VALUE_MAX_BYTES)
    return `the value of ${name} is ${bytes} bytes, more than the limit of ${CONFIG_VALUE_MAX_BYTES} (64 KiB)`;
  return undefined;
}
