import test from "ava";
import { renderPlanMarkdown } from "../../src/planner/render-markdown.js";
import { abbreviateIds, renderPlanText } from "../../src/planner/render-text.js";
import type { Plan } from "../../src/planner/types.js";

const COST = { entrypointRedeploys: 0, runnerMoves: 0, clientMoves: 0, serverHops: 0, steps: 0 };
const WEB = Array.from({ length: 8 }, (_, i) => `web-${i + 1}`);

/** A small plan written out by hand, so these tests pin the renderers and not the planner. */
const PLAN: Plan = {
  target: "0.11.4",
  kind: "incompatible",
  steps: [
    {
      action: "snapshot",
      to: "0.11.4",
      components: ["server"],
      optional: false,
      reason: "Back up first.",
      commands: ["waypoint server snapshot"],
      warnings: ["Snapshots of 0.10.4 may miss job logs."],
    },
    {
      action: "stop-runners",
      to: "0.11.4",
      components: ["runner-a", "runner-b"],
      optional: false,
      reason: "Runners 0.8.2 cannot follow the server.",
      commands: ["# stop every listed runner agent"],
      warnings: [],
    },
    {
      action: "upgrade-server",
      to: "0.11.4",
      components: ["server"],
      optional: false,
      reason: "The target release.",
      commands: ["npm install -g waypoint-ops@0.11.4"],
      warnings: [],
    },
    {
      action: "redeploy-entrypoints",
      to: "0.11.4",
      components: WEB,
      optional: true,
      reason: "Compatible as they are.",
      commands: ["waypoint up -app=web"],
      warnings: [],
    },
  ],
  blockers: [],
  warnings: ["server 0.8.2 is not in the catalog"],
  summary: [
    { kind: "server", version: "0.8.2", count: 1, planned: "0.11.4", target: "0.11.4", status: "must-move" },
    { kind: "runner", version: "0.8.2", count: 2, planned: "0.11.4", target: "0.11.4", status: "must-move" },
    {
      kind: "entrypoint",
      version: "0.11.0",
      count: 8,
      planned: "0.11.0",
      target: "0.11.4",
      status: "optional",
    },
  ],
  cost: { ...COST, runnerMoves: 2, serverHops: 1, steps: 3 },
};

const IMPOSSIBLE: Plan = {
  target: "2.0.0",
  kind: "impossible",
  steps: [],
  blockers: [{ components: ["web-1", "web-2"], reason: "entrypoints at 1.0.0 cannot stay compatible" }],
  warnings: [],
  summary: [
    { kind: "server", version: "1.0.0", count: 1, planned: "1.0.0", target: "2.0.0", status: "blocked" },
    { kind: "entrypoint", version: "1.0.0", count: 2, planned: "1.0.0", target: "2.0.0", status: "blocked" },
  ],
  cost: COST,
};

const UP_TO_DATE: Plan = {
  target: "0.1.0",
  kind: "up-to-date",
  steps: [],
  blockers: [],
  warnings: [],
  summary: [
    { kind: "server", version: "0.1.0", count: 1, planned: "0.1.0", target: "0.1.0", status: "fine" },
  ],
  cost: COST,
};

test("renders a plan as text: header, kubeadm-style table, numbered steps, warnings", (t) => {
  t.is(
    renderPlanText(PLAN),
    [
      "Upgrade to 0.11.4: incompatible — components must move, or runners go offline, for the server to reach the target",
      "",
      "COMPONENT   COUNT  CURRENT  PLANNED  TARGET  STATUS",
      "server      1      0.8.2    0.11.4   0.11.4  must move",
      "runner      2      0.8.2    0.11.4   0.11.4  must move",
      "entrypoint  8      0.11.0   0.11.0   0.11.4  optional",
      "",
      "1. snapshot",
      "   Back up first.",
      "   Warning: Snapshots of 0.10.4 may miss job logs.",
      "     waypoint server snapshot",
      "",
      "2. stop-runners",
      "   Runners 0.8.2 cannot follow the server.",
      "   Components: runner-a, runner-b",
      "     # stop every listed runner agent",
      "",
      "3. upgrade-server → 0.11.4",
      "   The target release.",
      "     npm install -g waypoint-ops@0.11.4",
      "",
      "4. redeploy-entrypoints → 0.11.4 (optional)",
      "   Compatible as they are.",
      "   Components: web-1, web-2, web-3, web-4, web-5 and 3 more",
      "     waypoint up -app=web",
      "",
      "Warnings:",
      "  - server 0.8.2 is not in the catalog",
    ].join("\n"),
  );
});

