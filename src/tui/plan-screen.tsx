import { Box, Text } from "ink";
import { abbreviateIds, KIND_MEANING, STATUS_LABEL, stepTitle } from "../planner/render-text.js";
import type { PlanState } from "./console-state.js";
import { age, cell, clampLines } from "./format.js";
import type { MadePlan, StepProgress } from "./plan-model.js";

export interface PlanScreenProps {
  readonly made?: MadePlan;
  readonly progress: readonly StepProgress[];
  /** Releases the target can be (oldest first), and the one picked. */
  readonly targets: readonly string[];
  readonly target?: string;
  readonly catalogPath: string;
  readonly state: PlanState;
  readonly now: number;
  /** Rows and columns the screen may use. */
  readonly height: number;
  readonly width: number;
}

const STATUS_COLOR: Record<string, string | undefined> = {
  fine: "green",
  "must-move": "yellow",
  optional: undefined,
  blocked: "red",
};

/** Pick a target; the plan's groups, its steps with their live progress, and the selected step's details. */
export function PlanScreen({
  made,
  progress,
  targets,
  target,
  catalogPath,
  state,
  now,
  height,
  width,
}: PlanScreenProps) {
  // A window of the targets around the one picked: a catalog of forty releases stays one line.
  const at = Math.max(0, targets.indexOf(target ?? ""));
  const shown = Math.max(3, Math.floor((width - 32) / 8));
  const from = Math.max(0, Math.min(at - Math.floor(shown / 2), targets.length - shown));
  const window = targets.slice(from, from + shown);
  const picker = (
    <Text wrap="truncate-end">
      <Text bold>Plan to </Text>
      {targets.length === 0 ? (
        <Text color="red">no release in the catalog at or after the server's</Text>
      ) : (
        <>
          {from > 0 ? <Text dimColor>… </Text> : null}
          {window.map((t) => (
            <Text key={t} inverse={t === target} bold={t === target}>
              {t === target ? `‹${t}›` : ` ${t} `}
            </Text>
          ))}
          {from + window.length < targets.length ? <Text dimColor> …</Text> : null}
        </>
      )}
      <Text dimColor> h/l pick · p re-plan</Text>
    </Text>
  );
  if (!made) {
    return (
      <Box flexDirection="column">
        {picker}
        <Text dimColor>Waiting for the inventory…</Text>
      </Box>
    );
  }
  if (!made.plan) {
    return (
      <Box flexDirection="column">
        {picker}
        <Text color="red" wrap="wrap">
          No plan: {made.error}
        </Text>
        <Text dimColor wrap="truncate-end">
          catalog: {catalogPath} (start the console with -catalog=FILE for another)
        </Text>
      </Box>
    );
  }
  const plan = made.plan;
  const steps = plan.steps;
  const selected = Math.min(state.selected, Math.max(0, steps.length - 1));
  const step = steps[selected];
  // The rows are shared out in order of use: the step details (≤ 5), the steps (≤ 8), then the groups
  // (1 to 5; e exports the whole plan), then more steps if there is room left.
  const reason = step ? clampLines(`${stepTitle(step, selected)}: ${step.reason}`, width, 2) : [];
  const extras = step ? (step.components.length > 0 ? 1 : 0) + Math.min(1, step.warnings.length) : 0;
  const commandRows = step ? Math.max(1, Math.min(step.commands.length, 5 - reason.length - extras)) : 0;
  const detailRows = step ? reason.length + extras + commandRows : 0;
  const fixed = 4 + (plan.warnings.length > 0 ? 1 : 0); // picker, kind, groups' header, steps' heading
  const wantSteps = Math.min(steps.length, 8);
  const summaryRoom = Math.max(1, height - fixed - detailRows - wantSteps - 1);
  const summary = plan.summary.slice(0, Math.min(5, summaryRoom));
  const summaryRows = summary.length + (plan.summary.length > summary.length ? 1 : 0);
  const room = Math.max(2, height - fixed - summaryRows - detailRows);
  const first = Math.max(0, Math.min(selected - Math.floor(room / 2), steps.length - room));
  return (
    <Box flexDirection="column">
      {picker}
      <Text wrap="truncate-end">
        <Text color={plan.kind === "impossible" ? "red" : plan.kind === "incompatible" ? "yellow" : "green"}>
          {plan.kind}
        </Text>
        <Text dimColor>
          : {KIND_MEANING[plan.kind]} · planned {age(made.at, now)} ago
        </Text>
      </Text>
      <Text dimColor>
        {"  "}
        {cell("COMPONENT", 11)}
        {cell("COUNT", 7)}
        {cell("CURRENT", 10)}
        {cell("PLANNED", 10)}
        {cell("TARGET", 10)}STATUS
      </Text>
      {summary.map((g) => (
        <Text key={`${g.kind} ${g.version}`}>
          {"  "}
          {cell(g.kind, 11)}
          {cell(String(g.count), 7)}
          {cell(g.version, 10)}
          {cell(g.planned, 10)}
          {cell(g.target, 10)}
          <Text color={STATUS_COLOR[g.status]}>{STATUS_LABEL[g.status]}</Text>
        </Text>
      ))}
      {plan.summary.length > summary.length ? (
        <Text dimColor>
          {" "}
          and {plan.summary.length - summary.length} more groups (e exports the whole plan)
        </Text>
      ) : null}
      {plan.kind === "impossible" ? (
        <Box flexDirection="column">
          <Text bold color="red">
            Blockers
          </Text>
          {plan.blockers.slice(0, room).map((b) => (
            <Text key={b.components.join(",")} color="red" wrap="truncate-end">
              {"  "}
              {abbreviateIds(b.components)}: {b.reason}
            </Text>
          ))}
        </Box>
      ) : (
        <Text bold>
          Steps <Text dimColor>(progress from the live inventory)</Text>
        </Text>
      )}
      {plan.kind === "impossible" ? null : steps.length === 0 ? (
        <Text color="green"> nothing to do</Text>
      ) : (
        steps.slice(first, first + room).map((s, i) => {
          const at = first + i;
          const p = progress[at];
          return (
            <Text key={`${at}-${s.action}`} inverse={at === selected} wrap="truncate-end">
              {at === selected ? "›" : " "}
              <Text color={p?.done ? "green" : undefined}>{p?.done ? "✓ " : "· "}</Text>
              {cell(stepTitle(s, at), 34)} <Text dimColor={p?.done}>{p?.text ?? ""}</Text>
            </Text>
          );
        })
      )}
      {step && plan.kind !== "impossible" ? (
        <Box flexDirection="column">
          {reason.map((l) => (
            <Text key={l} color="cyan">
              {l}
            </Text>
          ))}
          {step.components.length > 0 ? (
            <Text wrap="truncate-end" dimColor>
              {"  "}components: {abbreviateIds(step.components)}
            </Text>
          ) : null}
          {step.warnings.slice(0, 1).map((w) => (
            <Text key={w} color="yellow" wrap="truncate-end">
              {"  "}! {w}
            </Text>
          ))}
          {step.commands.slice(0, commandRows).map((c) => (
            <Text key={c} wrap="truncate-end">
              {"  "}$ {c}
            </Text>
          ))}
        </Box>
      ) : null}
      {plan.warnings.length > 0 ? (
        <Text color="yellow" wrap="truncate-end">
          ! {plan.warnings.length} warning{plan.warnings.length === 1 ? "" : "s"}: {plan.warnings[0]}
        </Text>
      ) : null}
    </Box>
  );
}
