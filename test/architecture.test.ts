// Runs dependency-cruiser with the project's own rules (.dependency-cruiser.cjs) against the real
// src/ and against fixtures/architecture/src, a fake tree in which each bad-*.ts file breaks one rule.
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import test from "ava";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("../fixtures/architecture", import.meta.url));
const CONFIG = fileURLToPath(new URL("../.dependency-cruiser.cjs", import.meta.url));
const DEPCRUISE = fileURLToPath(new URL("../node_modules/.bin/depcruise", import.meta.url));

/** The rule names the config declares, so a new rule without a fixture case fails this test. */
const RULE_NAMES = (createRequire(import.meta.url)(CONFIG) as { forbidden: { name: string }[] }).forbidden
  .map((rule) => rule.name)
  .sort();

/** One violation as depcruise's JSON reporter gives it (only the fields used here). */
interface Violation {
  readonly type: string;
  readonly from: string;
  readonly unresolvedTo: string;
  readonly rule: { readonly name: string };
  readonly cycle?: readonly { readonly name: string }[];
}

interface Run {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `depcruise` with our config on `src` in `cwd`; resolves whatever the exit code. */
function depcruise(cwd: string, outputType: "json" | "err-long"): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      DEPCRUISE,
      ["--config", CONFIG, "--output-type", outputType, "src"],
      { cwd, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const exitCode = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ exitCode, stdout, stderr });
      },
    );
  });
}

/** The violations found in `cwd` (the JSON reporter always exits 0, so they are all we get). */
async function violationsIn(cwd: string): Promise<readonly Violation[]> {
  const run = await depcruise(cwd, "json");
  try {
    return (JSON.parse(run.stdout) as { summary: { violations: Violation[] } }).summary.violations;
  } catch {
    throw new Error(`depcruise in ${cwd} gave no JSON report (exit ${run.exitCode}): ${run.stderr}`);
  }
}

/** "rule: from → import" — or, for a cycle, the rule and the sorted modules in it. */
function describe(violation: Violation): string {
  if (violation.cycle) {
    const modules = new Set([violation.from, ...violation.cycle.map((step) => step.name)]);
    return `${violation.rule.name}: ${[...modules].sort().join(" ↔ ")}`;
  }
  return `${violation.rule.name}: ${violation.from} → ${violation.unresolvedTo}`;
}

const describeAll = (violations: readonly Violation[]) => [...new Set(violations.map(describe))].sort();

// Each tree is cruised once and shared by the tests below.
const fixtureViolations = violationsIn(FIXTURE);
const realViolations = violationsIn(ROOT);

test("the real src tree breaks no architecture rule", async (t) => {
  t.deepEqual(describeAll(await realViolations), [], "run `npm run check:deps` for the full report");
});

test("every rule in the config is reported on the broken fixture tree", async (t) => {
  const violations = await fixtureViolations;
  t.deepEqual(RULE_NAMES, [
    "entrypoint-through-client",
    "no-cycles",
    "pure-protocol-planner",
    "sqlite-only-in-store",
    "ui-through-client",
  ]);
  t.deepEqual([...new Set(violations.map((violation) => violation.rule.name))].sort(), RULE_NAMES);
});

test("the check exits with one error per violation on the broken fixture tree and says why", async (t) => {
  // Same reporter as the check:deps script: it exits with the number of errors.
  const { exitCode, stdout } = await depcruise(FIXTURE, "err-long");
  t.is(exitCode, (await fixtureViolations).length);
  for (const name of RULE_NAMES) t.regex(stdout, new RegExp(`error ${name}: `));
  t.regex(stdout, /Only src\/server\/store touches SQLite\./);
});

test("each bad fixture file is reported under its rule and no allowed import is", async (t) => {
  t.deepEqual(describeAll(await fixtureViolations), [
    "entrypoint-through-client: src/entrypoint/bad-server.ts → ../server/server.js",
    "no-cycles: src/runner/a.ts ↔ src/runner/b.ts",
    "pure-protocol-planner: src/planner/bad-build-info.ts → ../build-info.js",
    "pure-protocol-planner: src/planner/bad-fs-promises.ts → fs/promises",
    "pure-protocol-planner: src/protocol/bad-io.ts → fs",
    "sqlite-only-in-store: src/client/bad-sqlite.ts → better-sqlite3",
    "ui-through-client: src/cli/bad-grpc.ts → @grpc/grpc-js",
    "ui-through-client: src/runner/bad-grpc.ts → @grpc/grpc-js",
    "ui-through-client: src/tui/bad-server.ts → ../server/server.js",
  ]);
});
