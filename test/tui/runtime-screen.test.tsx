import test from "ava";
import { render } from "ink-testing-library";
import type { DeploymentInfo } from "../../src/client/runtime.js";
import { INITIAL_STATE } from "../../src/tui/console-state.js";
import { RuntimeScreen } from "../../src/tui/runtime-screen.js";
import type { Polled } from "../../src/tui/use-poll.js";

const NOW = Date.parse("2026-12-01T10:00:00.000Z");
const polled = <T,>(data: T): Polled<T> => ({ data, at: NOW, failures: 0 });

/** The Runtime screen drawn once for `width` columns, with `deployments` and nothing else. */
function draw(deployments: DeploymentInfo[], width: number): string[] {
  const { lastFrame, unmount } = render(
    <RuntimeScreen
      inventory={{ failures: 0 }}
      instances={polled([])}
      jobs={polled([])}
      deployments={polled(deployments)}
      logs={{ failures: 0 }}
      state={INITIAL_STATE.runtime}
      now={NOW}
      height={20}
      width={width}
    />,
  );
  const lines = (lastFrame() ?? "").split("\n").map((l) => l.trimEnd());
  unmount();
  return lines;
}

const LONG: DeploymentInfo = {
  id: "payments-reconciliation-v12",
  app: "payments-reconciliation",
  sequence: 12,
  createdAt: "2026-12-01T09:00:00.000Z",
  connectedInstances: 2,
  url: "http://payments-reconciliation--v12.apps.example.internal:9703",
};

test("a deployment's URL gets the columns its row leaves, cut with … so the row fits 80 columns", (t) => {
  const lines = draw([LONG], 80);
  const row = lines.find((l) => l.includes("2 connected"));
  t.is(row, "  payments-reco… payments-… 2 connected  http://payments-reconciliation--v12.ap…");
  for (const line of lines) t.true(line.length <= 80, line);
});

test("a wider terminal gives the URL the room it has", (t) => {
  // ink-testing-library draws 100 columns.
  const row = draw([LONG], 100).find((l) => l.includes("2 connected"));
  t.is(
    row,
    "  payments-reco… payments-… 2 connected  http://payments-reconciliation--v12.apps.example.internal:…",
  );
  const short = { ...LONG, url: "http://pay--v12.localhost:9703" };
  t.is(
    draw([short], 100).find((l) => l.includes("2 connected")),
    "  payments-reco… payments-… 2 connected  http://pay--v12.localhost:9703",
  );
});

test("without deployments the panel says how to make one", (t) => {
  const lines = draw([], 80);
  t.true(lines.includes("Deployments (latest 0) · 0s old"), lines.join("\n"));
  t.true(lines.includes("  none yet (waypoint deployment create -app=NAME)"), lines.join("\n"));
});
