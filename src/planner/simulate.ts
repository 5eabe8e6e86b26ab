import semver from "semver";
import type { Catalog } from "../protocol/catalog.js";
import type { InventoryJson } from "../protocol/inventory.js";
import { type ComponentVersion, hopAllowed, incompatibility, type ServerState } from "./compat.js";
import { currentServer, groupComponents, releaseAsComponent, releaseMap, releaseState } from "./model.js";
import { type Plan, SERVER_ID } from "./types.js";

export type SimulationResult =
  | { readonly ok: true; readonly states: number; readonly alreadyBroken: readonly string[] }
  | {
      readonly ok: false;
      /** Index into plan.steps of the step after which the state is unsafe. */
      readonly step: number;
      readonly component: string;
      readonly reason: string;
      readonly alreadyBroken: readonly string[];
    };

interface Sim {
  version: ComponentVersion;
  online: boolean;
  /** Incompatible before the plan started: not checked until it moves. */
  broken: boolean;
}

/**
 * Replays `plan` from the state in `inventory` and reports the first state
 * (after a step) in which an online component is incompatible with the
 * server, a server hop skips a required stop, a move goes backwards or names
 * an unknown release, or runners are left offline at the end.
 */
export function simulate(plan: Plan, inventory: InventoryJson, catalog: Catalog): SimulationResult {
  const releases = releaseMap(catalog);
  let server: ServerState = currentServer(inventory, releases);
  const sims = new Map<string, Sim>();
  for (const g of groupComponents(inventory.components, releases)) {
    const broken = incompatibility(g.current, server) !== undefined;
    for (const id of g.ids) sims.set(id, { version: g.current, online: true, broken });
  }
  const alreadyBroken = [...sims].filter(([, s]) => s.broken).map(([id]) => id);
  const fail = (step: number, component: string, reason: string): SimulationResult => ({
    ok: false,
    step,
    component,
    reason,
    alreadyBroken,
  });

  for (let i = 0; i < plan.steps.length; i++) {
    const step = plan.steps[i]!;
    const release = releases.get(step.to);
    switch (step.action) {
      case "snapshot":
      case "verify":
        continue;
      case "upgrade-server": {
        if (!release) return fail(i, SERVER_ID, `release ${step.to} is not in the catalog`);
        if (semver.lt(step.to, server.version))
          return fail(i, SERVER_ID, `moves the server back from ${server.version}`);
        if (!hopAllowed(server.version, releaseState(release))) {
          return fail(
            i,
            SERVER_ID,
            `${step.to} accepts upgrades only from ${release.serverUpgradeFrom}, not ${server.version}`,
          );
        }
        server = releaseState(release);
        break;
      }
      case "stop-runners":
        for (const id of step.components) {
          const s = sims.get(id);
          if (!s) return fail(i, id, "not in the inventory");
          s.online = false;
        }
        break;
      default: {
        if (!release)
          return fail(i, step.components[0] ?? SERVER_ID, `release ${step.to} is not in the catalog`);
        for (const id of step.components) {
          const s = sims.get(id);
          if (!s) return fail(i, id, "not in the inventory");
          if (semver.lt(step.to, s.version.version))
            return fail(i, id, `moves ${id} back from ${s.version.version}`);
          s.version = releaseAsComponent(s.version.kind, release);
          s.online = true;
          s.broken = false;
        }
      }
    }
    for (const [id, s] of sims) {
      if (!s.online || s.broken) continue;
      const why = incompatibility(s.version, server);
      if (why) return fail(i, id, why);
    }
  }
  for (const [id, s] of sims)
    if (!s.online) return fail(plan.steps.length - 1, id, "left offline at the end of the plan");
  return { ok: true, states: plan.steps.length + 1, alreadyBroken };
}
