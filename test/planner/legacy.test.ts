import { readFileSync } from "node:fs";
import test from "ava";
import { planUpgrade } from "../../src/planner/plan.js";
import { simulate } from "../../src/planner/simulate.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import { fleet } from "./fleet.js";

const legacy = parseCatalog(readFileSync("fixtures/catalogs/legacy.json", "utf8"), "legacy.json");
const steps = parseCatalog(
  readFileSync("fixtures/catalogs/protocol-steps.json", "utf8"),
  "protocol-steps.json",
);
const actions = (p: ReturnType<typeof planUpgrade>) =>
  p.steps.map((s) => `${s.action}${s.optional ? "?" : ""}@${s.to}`);

test("runners at 0.8.2 go offline across the 0.9 boundary while CLIs at 0.3.0 move after the server", (t) => {
  const inv = fleet(legacy, "0.8.2", [
    ["runner", "0.8.2", 2],
    ["client", "0.3.0", 3],
  ]);
  const plan = planUpgrade(inv, legacy, { target: "0.11.4" });
  t.is(plan.kind, "incompatible");
  t.deepEqual(actions(plan), [
    "snapshot@0.11.4",
    "stop-runners@0.11.4",
    "upgrade-server@0.11.4",
    "upgrade-runners@0.11.4",
    "upgrade-clients?@0.11.4",
    "verify@0.11.4",
  ]);
  const stop = plan.steps[1]!;
  t.deepEqual(stop.components, ["runner-0.8.2-1", "runner-0.8.2-2"]);
  t.regex(stop.reason, /requires server <0\.9\.0/);
  const clients = plan.steps[4]!;
  t.true(clients.optional);
  t.deepEqual(clients.components, ["client-0.3.0-1", "client-0.3.0-2", "client-0.3.0-3"]);
  t.true(
    plan.steps.findIndex((s) => s.action === "upgrade-clients") >
      plan.steps.findIndex((s) => s.action === "upgrade-server"),
    "the CLIs move after the server",
  );
  t.like(plan.cost, { entrypointRedeploys: 0, runnerMoves: 2, clientMoves: 0, serverHops: 1 });
  t.true(simulate(plan, inv, legacy).ok);
});

test("CLIs at 0.4 or later cannot come before the server when it is older than 0.4", (t) => {
  // A 0.4+ client requires a 0.4+ server, so with the server at 0.3.2 upgrading the CLIs first would break them.
  const inv = fleet(legacy, "0.3.2", [["client", "0.3.2", 2]]);
  const plan = planUpgrade(inv, legacy, { target: "0.11.4" });
  t.is(plan.kind, "standard");
  const server = plan.steps.findIndex((s) => s.action === "upgrade-server");
  const clients = plan.steps.findIndex((s) => s.action === "upgrade-clients");
  t.true(server >= 0 && clients > server);
  t.true(simulate(plan, inv, legacy).ok);
  // Replaying the same steps with the clients first must be caught.
  const reordered = {
    ...plan,
    steps: [plan.steps[0]!, plan.steps[clients]!, ...plan.steps.slice(1, clients)],
  };
  const sim = simulate(reordered, inv, legacy);
  t.false(sim.ok);
  if (!sim.ok) t.regex(sim.reason, /requires server >=0\.4\.0/);
});

test("a server at 0.10.4 gets a snapshot step that warns about its known issue", (t) => {
  const inv = fleet(legacy, "0.10.4", [
    ["client", "0.10.4", 1],
    ["entrypoint", "0.10.0", 2],
  ]);
  const plan = planUpgrade(inv, legacy, { target: "0.11.4" });
  const snap = plan.steps[0]!;
  t.is(snap.action, "snapshot");
  t.regex(snap.warnings.join(" "), /Snapshots fail while a config source is set/);
  t.true(
    snap.commands.some((c) => c.startsWith("cp ")),
    "offers the offline copy instead",
  );
  t.is(plan.kind, "standard");
  t.deepEqual(
    plan.steps.filter((s) => s.optional).map((s) => s.action),
    ["upgrade-clients", "redeploy-entrypoints"],
  );
});

test("a server at 0.1.5 has no snapshot RPC: the snapshot step says to copy the database with the server stopped", (t) => {
  const inv = fleet(legacy, "0.1.5", [["client", "0.1.5", 1]]);
  const plan = planUpgrade(inv, legacy, { target: "0.11.4" });
  const snap = plan.steps[0]!;
  t.regex(snap.warnings.join(" "), /No snapshot RPC before 0\.2\.0/);
  t.regex(snap.commands.join("\n"), /stop the server/);
  t.regex(snap.commands.join("\n"), /cp -p DATA_DIR\/data\.db/);
  t.false(snap.commands.some((c) => c.startsWith("waypoint server snapshot")));
});

test("a server already at the target with everything on it is up to date", (t) => {
  const inv = fleet(legacy, "0.11.4", [
    ["client", "0.11.4", 2],
    ["runner", "0.11.4", 1],
  ]);
  const plan = planUpgrade(inv, legacy, { target: "0.11.4" });
  t.is(plan.kind, "up-to-date");
  t.deepEqual(plan.steps, []);
});