test("renders an impossible plan as text with its blockers and no steps", (t) => {
  t.is(
    renderPlanText(IMPOSSIBLE),
    [
      "Upgrade to 2.0.0: impossible — no safe plan exists; the blockers below say who and why",
      "",
      "COMPONENT   COUNT  CURRENT  PLANNED  TARGET  STATUS",
      "server      1      1.0.0    1.0.0    2.0.0   blocked",
      "entrypoint  2      1.0.0    1.0.0    2.0.0   blocked",
      "",
      "Blockers:",
      "  - web-1, web-2: entrypoints at 1.0.0 cannot stay compatible",
    ].join("\n"),
  );
});

test("says there is nothing to do for an up-to-date fleet", (t) => {
  t.is(
    renderPlanText(UP_TO_DATE),
    [
      "Upgrade to 0.1.0: up-to-date — the server and every component already run the target",
      "",
      "COMPONENT  COUNT  CURRENT  PLANNED  TARGET  STATUS",
      "server     1      0.1.0    0.1.0    0.1.0   fine",
      "",
      "Nothing to do.",
    ].join("\n"),
  );
});

test("renders a plan as Markdown: title, summary table, a checklist with fenced commands", (t) => {
  t.is(
    renderPlanMarkdown(PLAN),
    [
      "# Upgrade to 0.11.4",
      "",
      "**incompatible**: components must move, or runners go offline, for the server to reach the target.",
      "",
      "| Component | Count | Current | Planned | Target | Status |",
      "| --- | ---: | --- | --- | --- | --- |",
      "| server | 1 | 0.8.2 | 0.11.4 | 0.11.4 | must move |",
      "| runner | 2 | 0.8.2 | 0.11.4 | 0.11.4 | must move |",
      "| entrypoint | 8 | 0.11.0 | 0.11.0 | 0.11.4 | optional |",
      "",
      "## Steps",
      "",
      "- [ ] **1. snapshot**",
      "",
      "  Back up first.",
      "",
      "  > **Warning:** Snapshots of 0.10.4 may miss job logs.",
      "",
      "  ```sh",
      "  waypoint server snapshot",
      "  ```",
      "",
      "- [ ] **2. stop-runners**",
      "",
      "  Runners 0.8.2 cannot follow the server.",
      "",
      "  Components: `runner-a`, `runner-b`",
      "",
      "  ```sh",
      "  # stop every listed runner agent",
      "  ```",
      "",
      "- [ ] **3. upgrade-server → 0.11.4**",
      "",
      "  The target release.",
      "",
      "  ```sh",
      "  npm install -g waypoint-ops@0.11.4",
      "  ```",
      "",
      "- [ ] **4. redeploy-entrypoints → 0.11.4 (optional)**",
      "",
      "  Compatible as they are.",
      "",
      "  Components: `web-1`, `web-2`, `web-3`, `web-4`, `web-5` and 3 more",
      "",
      "  ```sh",
      "  waypoint up -app=web",
      "  ```",
      "",
      "## Warnings",
      "",
      "- server 0.8.2 is not in the catalog",
    ].join("\n"),
  );
});

test("renders an impossible plan as Markdown with a blockers section", (t) => {
  t.is(
    renderPlanMarkdown(IMPOSSIBLE),
    [
      "# Upgrade to 2.0.0",
      "",
      "**impossible**: no safe plan exists; the blockers below say who and why.",
      "",
      "| Component | Count | Current | Planned | Target | Status |",
      "| --- | ---: | --- | --- | --- | --- |",
      "| server | 1 | 1.0.0 | 1.0.0 | 2.0.0 | blocked |",
      "| entrypoint | 2 | 1.0.0 | 1.0.0 | 2.0.0 | blocked |",
      "",
      "## Blockers",
      "",
      "- `web-1`, `web-2`: entrypoints at 1.0.0 cannot stay compatible",
    ].join("\n"),
  );
});

test("fences commands that contain backticks with a longer fence", (t) => {
  const plan: Plan = {
    ...UP_TO_DATE,
    kind: "standard",
    steps: [{ ...PLAN.steps[2]!, commands: ["echo ```x```"] }],
  };
  t.true(renderPlanMarkdown(plan).includes("  ````sh\n  echo ```x```\n  ````"));
});

test("lists six ids in full rather than five and one more", (t) => {
  t.is(abbreviateIds(WEB.slice(0, 6)), "web-1, web-2, web-3, web-4, web-5, web-6");
  t.is(abbreviateIds(WEB.slice(0, 7)), "web-1, web-2, web-3, web-4, web-5 and 2 more");
});
