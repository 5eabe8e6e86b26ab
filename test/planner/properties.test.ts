import test from "ava";
import fc from "fast-check";
import { incompatibility } from "../../src/planner/compat.js";
import { currentServer, groupComponents, releaseMap } from "../../src/planner/model.js";
import { planUpgrade } from "../../src/planner/plan.js";
import { simulate } from "../../src/planner/simulate.js";
import type { Catalog } from "../../src/protocol/catalog.js";
import type { InventoryJson } from "../../src/protocol/inventory.js";
import { fleetOn, smallCatalog } from "./arbitraries.js";
import { exhaustiveMinimum } from "./exhaustive.js";

const scenario = smallCatalog.chain((catalog) => fleetOn(catalog).map((f) => ({ catalog, ...f })));

/** Accepted components are compatible with the server that accepted them. */
function compatibleNow(catalog: Catalog, inv: InventoryJson): boolean {
  const releases = releaseMap(catalog);
  const server = currentServer(inv, releases);
  return groupComponents(inv.components, releases).every(
    (g) => incompatibility(g.current, server) === undefined,
  );
}

test("every plan the planner returns passes simulate", (t) => {
  fc.assert(
    fc.property(scenario, ({ catalog, inventory, target }) => {
      fc.pre(compatibleNow(catalog, inventory));
      const plan = planUpgrade(inventory, catalog, { target });
      if (plan.kind === "impossible") return;
      const sim = simulate(plan, inventory, catalog);
      if (!sim.ok) throw new Error(`simulate failed at step ${sim.step}: ${sim.component}: ${sim.reason}`);
    }),
    { numRuns: Number(process.env.PLANNER_RUNS ?? 400) },
  );
  t.pass();
});

test("the planner says impossible exactly when an exhaustive search finds no safe plan, and otherwise matches its minimum", (t) => {
  fc.assert(
    fc.property(scenario, ({ catalog, inventory, target }) => {
      fc.pre(compatibleNow(catalog, inventory));
      const plan = planUpgrade(inventory, catalog, { target });
      const best = exhaustiveMinimum(inventory, catalog, target);
      if (!best) {
        if (plan.kind !== "impossible")
          throw new Error(`planner found a ${plan.kind} plan; exhaustive found none`);
        return;
      }
      if (plan.kind === "impossible")
        throw new Error(`planner says impossible; exhaustive found ${JSON.stringify(best)}`);
      const got = plan.cost;
      const want = {
        entrypointRedeploys: best.entrypointRedeploys,
        runnerMoves: best.runnerMoves,
        clientMoves: best.clientMoves,
        serverHops: best.serverHops,
        steps: best.steps,
      };
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new Error(`planner cost ${JSON.stringify(got)} != exhaustive minimum ${JSON.stringify(want)}`);
      }
    }),
    { numRuns: Number(process.env.PLANNER_RUNS ?? 300) },
  );
  t.pass();
});

test("the greedy path search (used past the exhaustive limit) still returns only safe plans, never cheaper than the exact one", (t) => {
  fc.assert(
    fc.property(scenario, ({ catalog, inventory, target }) => {
      fc.pre(compatibleNow(catalog, inventory));
      const greedy = planUpgrade(inventory, catalog, { target, exhaustiveStops: 0 });
      const exact = planUpgrade(inventory, catalog, { target });
      if (greedy.kind === "impossible") return;
      const sim = simulate(greedy, inventory, catalog);
      if (!sim.ok) throw new Error(`greedy plan unsafe at step ${sim.step}: ${sim.reason}`);
      if (exact.kind === "impossible") throw new Error("greedy found a plan the exact search missed");
      const order = ["entrypointRedeploys", "runnerMoves", "clientMoves", "serverHops"] as const;
      for (const k of order) {
        if (greedy.cost[k] !== exact.cost[k]) {
          if (greedy.cost[k] < exact.cost[k]) throw new Error(`greedy beat exact on ${k}`);
          break;
        }
      }
    }),
    { numRuns: Number(process.env.PLANNER_RUNS ?? 300) },
  );
  t.pass();
});
