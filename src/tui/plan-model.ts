import { compareVersions } from "../planner/compat.js";
import { planUpgrade } from "../planner/plan.js";
import type { GroupSummary, Plan, PlanStep } from "../planner/types.js";
import type { Catalog } from "../protocol/catalog.js";
import { isAppError } from "../protocol/errors.js";
import type { InventoryComponent, InventoryJson } from "../protocol/inventory.js";

/** The releases the fleet can be taken to: the server's own and newer, oldest first. */
export function targetReleases(catalog: Catalog, serverVersion: string): string[] {
  return catalog.releases
    .map((r) => r.version)
    .filter((v) => safeCompare(v, serverVersion) >= 0)
    .sort(safeCompare);
}

function safeCompare(a: string, b: string): number {
  try {
    return compareVersions(a, b);
  } catch {
    return a.localeCompare(b);
  }
}

/** A plan the console made, from the inventory as it was then. */
export interface MadePlan {
  readonly plan?: Plan;
  /** Why no plan could be made (the planner's error). */
  readonly error?: string;
  /** Date.now() when it was made: steps' progress is measured from the live inventory since. */
  readonly at: number;
  /** The target it was made for (undefined: the catalog's newest). */
  readonly target: string | undefined;
  /** The id of the last snapshot the server had recorded then (null: none; undefined: not known yet). */
  readonly snapshotBefore: string | null | undefined;
  readonly inventory: InventoryJson;
}

export function makePlan(
  inventory: InventoryJson,
  catalog: Catalog,
  target: string | undefined,
  catalogFile: string | undefined,
  at: number,
  snapshotBefore: string | null | undefined,
): MadePlan {
  try {
    const plan = planUpgrade(inventory, catalog, {
      ...(target === undefined ? {} : { target }),
      ...(catalogFile === undefined ? {} : { catalogFile }),
    });
    return { plan, at, inventory, target, snapshotBefore };
  } catch (err) {
    const error = isAppError(err) || err instanceof Error ? err.message : String(err);
    return { error, at, inventory, target, snapshotBefore };
  }
}

/** How far one step has come, judged from the live inventory (and the last snapshot, for the snapshot step). */
export interface StepProgress {
  readonly done: boolean;
  /** Done outside what the console can see (a file copied by hand): never holds up `verify`. */
  readonly manual?: boolean;
  /** "entrypoints on 0.2.0: 7 of 12 redeployed". */
  readonly text: string;
}

export interface ProgressFacts {
  readonly inventory: InventoryJson;
  /** The inventory the plan was made from. */
  readonly planned: InventoryJson;
  /**
   * The last snapshot the server recorded when the plan was made (null: none), and now. The snapshot
   * step is done once they differ: ids, not clocks, since the server's clock is not the console's.
   */
  readonly snapshotBefore: string | null | undefined;
  readonly snapshotNow: string | null;
}

const VERB: Record<string, string> = {
  "upgrade-clients": "upgraded",
  "upgrade-runners": "upgraded",
  "redeploy-entrypoints": "redeployed",
};

/** Each step's progress; `verify` is done once every mandatory step before it is. */
export function planProgress(plan: Plan, facts: ProgressFacts): StepProgress[] {
  const out: StepProgress[] = [];
  for (const step of plan.steps) {
    if (step.action === "verify") {
      const pending = out.filter((p, i) => !p.done && !p.manual && !plan.steps[i]!.optional).length;
      out.push(
        pending === 0
          ? { done: true, text: "every mandatory step is done: check the plan" }
          : { done: false, text: `after the ${pending} step${pending === 1 ? "" : "s"} still to do` },
      );
    } else {
      out.push(stepProgress(step, facts));
    }
  }
  return out;
}

export function stepProgress(step: PlanStep, facts: ProgressFacts): StepProgress {
  const inv = facts.inventory;
  switch (step.action) {
    case "snapshot": {
      // A release with known snapshot issues gets a step that copies the database file instead, which
      // the server cannot see: it is done by hand, and does not hold up the steps after it.
      if (!step.commands.some((c) => c.startsWith("waypoint server snapshot")))
        return { done: false, manual: true, text: "by hand: follow its commands" };
      if (
        facts.snapshotBefore !== undefined &&
        facts.snapshotNow !== null &&
        facts.snapshotNow !== facts.snapshotBefore
      )
        return { done: true, text: "taken since the plan was made" };
      return { done: false, text: "none since the plan was made: s takes one" };
    }
    case "upgrade-server": {
      const done = compareVersions(inv.server.version, step.to) >= 0;
      return { done, text: `server on ${inv.server.version}` };
    }
    case "stop-runners": {
      // Stopped, or already back on a newer version (the next step upgrades them): either way done.
      const ids = new Set(step.components);
      const before = new Map(
        facts.planned.components.filter((c) => c.kind === "runner").map((c) => [c.id, c.version]),
      );
      const running = inv.components.filter(
        (c) =>
          c.kind === "runner" &&
          ids.has(c.id) &&
          c.connected &&
          compareVersions(c.version, before.get(c.id) ?? c.version) <= 0,
      );
      return {
        done: running.length === 0,
        text: `${ids.size - running.length} of ${ids.size} stopped or upgraded`,
      };
    }
    default: {
      const kind = step.action.replace(/^(upgrade|redeploy)-/, "").replace(/s$/, "");
      const ids = new Set(step.components);
      const byId = new Map<string, InventoryComponent>();
      for (const c of inv.components) if (c.kind === kind && ids.has(c.id)) byId.set(c.id, c);
      // Still to move: present at an older version (entrypoints: also still connected; a redeploy
      // replaces the instance, whose old id then goes quiet).
      const behind = [...ids].filter((id) => {
        const c = byId.get(id);
        if (!c) return false;
        if (kind === "entrypoint" && !c.connected) return false;
        return compareVersions(c.version, step.to) < 0;
      });
      const from = [...new Set(behind.map((id) => byId.get(id)!.version))].sort();
      const prefix = from.length > 0 ? `${kind}s on ${from.join(", ")}: ` : `${kind}s: `;
      return {
        done: behind.length === 0,
        text: `${prefix}${ids.size - behind.length} of ${ids.size} ${VERB[step.action] ?? "moved"}`,
      };
    }
  }
}

/** What the plan says of the group a component version belongs to (the Versions screen's marks). */
export function statusOf(
  plan: Plan | undefined,
  kind: string,
  version: string,
): GroupSummary["status"] | undefined {
  return plan?.summary.find((g) => g.kind === kind && g.version === version)?.status;
}

export const STATUS_MARK: Record<GroupSummary["status"], string> = {
  fine: "fine",
  "must-move": "must move first",
  optional: "optional",
  blocked: "blocked",
};
