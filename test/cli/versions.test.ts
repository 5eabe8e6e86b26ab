import test from "ava";
import { statusOf } from "../../src/cli/versions.js";
import type { Plan, PlanStep } from "../../src/planner/types.js";
import { runCli } from "../helpers/process.js";

const step = (action: PlanStep["action"], components: string[], optional = false): PlanStep => ({
  action,
  to: "0.4.0",
  components,
  optional,
  reason: "",
  commands: [],
  warnings: [],
});

/** Clients move before the server, runners go offline across it, entrypoints move after it. */
const PLAN: Plan = {
  target: "0.4.0",
  kind: "incompatible",
  steps: [
    step("snapshot", ["server"]),
    step("upgrade-clients", ["cli-1"]),
    step("stop-runners", ["runner-1"]),
    step("upgrade-server", ["server"]),
    step("upgrade-runners", ["runner-1"]),
    step("redeploy-entrypoints", ["web-1"]),
    step("upgrade-clients", ["cli-2"], true),
    step("verify", ["server"]),
  ],
  blockers: [],
  warnings: [],
  summary: [
    { kind: "server", version: "0.2.0", count: 1, planned: "0.4.0", target: "0.4.0", status: "must-move" },
    { kind: "client", version: "0.1.0", count: 1, planned: "0.4.0", target: "0.4.0", status: "must-move" },
    { kind: "client", version: "0.3.0", count: 1, planned: "0.3.0", target: "0.4.0", status: "optional" },
    { kind: "client", version: "0.4.0", count: 1, planned: "0.4.0", target: "0.4.0", status: "fine" },
    { kind: "runner", version: "0.2.0", count: 1, planned: "0.4.0", target: "0.4.0", status: "must-move" },
    {
      kind: "entrypoint",
      version: "0.3.0",
      count: 1,
      planned: "0.4.0",
      target: "0.4.0",
      status: "must-move",
    },
  ],
  cost: { entrypointRedeploys: 1, runnerMoves: 1, clientMoves: 1, serverHops: 1, steps: 5 },
};

test("says when each group must move relative to the server, with the step", (t) => {
  t.is(statusOf(PLAN, "server", "0.2.0", ["server"]), "must move (step 4)");
  t.is(statusOf(PLAN, "client", "0.1.0", ["cli-1"]), "must move before the server (step 2)");
  t.is(statusOf(PLAN, "runner", "0.2.0", ["runner-1"]), "must go offline before the server (step 3)");
  t.is(statusOf(PLAN, "entrypoint", "0.3.0", ["web-1"]), "must move after the server (step 6)");
  t.is(statusOf(PLAN, "client", "0.3.0", ["cli-2"]), "optional (step 7)");
  t.is(statusOf(PLAN, "client", "0.4.0", ["cli-3"]), "fine");
  t.is(statusOf(PLAN, "client", "0.9.9", ["cli-4"]), "-", "a version the plan does not cover");
});

test("marks every group blocked when no safe plan exists", (t) => {
  const impossible: Plan = {
    ...PLAN,
    kind: "impossible",
    steps: [],
    summary: PLAN.summary.map((g) => ({ ...g, status: "blocked" as const })),
  };
  t.is(statusOf(impossible, "client", "0.1.0", ["cli-1"]), "blocked");
});

test("-target with -json is a usage error that points at upgrade plan", async (t) => {
  const r = await runCli(t, ["versions", "-json", "-target=0.1.0"]);
  t.is(r.code, 2);
  t.regex(r.stderr, /-target does not combine with -json/);
  t.regex(r.stderr, /waypoint upgrade plan -format=json/);
});

test("an unknown -target fails before the server is called, naming the catalog", async (t) => {
  // No server address is set: reaching the server would fail with exit code 3 instead.
  const r = await runCli(t, ["versions", "-target=9.9.9", "-catalog=fixtures/catalogs/protocol-steps.json"]);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /-target=9\.9\.9: not a release in the catalog fixtures\/catalogs\/protocol-steps\.json/);
});