test("the default target is the newest release in the catalog", (t) => {
  const plan = planUpgrade(fleet(legacy, "0.11.0", []), legacy);
  t.is(plan.target, "0.11.4");
});

test("a downgrade target is refused, pointing to a pre-upgrade snapshot", (t) => {
  const err = t.throws(() => planUpgrade(fleet(legacy, "0.11.4", []), legacy, { target: "0.9.0" }));
  t.is((err as { code?: string }).code, "DOWNGRADE_REFUSED");
  t.regex((err as { hint?: string }).hint ?? "", /restore a snapshot/);
});

test("an unknown target is refused naming it", (t) => {
  const err = t.throws(() => planUpgrade(fleet(legacy, "0.11.0", []), legacy, { target: "0.12.0" }));
  t.regex(err!.message, /0\.12\.0 is not a release in the catalog/);
});

test("required stops: the server passes through 0.3.0 on its way to 0.4.0, entrypoints move once", (t) => {
  // 0.4.0 accepts upgrades only from >=0.3.0; entrypoints at 0.1.0 speak entrypoint protocol 1, which 0.4.0 drops.
  const inv = fleet(steps, "0.2.0", [
    ["entrypoint", "0.1.0", 4, "web"],
    ["entrypoint", "0.2.0", 2, "api"],
    ["client", "0.2.0", 1],
  ]);
  const plan = planUpgrade(inv, steps, { target: "0.4.0" });
  t.is(plan.kind, "incompatible");
  const hops = plan.steps.filter((s) => s.action === "upgrade-server").map((s) => s.to);
  t.deepEqual(hops, ["0.3.0", "0.4.0"]);
  t.regex(plan.steps.find((s) => s.to === "0.3.0")!.reason, /Required stop/);
  const redeploys = plan.steps.filter((s) => s.action === "redeploy-entrypoints" && !s.optional);
  t.is(redeploys.length, 1, "one redeploy step");
  t.is(redeploys[0]!.to, "0.4.0", "straight to the target");
  t.is(plan.cost.entrypointRedeploys, 4, "only the 0.1.0 entrypoints must move, each exactly once");
  t.true(redeploys[0]!.commands.includes("waypoint up -app=web"));
  const optional = plan.steps.find((s) => s.action === "redeploy-entrypoints" && s.optional);
  t.deepEqual(
    optional?.components,
    ["entrypoint-0.2.0-1", "entrypoint-0.2.0-2"],
    "0.2.0 speaks 1-2: still fine on 0.4.0",
  );
  t.true(optional?.commands.includes("waypoint up -app=api"));
  const sim = simulate(plan, inv, steps);
  t.true(sim.ok, JSON.stringify(sim));
});

test("a component newer than the target that the target cannot serve is a blocker", (t) => {
  // A 0.4.0 client speaks api 3 only; the target 0.2.0 speaks 1-2, and components never move down.
  const inv = fleet(steps, "0.1.0", [["client", "0.4.0", 1]]);
  const plan = planUpgrade(inv, steps, { target: "0.2.0" });
  t.is(plan.kind, "impossible");
  t.is(plan.blockers.length, 1);
  t.deepEqual(plan.blockers[0]!.components, ["client-0.4.0-1"]);
  t.regex(plan.blockers[0]!.reason, /newer than the target/);
});

test("components missing from the catalog are planned by their advertised ranges, with a warning", (t) => {
  const inv = fleet(legacy, "0.10.0", [["client", "0.10.0", 1]]);
  const unknown = {
    ...inv,
    components: [
      ...inv.components,
      {
        kind: "runner" as const,
        id: "runner-custom",
        version: "0.10.1-custom.1",
        api: { min: 1, current: 1 },
        connected: true,
        lastSeen: "2026-11-22T10:00:00.000Z",
      },
    ],
  };
  const plan = planUpgrade(unknown, legacy, { target: "0.11.4" });
  t.regex(plan.warnings.join("\n"), /1 runners at 0\.10\.1-custom\.1 are not in the catalog/);
  t.not(plan.kind, "impossible");
  t.true(simulate(plan, unknown, legacy).ok);
});

test("entrypoints with no release bridging the old and new server are a blocker, because they cannot go offline", (t) => {
  const jump = parseCatalog(
    {
      product: "jump",
      releases: [
        { version: "1.0.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } },
        { version: "2.0.0", api: { min: 1, current: 1 }, entrypoint: { min: 2, current: 2 } },
      ],
    },
    "jump",
  );
  const inv = fleet(jump, "1.0.0", [
    ["entrypoint", "1.0.0", 3],
    ["runner", "1.0.0", 1],
  ]);
  const plan = planUpgrade(inv, jump, { target: "2.0.0" });
  t.is(plan.kind, "impossible");
  t.deepEqual(plan.steps, []);
  t.deepEqual(
    plan.blockers.map((b) => b.components.length),
    [3],
  );
  t.regex(plan.blockers[0]!.reason, /entrypoints cannot be taken offline/);
  t.regex(plan.blockers[0]!.reason, /no release works with both server 1\.0\.0 and 2\.0\.0/);
});
