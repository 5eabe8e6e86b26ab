/**
 * Client connection contexts (DESIGN §7): named server addresses and tokens
 * stored under `$XDG_CONFIG_HOME/waypoint/` (default `~/.config/waypoint/`).
 *
 * Layout: `<dir>/contexts/<name>.json`, one file per context, and
 * `<dir>/current` holding the current context's name. Directories are mode
 * 0700 and files 0600; every write goes to a temp file in the same directory
 * and is renamed into place, so a reader never sees a partial file.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { syncDir } from "../durable.js";
import { AppError } from "../protocol/errors.js";

export interface ContextConfig {
  readonly name: string;
  readonly address: string;
  readonly token?: string;
  readonly tls: boolean;
  readonly tlsSkipVerify: boolean;
  readonly createdAt: string;
}

const NAME_RULE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const LIST_HINT = "Run `waypoint context list` to see the saved contexts.";

/** `$XDG_CONFIG_HOME/waypoint`, or `~/.config/waypoint` when it is unset or relative. */
export function contextsDir(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  if (xdg !== undefined && xdg !== "" && path.isAbsolute(xdg)) return path.join(xdg, "waypoint");
  const home = env.HOME !== undefined && env.HOME !== "" ? env.HOME : os.homedir();
  return path.join(home, ".config", "waypoint");
}

export function saveContext(
  dir: string,
  ctx: ContextConfig,
  opts: { setDefault?: boolean; force?: boolean } = {},
): void {
  checkName(ctx.name);
  const clean = validate(
    ctx,
    (problem) => new AppError("INVALID_ARGUMENT", `context "${ctx.name}": ${problem}`),
  );
  ensureDirs(dir);
  writeAtomic(contextFile(dir, ctx.name), `${JSON.stringify(clean, null, 2)}\n`, opts.force !== true);
  if (opts.setDefault === true) writeAtomic(path.join(dir, "current"), `${ctx.name}\n`, false);
}

export function loadContext(dir: string, name: string): ContextConfig {
  checkName(name);
  const file = contextFile(dir, name);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") {
      throw new AppError("NOT_FOUND", `context "${name}" not found in ${dir}`, {
        hint: `${LIST_HINT} Create it with \`waypoint context create\`.`,
      });
    }
    throw invalidFile(file, `cannot be read: ${message(err)}`, err);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalidFile(file, `is not valid JSON: ${message(err)}`, err);
  }
  const ctx = validate(parsed, (problem) => invalidFile(file, problem));
  if (ctx.name !== name) throw invalidFile(file, `holds context "${ctx.name}", not "${name}"`);
  return ctx;
}

/** Every saved context, sorted by name; a corrupt file fails the listing with CONTEXT_INVALID. */
export function listContexts(dir: string): { contexts: ContextConfig[]; current?: string } {
  let entries: string[];
  try {
    entries = fs.readdirSync(path.join(dir, "contexts"));
  } catch (err) {
    if (errno(err) === "ENOENT") return { contexts: [] };
    throw new AppError("CONTEXT_INVALID", `cannot read ${path.join(dir, "contexts")}: ${message(err)}`, {
      cause: err,
    });
  }
  const names = entries
    .filter((entry) => entry.endsWith(".json"))
    .map((entry) => entry.slice(0, -".json".length))
    .filter((name) => NAME_RULE.test(name))
    .sort();
  const contexts = names.map((name) => loadContext(dir, name));
  const current = readCurrent(dir);
  return current !== undefined && names.includes(current) ? { contexts, current } : { contexts };
}

export function selectContext(dir: string, name: string): void {
  loadContext(dir, name);
  writeAtomic(path.join(dir, "current"), `${name}\n`, false);
}

export function currentContext(dir: string): ContextConfig | undefined {
  const name = readCurrent(dir);
  if (name === undefined) return undefined;
  try {
    return loadContext(dir, name);
  } catch (err) {
    if (err instanceof AppError && err.code === "NOT_FOUND") {
      throw invalidFile(path.join(dir, "current"), `names context "${name}", which does not exist`, err, {
        hint: `Pick another with \`waypoint context use NAME\`. ${LIST_HINT}`,
      });
    }
    throw err;
  }
}

export function deleteContext(dir: string, name: string): void {
  checkName(name);
  const current = readCurrent(dir);
  try {
    fs.unlinkSync(contextFile(dir, name));
  } catch (err) {
    if (errno(err) === "ENOENT") {
      throw new AppError("NOT_FOUND", `context "${name}" not found in ${dir}`, { hint: LIST_HINT });
    }
    throw unwritable(contextFile(dir, name), err);
  }
  if (current === name) fs.rmSync(path.join(dir, "current"), { force: true });
}

