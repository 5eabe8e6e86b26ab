import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import test, { type ExecutionContext } from "ava";
import {
  type ContextConfig,
  contextsDir,
  currentContext,
  deleteContext,
  listContexts,
  loadContext,
  saveContext,
  selectContext,
} from "../../src/client/contexts.js";
import { AppError } from "../../src/protocol/errors.js";

/** A not-yet-existing `waypoint` directory inside a fresh temp dir. */
function tempDir(t: ExecutionContext): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "waypoint-contexts-"));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  return path.join(root, "waypoint");
}

function ctx(name: string, extra: Partial<ContextConfig> = {}): ContextConfig {
  return {
    name,
    address: "localhost:9701",
    tls: false,
    tlsSkipVerify: false,
    createdAt: "2025-01-01T00:00:00.000Z",
    ...extra,
  };
}

const mode = (file: string): number => fs.statSync(file).mode & 0o777;
const file = (dir: string, name: string): string => path.join(dir, "contexts", `${name}.json`);

function code(t: ExecutionContext, fn: () => unknown): AppError | undefined {
  return t.throws(fn, { instanceOf: AppError });
}

test.serial("Directories are 0700 and files 0600 even under a restrictive umask.", (t) => {
  const dir = tempDir(t);
  const old = process.umask(0o277);
  try {
    saveContext(dir, ctx("prod"), { setDefault: true });
  } finally {
    process.umask(old);
  }
  t.is(mode(dir), 0o700);
  t.is(mode(path.join(dir, "contexts")), 0o700);
  t.is(mode(file(dir, "prod")), 0o600);
  t.is(mode(path.join(dir, "current")), 0o600);
});

test("contextsDir uses XDG_CONFIG_HOME when it is an absolute path.", (t) => {
  t.is(contextsDir({ XDG_CONFIG_HOME: "/x/cfg", HOME: "/home/u" }), path.join("/x/cfg", "waypoint"));
});

test("contextsDir falls back to ~/.config when XDG_CONFIG_HOME is unset, empty or relative.", (t) => {
  const want = path.join("/home/u", ".config", "waypoint");
  t.is(contextsDir({ HOME: "/home/u" }), want);
  t.is(contextsDir({ HOME: "/home/u", XDG_CONFIG_HOME: "" }), want);
  t.is(contextsDir({ HOME: "/home/u", XDG_CONFIG_HOME: "rel/cfg" }), want);
  t.is(contextsDir({}), path.join(os.homedir(), ".config", "waypoint"));
});

test("A saved context loads back with the same fields.", (t) => {
  const dir = tempDir(t);
  const saved = ctx("prod", {
    address: "wp.example.com:9701",
    token: "s3cret",
    tls: true,
    tlsSkipVerify: true,
  });
  saveContext(dir, saved);
  t.deepEqual(loadContext(dir, "prod"), saved);
  t.deepEqual(JSON.parse(fs.readFileSync(file(dir, "prod"), "utf8")), saved);
});

test("A context without a token loads without a token key.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("dev"));
  t.false("token" in loadContext(dir, "dev"));
});

test("Saving with force replaces the file atomically by renaming a new one into place.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("prod"));
  const before = fs.statSync(file(dir, "prod")).ino;
  saveContext(dir, ctx("prod", { address: "other:1" }), { force: true });
  t.not(fs.statSync(file(dir, "prod")).ino, before);
  t.is(loadContext(dir, "prod").address, "other:1");
  t.deepEqual(fs.readdirSync(path.join(dir, "contexts")), ["prod.json"]);
  t.deepEqual(fs.readdirSync(dir).sort(), ["contexts"]);
});

test("Replacing a context file with a wide mode leaves it 0600.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("prod"));
  fs.chmodSync(file(dir, "prod"), 0o644);
  saveContext(dir, ctx("prod"), { force: true });
  t.is(mode(file(dir, "prod")), 0o600);
});

