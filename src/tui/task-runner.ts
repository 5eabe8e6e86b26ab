import { planJson } from "../planner/render-json.js";
import { renderPlanMarkdown } from "../planner/render-markdown.js";
import type { Plan } from "../planner/types.js";
import { isAppError } from "../protocol/errors.js";
import { compactTimeStamp } from "../time-stamp.js";
import type { ConsoleClient } from "./console-client.js";
import type { TaskRequest } from "./console-state.js";
import { bytes } from "./format.js";
import type { DeskProgress, SnapshotDesk } from "./snapshot-desk.js";

/** What a task needs beyond its request: the plan on screen (exports). */
export interface TaskContext {
  readonly client: ConsoleClient;
  readonly desk: SnapshotDesk;
  readonly plan?: Plan | undefined;
  /** Told of each verification's outcome, so the Snapshots list can mark the file. */
  readonly onVerified: (file: string, ok: boolean, message: string) => void;
}

/** Runs one task; resolves with the line the status bar shows, rejects with the error to show. */
export async function runTask(
  r: TaskRequest,
  ctx: TaskContext,
  onProgress: (p: DeskProgress) => void,
): Promise<string> {
  const { desk, client } = ctx;
  switch (r.kind) {
    case "take": {
      const t = await desk.take(onProgress);
      return `wrote ${t.name} (${bytes(t.bytes)}, ${t.meta.id}, state index ${t.meta.index}) and verified it`;
    }
    case "verify": {
      const file = r.file!;
      try {
        const v = await desk.verify(file, onProgress);
        const token =
          v.hasToken === false
            ? "; your token is NOT in it: restoring it would lock this console out"
            : v.hasToken
              ? "; your token is in it"
              : "";
        const message = `ok: ${v.meta.id}, state index ${v.meta.index}: sums, integrity and schema check out${token}`;
        ctx.onVerified(file, true, message);
        return `${file}: ${message}`;
      } catch (err) {
        // Not checked (an encrypted file the console cannot open) is not failed: only a check that ran
        // and found a fault marks the file.
        if (!(isAppError(err) && err.code === "USAGE")) ctx.onVerified(file, false, (err as Error).message);
        throw err;
      }
    }
    case "stage": {
      const res = await desk.restore(r.file!, "stage", onProgress);
      return `staged ${res.meta.id} (state index ${res.meta.index}); the server applies it at its next start`;
    }
    case "live": {
      const res = await desk.restore(r.file!, "live", onProgress);
      return `restored ${res.meta.id} live: state index ${res.previousIndex} → ${res.index}; the previous database is kept as ${res.keptAs}`;
    }
    case "cancel-staged": {
      const removed = await client.cancelStagedRestore();
      return removed ? "the staged restore is cancelled" : "nothing was staged (cancelled meanwhile?)";
    }
    case "export-markdown":
    case "export-json": {
      const plan = ctx.plan;
      if (!plan) throw new Error("there is no plan to export yet");
      const json = r.kind === "export-json";
      const text = json ? JSON.stringify(planJson(plan), null, 2) : renderPlanMarkdown(plan);
      const path = await desk.exportPlan(
        `waypoint-plan-${plan.target}-${compactTimeStamp()}.${json ? "json" : "md"}`,
        text,
      );
      return `the plan to ${plan.target} is exported to ${path}`;
    }
  }
}
