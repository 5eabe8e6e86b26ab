import type { ComponentKind } from "../protocol/inventory.js";

export const PLAN_KINDS = ["standard", "incompatible", "up-to-date", "impossible"] as const;
/**
 * - standard: no component has to move; every component stays compatible throughout
 *   (components not at the target get optional steps);
 * - incompatible: a safe plan exists, but components must move (or runners go offline) for it;
 * - up-to-date: the server and every component are at the target;
 * - impossible: no safe plan exists; `blockers` say who and why.
 */
export type PlanKind = (typeof PLAN_KINDS)[number];

export const STEP_ACTIONS = [
  "snapshot",
  "stop-runners",
  "upgrade-server",
  "upgrade-clients",
  "upgrade-runners",
  "redeploy-entrypoints",
  "verify",
] as const;
export type StepAction = (typeof STEP_ACTIONS)[number];

/** The id the plan uses for the server (DESIGN §6). */
export const SERVER_ID = "server";

/** One step of a plan, in the JSON shape of DESIGN §6. */
export interface PlanStep {
  readonly action: StepAction;
  /** The release the step moves to (for snapshot/verify/stop-runners: the plan's target). */
  readonly to: string;
  /** Inventory ids the step moves or stops; "server" for the server. */
  readonly components: readonly string[];
  /** True when the step is not needed for safety: the components are compatible but not at the target. */
  readonly optional: boolean;
  readonly reason: string;
  readonly commands: readonly string[];
  readonly warnings: readonly string[];
}

export interface Blocker {
  readonly components: readonly string[];
  readonly reason: string;
}

/** A plan (DESIGN §6). `warnings` and `summary` are additions for people; JSON keeps them optional. */
export interface Plan {
  readonly target: string;
  readonly kind: PlanKind;
  readonly steps: readonly PlanStep[];
  readonly blockers: readonly Blocker[];
  /** Plan-wide warnings: components missing from the catalog, inventory oddities. */
  readonly warnings: readonly string[];
  /** Per group: where it is and where the plan takes it. */
  readonly summary: readonly GroupSummary[];
  /** What the plan costs, in the order it minimises. */
  readonly cost: PlanCost;
}

export interface GroupSummary {
  readonly kind: ComponentKind | "server";
  readonly version: string;
  readonly count: number;
  /** Where the mandatory part of the plan leaves it. */
  readonly planned: string;
  /** The target, when an optional step takes it there; else equal to planned. */
  readonly target: string;
  /** fine: compatible all along and at the target; must-move: a mandatory step moves it; optional: compatible, not at the target; blocked: no safe way. */
  readonly status: "fine" | "must-move" | "optional" | "blocked";
}

/** Lexicographic cost the planner minimises (components weighted by count). */
export interface PlanCost {
  readonly entrypointRedeploys: number;
  readonly runnerMoves: number;
  readonly clientMoves: number;
  readonly serverHops: number;
  /** Mandatory move steps (server hops and group moves merged per kind, release and phase). */
  readonly steps: number;
}

export interface PlanOptions {
  /** Target release; default: the newest release in the catalog. */
  readonly target?: string;
  /** Up to this many distinct server stops the search is exhaustive (exact); beyond it, greedy. */
  readonly exhaustiveStops?: number;
  /** The catalog file the plan is made from, named in the verify step's commands (omit for the shipped one). */
  readonly catalogFile?: string;
}