function checkName(name: string): void {
  if (!NAME_RULE.test(name)) {
    throw new AppError("USAGE", `invalid context name ${JSON.stringify(name)}`, {
      hint: "A context name is 1 to 63 characters: letters, digits, '.', '_' or '-', starting with a letter or digit.",
    });
  }
}

function contextFile(dir: string, name: string): string {
  return path.join(dir, "contexts", `${name}.json`);
}

/** The name in `<dir>/current`, or undefined when there is none. */
function readCurrent(dir: string): string | undefined {
  const file = path.join(dir, "current");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw invalidFile(file, `cannot be read: ${message(err)}`, err);
  }
  const name = text.trim();
  if (name === "") return undefined;
  if (!NAME_RULE.test(name)) throw invalidFile(file, `holds an invalid context name ${JSON.stringify(name)}`);
  return name;
}

function validate(value: unknown, fail: (problem: string) => AppError): ContextConfig {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail("is not a JSON object");
  const record = value as Record<string, unknown>;
  const { name, address, token, tls, tlsSkipVerify, createdAt } = record;
  if (typeof name !== "string" || !NAME_RULE.test(name)) throw fail('"name" is not a valid context name');
  if (typeof address !== "string" || address.trim() === "")
    throw fail('"address" must be a non-empty string');
  if (token !== undefined && typeof token !== "string") throw fail('"token" must be a string when present');
  if (typeof tls !== "boolean") throw fail('"tls" must be true or false');
  if (typeof tlsSkipVerify !== "boolean") throw fail('"tlsSkipVerify" must be true or false');
  if (typeof createdAt !== "string" || createdAt === "") throw fail('"createdAt" must be a non-empty string');
  return token === undefined
    ? { name, address, tls, tlsSkipVerify, createdAt }
    : { name, address, token, tls, tlsSkipVerify, createdAt };
}

/** Create `<dir>` and `<dir>/contexts` as mode 0700; existing directories are left alone. */
export function ensureDirs(dir: string): void {
  for (const folder of [dir, path.join(dir, "contexts")]) {
    if (fs.existsSync(folder)) continue;
    try {
      fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
      fs.chmodSync(folder, 0o700); // mkdir's mode is filtered by the umask
    } catch (err) {
      throw unwritable(folder, err);
    }
  }
}

/**
 * Write `data` to a mode-0600 temp file beside `file`, then move it into place.
 * With `exclusive`, an existing `file` is never replaced (ALREADY_EXISTS).
 */
export function writeAtomic(file: string, data: string, exclusive: boolean): void {
  const folder = path.dirname(file);
  const temp = path.join(
    folder,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`,
  );
  try {
    const fd = fs.openSync(temp, "wx", 0o600);
    try {
      fs.fchmodSync(fd, 0o600); // openSync's mode is filtered by the umask
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    if (exclusive) placeExclusive(temp, file);
    else fs.renameSync(temp, file);
  } catch (err) {
    throw err instanceof AppError ? err : unwritable(file, err);
  } finally {
    fs.rmSync(temp, { force: true });
  }
  syncDir(folder);
}

/** link() fails with EEXIST instead of replacing, so the existence check cannot race. */
function placeExclusive(temp: string, file: string): void {
  try {
    fs.linkSync(temp, file);
    return;
  } catch (err) {
    const code = errno(err);
    if (code === "EEXIST") throw alreadyExists(file);
    if (code !== "EPERM" && code !== "ENOTSUP" && code !== "ENOSYS") throw err;
  }
  // The file system has no hard links: check, then rename.
  if (fs.existsSync(file)) throw alreadyExists(file);
  fs.renameSync(temp, file);
}

function alreadyExists(file: string): AppError {
  return new AppError("ALREADY_EXISTS", `context "${path.basename(file, ".json")}" already exists`, {
    hint: "Pick another name, or pass -force to replace it.",
  });
}

function invalidFile(file: string, problem: string, cause?: unknown, opts: { hint?: string } = {}): AppError {
  return new AppError("CONTEXT_INVALID", `context file ${file} ${problem}`, { cause, ...opts });
}

function unwritable(target: string, cause: unknown): AppError {
  return new AppError("CONTEXT_INVALID", `cannot write ${target}: ${message(cause)}`, {
    cause,
    hint: "Make the directory writable by this user, or set XDG_CONFIG_HOME to another directory.",
  });
}

function errno(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "string"
    ? err.code
    : undefined;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
