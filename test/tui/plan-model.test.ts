/** Each plan step's progress as the console judges it from the live inventory. */
import test from "ava";
import type { Plan, PlanStep } from "../../src/planner/types.js";
import type { InventoryComponent, InventoryJson } from "../../src/protocol/inventory.js";
import { planProgress, stepProgress } from "../../src/tui/plan-model.js";

const NOW = new Date().toISOString();

function inv(server: string, components: Partial<InventoryComponent>[]): InventoryJson {
  return {
    server: { version: server, api: { min: 1, current: 2 }, entrypoint: { min: 1, current: 2 } },
    activeWindow: "168h",
    components: components.map((c) => ({
      kind: "runner",
      id: "r",
      version: "1.0.0",
      lastSeen: NOW,
      connected: true,
      ...c,
    })) as InventoryComponent[],
    rejected: [],
  };
}

function step(
  action: PlanStep["action"],
  to: string,
  components: string[],
  commands: string[] = [],
): PlanStep {
  return { action, to, components, optional: false, reason: "", commands, warnings: [] };
}

function plan(steps: PlanStep[]): Plan {
  return {
    target: "2.0.0",
    kind: "incompatible",
    steps,
    blockers: [],
    warnings: [],
    summary: [],
    cost: { entrypointRedeploys: 0, runnerMoves: 0, clientMoves: 0, serverHops: 0, steps: 0 },
  };
}

const before = inv("1.0.0", [
  { id: "r1", version: "1.0.0" },
  { id: "r2", version: "1.0.0" },
]);
const facts = (
  now: InventoryJson,
  snapshotBefore: string | null | undefined = null,
  snapshotNow: string | null = null,
) => ({
  inventory: now,
  planned: before,
  snapshotBefore,
  snapshotNow,
});

test("stopped runners stay done once they come back upgraded", (t) => {
  const stop = step("stop-runners", "2.0.0", ["r1", "r2"]);
  t.like(stepProgress(stop, facts(before)), { done: false, text: "0 of 2 stopped or upgraded" });
  const stopped = inv("1.0.0", [
    { id: "r1", connected: false },
    { id: "r2", version: "1.0.0" },
  ]);
  t.like(stepProgress(stop, facts(stopped)), { done: false, text: "1 of 2 stopped or upgraded" });
  const back = inv("2.0.0", [
    { id: "r1", version: "2.0.0" },
    { id: "r2", version: "2.0.0" },
  ]);
  t.like(stepProgress(stop, facts(back)), { done: true, text: "2 of 2 stopped or upgraded" });
});

test("the snapshot step is done when the server recorded another snapshot than when the plan was made", (t) => {
  const snap = step("snapshot", "2.0.0", ["server"], ["waypoint server snapshot pre-upgrade-2.0.0.snap"]);
  t.false(stepProgress(snap, facts(before, null, null)).done);
  t.false(stepProgress(snap, facts(before, "snap_a", "snap_a")).done, "the same one as before");
  t.true(stepProgress(snap, facts(before, "snap_a", "snap_b")).done);
  t.true(stepProgress(snap, facts(before, null, "snap_b")).done);
  t.false(
    stepProgress(snap, {
      inventory: before,
      planned: before,
      snapshotBefore: undefined,
      snapshotNow: "snap_b",
    }).done,
    "not known what was there before",
  );
});

test("a snapshot step done by hand (known snapshot issues) does not hold up verify", (t) => {
  const byHand = step(
    "snapshot",
    "2.0.0",
    ["server"],
    ["cp -p DATA_DIR/data.db DATA_DIR/data.db.pre-upgrade"],
  );
  const p = planProgress(
    plan([byHand, step("upgrade-server", "2.0.0", ["server"]), step("verify", "2.0.0", [])]),
    facts(inv("2.0.0", [])),
  );
  t.like(p[0], { done: false, manual: true, text: "by hand: follow its commands" });
  t.true(p[1]!.done);
  t.like(p[2], { done: true });
});

test("entrypoints count as redeployed once their instance is gone or newer", (t) => {
  const redeploy = step("redeploy-entrypoints", "2.0.0", ["e1", "e2", "e3"]);
  const now = inv("1.0.0", [
    { kind: "entrypoint", id: "e1", version: "1.0.0", connected: false },
    { kind: "entrypoint", id: "e2", version: "1.0.0", connected: true },
    { kind: "entrypoint", id: "e4", version: "2.0.0", connected: true },
  ]);
  t.like(stepProgress(redeploy, facts(now)), {
    done: false,
    text: "entrypoints on 1.0.0: 2 of 3 redeployed",
  });
});
