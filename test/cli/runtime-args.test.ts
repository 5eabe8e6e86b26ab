import test from "ava";
import { type FlagSpec, parseFlags } from "../../src/cli/flags.js";
import {
  parseConfigNames,
  parseConfigPairs,
  parseCount,
  pickSelector,
  selectorRequest,
} from "../../src/cli/runtime-args.js";
import { AppError } from "../../src/protocol/errors.js";

const usageError = (t: import("ava").ExecutionContext, fn: () => unknown, message: string) => {
  const err = t.throws(fn, { instanceOf: AppError });
  t.is(err?.code, "USAGE");
  t.is(err?.message, message);
};

test("KEY=VALUE pairs split at the first equals sign and keep empty values", (t) => {
  t.deepEqual(parseConfigPairs(["A=1", "URL=postgres://h/db?x=y", "EMPTY=", "_x9=a b"], "config set"), [
    { name: "A", value: "1" },
    { name: "URL", value: "postgres://h/db?x=y" },
    { name: "EMPTY", value: "" },
    { name: "_x9", value: "a b" },
  ]);
});

test("a pair without an equals sign is a usage error naming it when it looks like a name", (t) => {
  usageError(
    t,
    () => parseConfigPairs(["A=1", "LOG_LEVEL"], "config set"),
    '"LOG_LEVEL" (argument 2) is not KEY=VALUE; nothing was written',
  );
});

test("a pair without an equals sign that may be a secret is named only by position", (t) => {
  usageError(
    t,
    () => parseConfigPairs(["s3cr3t/value!"], "config set"),
    "argument 1 is not KEY=VALUE; nothing was written",
  );
});

test("a bad name or an empty one is a usage error naming the argument", (t) => {
  usageError(
    t,
    () => parseConfigPairs(["A=1", "9LIVES=x"], "config set"),
    `the variable name "9LIVES" is not an environment variable name: letters, digits and "_", not starting with a digit (argument 2); nothing was written`,
  );
  usageError(
    t,
    () => parseConfigPairs(["=x"], "config set"),
    "a configuration variable name is empty (argument 1); nothing was written",
  );
  usageError(
    t,
    () => parseConfigPairs(["A-B=x"], "config set"),
    `the variable name "A-B" is not an environment variable name: letters, digits and "_", not starting with a digit (argument 1); nothing was written`,
  );
  usageError(
    t,
    () => parseConfigPairs(["waypoint_server_addr=x"], "config set"),
    `the variable name "waypoint_server_addr" starts with WAYPOINT_, which is reserved for the entrypoint's own variables (argument 1); nothing was written`,
  );
  usageError(
    t,
    () => parseConfigPairs(["A=a\u0000b"], "config set"),
    "the value of A contains a NUL character, which an environment cannot hold (argument 1); nothing was written",
  );
});

test("a name given twice in one set is refused", (t) => {
  usageError(
    t,
    () => parseConfigPairs(["A=1", "A=2"], "config set"),
    "A is given more than once (argument 2); nothing was written",
  );
});

test("no pairs at all is a usage error", (t) => {
  usageError(t, () => parseConfigPairs([], "config set"), "waypoint config set needs at least one KEY=VALUE");
});

test("names to unset are checked and deduplicated", (t) => {
  t.deepEqual(parseConfigNames(["A", "B", "A"], "config unset"), ["A", "B"]);
  usageError(
    t,
    () => parseConfigNames(["A=1"], "config unset"),
    `the variable name "A=1" is not an environment variable name: letters, digits and "_", not starting with a digit (argument 1); nothing was written`,
  );
  usageError(t, () => parseConfigNames([], "config unset"), "waypoint config unset needs at least one KEY");
});

const SELECTORS: readonly FlagSpec[] = [
  { name: "app", type: "string", usage: "" },
  { name: "deployment", type: "string", usage: "" },
  { name: "instance", type: "string", usage: "" },
];
const pick = (argv: string[]) => pickSelector(parseFlags(argv, SELECTORS), ["app", "deployment", "instance"]);

test("at most one selector: none selects everything, one selects by it", (t) => {
  t.deepEqual(pick([]), { kind: "all" });
  t.deepEqual(pick(["-app=web"]), { kind: "app", app: "web" });
  t.deepEqual(pick(["-deployment=web-v2"]), { kind: "deployment", deployment: "web-v2" });
  t.deepEqual(pick(["-instance", "i-1"]), { kind: "instance", instance: "i-1" });
  t.deepEqual(selectorRequest(pick(["-instance=i-1"])), { instance: "i-1" });
  t.deepEqual(selectorRequest(pick([])), {});
});

test("two selectors, or an empty one, are usage errors", (t) => {
  usageError(t, () => pick(["-app=web", "-instance=i-1"]), "-app and -instance do not combine; give one");
  usageError(t, () => pick(["-app="]), "-app needs a value");
});

test("-tail takes a whole number", (t) => {
  t.is(parseCount("tail", undefined), undefined);
  t.is(parseCount("tail", "0"), 0);
  t.is(parseCount("tail", "250"), 250);
  for (const bad of ["-1", "1.5", "ten", "", "99999999999"]) {
    usageError(
      t,
      () => parseCount("tail", bad),
      `invalid value "${bad}" for -tail: want a whole number of lines`,
    );
  }
});
