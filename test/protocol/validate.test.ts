import test from "ava";
import fc from "fast-check";
import semver from "semver";
import { commandProblem, isCanonicalSemver } from "../../src/protocol/validate.js";

/** What isCanonicalSemver stands in for: semver.parse, printed back unchanged. */
function bySemver(text: string): boolean {
  const parsed = semver.parse(text);
  if (parsed === null) return false;
  const build = parsed.build.length > 0 ? `+${parsed.build.join(".")}` : "";
  return `${parsed.version}${build}` === text;
}

const numeric = fc.oneof(
  fc.constantFrom("0", "1", "01", "00", "9007199254740991", "9007199254740992", "99999999999999999999"),
  fc.nat({ max: 1000 }).map(String),
);
const ident = fc.oneof(
  numeric,
  fc.stringMatching(/^[0-9A-Za-z-]{1,6}$/),
  fc.constantFrom("", "alpha", "x.y", "-", "a b", "é"),
);
const versionLike = fc
  .tuple(
    fc.constantFrom("", "v", " ", "="),
    numeric,
    numeric,
    numeric,
    fc.option(fc.array(ident, { minLength: 1, maxLength: 3 })),
    fc.option(fc.array(ident, { minLength: 1, maxLength: 3 })),
    fc.constantFrom("", " ", "\n", ".0"),
  )
  .map(
    ([pre, a, b, c, rel, build, post]) =>
      `${pre}${a}.${b}.${c}${rel ? `-${rel.join(".")}` : ""}${build ? `+${build.join(".")}` : ""}${post}`,
  );

test("isCanonicalSemver agrees with semver.parse on version-like and arbitrary text", (t) => {
  fc.assert(
    fc.property(fc.oneof(versionLike, fc.string({ maxLength: 20 })), (text) => {
      t.is(isCanonicalSemver(text), bySemver(text), JSON.stringify(text));
    }),
    { numRuns: 20_000 },
  );
});

test("isCanonicalSemver: the edges", (t) => {
  for (const text of [
    "1.2.3",
    "0.0.0",
    "1.2.3-rc.1+build.5",
    "v1.2.3",
    " 1.2.3",
    "1.2",
    "01.2.3",
    "1.2.3-01",
    "9007199254740991.0.0",
    "9007199254740992.0.0",
    `1.2.3-${"a".repeat(250)}`,
    `1.2.3-${"a".repeat(251)}`,
  ]) {
    t.is(isCanonicalSemver(text), bySemver(text), text);
  }
});

test("commandProblem: an operation's command is not blank, not over 8192 characters and holds no NUL", (t) => {
  t.is(commandProblem("build", "npm run build && ./package.sh"), undefined);
  t.is(commandProblem("deploy", "x".repeat(8192)), undefined);
  t.is(commandProblem("build", ""), "the build command is empty");
  t.is(commandProblem("build", " \t\n"), "the build command is empty");
  t.regex(commandProblem("deploy", "x".repeat(8193)) ?? "", /deploy command is longer than 8192/);
  t.regex(commandProblem("release", "a\0b") ?? "", /NUL/);
});
