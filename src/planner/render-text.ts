import { table } from "./text-table.js";
import {
  type GroupSummary,
  type Plan,
  type PlanKind,
  type PlanStep,
  SERVER_ID,
  type StepAction,
} from "./types.js";

/** What each plan kind means, after "Upgrade to V: kind — ". Shared with the Markdown form. */
export const KIND_MEANING: Record<PlanKind, string> = {
  standard:
    "no component has to move for the server to reach the target; every component stays compatible as it is",
  incompatible: "components must move, or runners go offline, for the server to reach the target",
  "up-to-date": "the server and every component already run the target",
  impossible: "no safe plan exists; the blockers below say who and why",
};

/** Status words for people (GroupSummary.status). */
export const STATUS_LABEL: Record<GroupSummary["status"], string> = {
  fine: "fine",
  "must-move": "must move",
  optional: "optional",
  blocked: "blocked",
};

/** Actions that move components to `to`; the others (snapshot, stop-runners, verify) are shown without it. */
const MOVES: ReadonlySet<StepAction> = new Set([
  "upgrade-server",
  "upgrade-clients",
  "upgrade-runners",
  "redeploy-entrypoints",
]);

/** How many ids a step shows before "and N more". */
const SHOWN_IDS = 5;

/** "1. upgrade-server → 0.11.4", with "(optional)" for optional steps. */
export function stepTitle(step: PlanStep, index: number): string {
  const to = MOVES.has(step.action) ? ` → ${step.to}` : "";
  return `${index + 1}. ${step.action}${to}${step.optional ? " (optional)" : ""}`;
}

/** "a, b, c, d, e and 7 more": long lists (hundreds of entrypoints) stay one line. */
export function abbreviateIds(ids: readonly string[], quote: (id: string) => string = (id) => id): string {
  const shown = ids.length > SHOWN_IDS + 1 ? ids.slice(0, SHOWN_IDS) : ids;
  const list = shown.map(quote).join(", ");
  return shown.length < ids.length ? `${list} and ${ids.length - shown.length} more` : list;
}

export function summaryRows(plan: Plan): string[][] {
  return plan.summary.map((g) => [
    g.kind,
    String(g.count),
    g.version,
    g.planned,
    g.target,
    STATUS_LABEL[g.status],
  ]);
}

export const SUMMARY_HEADER = ["COMPONENT", "COUNT", "CURRENT", "PLANNED", "TARGET", "STATUS"] as const;

/**
 * The plan for people at a terminal: the header, a table of every group's
 * current, planned and target version (as `kubeadm upgrade plan` prints it),
 * then the numbered steps with their reason, components, warnings and
 * commands; plan-wide warnings and, for impossible plans, the blockers last.
 */
export function renderPlanText(plan: Plan): string {
  const out: string[] = [`Upgrade to ${plan.target}: ${plan.kind} — ${KIND_MEANING[plan.kind]}`, ""];
  out.push(table(SUMMARY_HEADER, summaryRows(plan)));
  if (plan.kind === "up-to-date") out.push("", "Nothing to do.");
  plan.steps.forEach((step, i) => {
    out.push("", stepTitle(step, i), `   ${step.reason}`);
    if (!serverOnly(step)) out.push(`   Components: ${abbreviateIds(step.components)}`);
    for (const w of step.warnings) out.push(`   Warning: ${w}`);
    for (const c of step.commands) out.push(`     ${c}`);
  });
  if (plan.blockers.length > 0) {
    out.push("", "Blockers:");
    for (const b of plan.blockers) out.push(`  - ${abbreviateIds(b.components)}: ${b.reason}`);
  }
  if (plan.warnings.length > 0) {
    out.push("", "Warnings:");
    for (const w of plan.warnings) out.push(`  - ${w}`);
  }
  return out.join("\n");
}

/** A step that concerns only the server (snapshot, upgrade-server, verify): its title says so already. */
export function serverOnly(step: PlanStep): boolean {
  return step.components.length === 1 && step.components[0] === SERVER_ID;
}
