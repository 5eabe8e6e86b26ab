import type { Plan } from "./types.js";

/**
 * The plan JSON of DESIGN §6 (target, kind, steps, blockers), plus plan-wide
 * warnings and the cost. Keys are picked one by one so that fields added to
 * Plan for people do not leak into the documented shape.
 */
export function planJson(plan: Plan) {
  return {
    target: plan.target,
    kind: plan.kind,
    steps: plan.steps.map((s) => ({
      action: s.action,
      to: s.to,
      components: s.components,
      optional: s.optional,
      reason: s.reason,
      commands: s.commands,
      warnings: s.warnings,
    })),
    blockers: plan.blockers.map((b) => ({ components: b.components, reason: b.reason })),
    warnings: plan.warnings,
    cost: plan.cost,
  };
}