test("Saving an existing name without force fails and keeps the old file.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("prod"));
  const err = code(t, () => saveContext(dir, ctx("prod", { address: "other:1" })));
  t.is(err?.code, "ALREADY_EXISTS");
  t.regex(err?.message ?? "", /"prod"/);
  t.is(loadContext(dir, "prod").address, "localhost:9701");
  t.deepEqual(fs.readdirSync(path.join(dir, "contexts")), ["prod.json"]);
});

test("A failed replace leaves neither a partial file nor a temp file behind.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("other"));
  fs.mkdirSync(file(dir, "prod"));
  fs.writeFileSync(path.join(file(dir, "prod"), "keep"), "x");
  const err = code(t, () => saveContext(dir, ctx("prod"), { force: true }));
  t.is(err?.code, "CONTEXT_INVALID");
  t.true(err?.message.includes(file(dir, "prod")));
  t.deepEqual(fs.readdirSync(path.join(dir, "contexts")).sort(), ["other.json", "prod.json"]);
  t.true(fs.statSync(file(dir, "prod")).isDirectory());
});

test("Saving an invalid context writes nothing.", (t) => {
  const dir = tempDir(t);
  const err = code(t, () => saveContext(dir, ctx("prod", { address: " " })));
  t.is(err?.code, "INVALID_ARGUMENT");
  t.false(fs.existsSync(file(dir, "prod")));
});

for (const bad of ["", "-x", ".hidden", "_x", "a/b", "../x", "a b", "ä", "a".repeat(64)]) {
  test(`The context name ${JSON.stringify(bad)} is rejected with the naming rule.`, (t) => {
    const dir = tempDir(t);
    for (const fn of [
      () => saveContext(dir, ctx(bad)),
      () => loadContext(dir, bad),
      () => selectContext(dir, bad),
      () => deleteContext(dir, bad),
    ]) {
      const err = code(t, fn);
      t.is(err?.code, "USAGE");
      t.regex(err?.hint ?? "", /1 to 63 characters/);
    }
    t.false(fs.existsSync(dir));
  });
}

test("Names with dots, dashes, underscores and 63 characters are accepted.", (t) => {
  const dir = tempDir(t);
  for (const name of ["a", "Prod.eu-1_b", "9", "a".repeat(63)]) {
    saveContext(dir, ctx(name));
    t.is(loadContext(dir, name).name, name);
  }
});

test("Loading a missing context is NOT_FOUND and points at context list.", (t) => {
  const dir = tempDir(t);
  const err = code(t, () => loadContext(dir, "ghost"));
  t.is(err?.code, "NOT_FOUND");
  t.regex(err?.message ?? "", /"ghost"/);
  t.regex(err?.hint ?? "", /waypoint context list/);
});

test("A corrupt context file is CONTEXT_INVALID naming the file.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("prod"));
  fs.writeFileSync(file(dir, "prod"), '{"name": "prod", "addr');
  const err = code(t, () => loadContext(dir, "prod"));
  t.is(err?.code, "CONTEXT_INVALID");
  t.true(err?.message.includes(file(dir, "prod")));
  t.regex(err?.message ?? "", /not valid JSON/);
});

const badFields: [string, unknown][] = [
  ["an empty address", { ...ctx("prod"), address: "" }],
  ["a missing address", { ...ctx("prod"), address: undefined }],
  ["a numeric address", { ...ctx("prod"), address: 9701 }],
  ["a string tls flag", { ...ctx("prod"), tls: "yes" }],
  ["a missing tlsSkipVerify", { ...ctx("prod"), tlsSkipVerify: undefined }],
  ["a numeric token", { ...ctx("prod"), token: 5 }],
  ["a missing createdAt", { ...ctx("prod"), createdAt: undefined }],
  ["another context's name", ctx("staging")],
  ["an array", [ctx("prod")]],
  ["null", null],
];

for (const [what, content] of badFields) {
  test(`A context file with ${what} is CONTEXT_INVALID.`, (t) => {
    const dir = tempDir(t);
    saveContext(dir, ctx("prod"));
    fs.writeFileSync(file(dir, "prod"), JSON.stringify(content));
    const err = code(t, () => loadContext(dir, "prod"));
    t.is(err?.code, "CONTEXT_INVALID");
    t.true(err?.message.includes(file(dir, "prod")));
  });
}

test("A context file readable by others still loads.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("prod"));
  fs.chmodSync(file(dir, "prod"), 0o644);
  t.is(loadContext(dir, "prod").name, "prod");
});

test("Listing a directory that does not exist yet gives no contexts.", (t) => {
  t.deepEqual(listContexts(tempDir(t)), { contexts: [] });
});

test("Listing returns contexts sorted by name, skips stray files and reports the current one.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("zeta"));
  saveContext(dir, ctx("alpha"), { setDefault: true });
  fs.writeFileSync(path.join(dir, "contexts", ".zeta.json.1.abc.tmp"), "{");
  fs.writeFileSync(path.join(dir, "contexts", "notes.txt"), "x");
  const listed = listContexts(dir);
  t.deepEqual(
    listed.contexts.map((c) => c.name),
    ["alpha", "zeta"],
  );
  t.is(listed.current, "alpha");
});

test("Saving without setDefault leaves the current context alone.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"));
  t.is(currentContext(dir), undefined);
  t.is(listContexts(dir).current, undefined);
  saveContext(dir, ctx("two"), { setDefault: true });
  saveContext(dir, ctx("three"));
  t.is(currentContext(dir)?.name, "two");
});

test("selectContext switches the current context and writes it 0600.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"), { setDefault: true });
  saveContext(dir, ctx("two", { address: "two:1" }));
  selectContext(dir, "two");
  t.deepEqual(currentContext(dir), ctx("two", { address: "two:1" }));
  t.is(fs.readFileSync(path.join(dir, "current"), "utf8").trim(), "two");
  t.is(mode(path.join(dir, "current")), 0o600);
});

test("selectContext with a missing name is NOT_FOUND and keeps the current context.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"), { setDefault: true });
  t.is(code(t, () => selectContext(dir, "ghost"))?.code, "NOT_FOUND");
  t.is(currentContext(dir)?.name, "one");
});

test("Deleting the current context clears current.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"), { setDefault: true });
  saveContext(dir, ctx("two"));
  deleteContext(dir, "one");
  t.false(fs.existsSync(file(dir, "one")));
  t.false(fs.existsSync(path.join(dir, "current")));
  t.is(currentContext(dir), undefined);
  t.deepEqual(listContexts(dir), { contexts: [ctx("two")] });
});

test("Deleting another context keeps current.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"), { setDefault: true });
  saveContext(dir, ctx("two"));
  deleteContext(dir, "two");
  t.is(currentContext(dir)?.name, "one");
  t.false(fs.existsSync(file(dir, "two")));
});

test("Deleting a missing context is NOT_FOUND.", (t) => {
  const dir = tempDir(t);
  const err = code(t, () => deleteContext(dir, "ghost"));
  t.is(err?.code, "NOT_FOUND");
  t.regex(err?.hint ?? "", /waypoint context list/);
});

test("A current file naming a missing context is CONTEXT_INVALID naming that file.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"));
  fs.writeFileSync(path.join(dir, "current"), "ghost\n");
  const err = code(t, () => currentContext(dir));
  t.is(err?.code, "CONTEXT_INVALID");
  t.true(err?.message.includes(path.join(dir, "current")));
  t.is(listContexts(dir).current, undefined);
});

test("A current file holding an invalid name is CONTEXT_INVALID.", (t) => {
  const dir = tempDir(t);
  saveContext(dir, ctx("one"));
  fs.writeFileSync(path.join(dir, "current"), "../etc/passwd\n");
  t.is(code(t, () => currentContext(dir))?.code, "CONTEXT_INVALID");
});
