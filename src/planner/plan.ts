import { type Catalog, findRelease, newestRelease } from "../protocol/catalog.js";
import { AppError } from "../protocol/errors.js";
import type { ComponentKind, InventoryJson } from "../protocol/inventory.js";
import { formatRange } from "../protocol/range.js";
import { componentChoices, serverStops } from "./candidates.js";
import {
  CompatTable,
  type ComponentVersion,
  compareVersions,
  hopAllowed,
  incompatibility,
  type ServerState,
} from "./compat.js";
import {
  currentServer,
  type Group,
  groupComponents,
  idSorter,
  KIND_ORDER,
  releaseAsComponent,
  releaseMap,
} from "./model.js";
import { type Move, type Schedule, search } from "./search.js";
import { moveStep, serverStep, snapshotStep, stopRunnersStep, verifyStep } from "./steps.js";
import type { Blocker, GroupSummary, Plan, PlanOptions, PlanStep } from "./types.js";

const PLURAL: Record<ComponentKind, string> = {
  client: "clients",
  runner: "runners",
  entrypoint: "entrypoints",
};

/** Why a group that cannot stay compatible cannot simply be set aside either. */
const STAY_ONLINE: Record<ComponentKind, string> = {
  entrypoint: "entrypoints cannot be taken offline without stopping their apps",
  client: "clients must stay usable throughout",
  runner: "and no runner release is compatible with the target to bring them back at",
};

/**
 * Plans the upgrade of the fleet in `inventory` (active components) to
 * `opts.target` (default: the newest release of `catalog`). Pure: no I/O.
 * Every plan it returns keeps every online component compatible with the
 * server after every step (see simulate.ts), and minimises, in this order,
 * entrypoint redeploys, runner moves, client moves and server hops.
 */
export function planUpgrade(inventory: InventoryJson, catalog: Catalog, opts: PlanOptions = {}): Plan {
  const target = opts.target ?? newestRelease(catalog).version;
  const targetRelease = findRelease(catalog, target);
  if (!targetRelease) {
    const list = catalog.releases.map((r) => r.version);
    throw new AppError(
      "INVALID_ARGUMENT",
      `target ${target} is not a release in the catalog (it lists ${list[0]} … ${list[list.length - 1]})`,
    );
  }
  const releases = releaseMap(catalog);
  const server = currentServer(inventory, releases);
  if (compareVersions(server.version, target) > 0) {
    throw new AppError(
      "DOWNGRADE_REFUSED",
      `the server runs ${server.version}, newer than the target ${target}: a downgrade is not an upgrade plan`,
    );
  }
  const warnings: string[] = [];
  if (!server.release) {
    warnings.push(
      `server ${server.version} is not in the catalog: planned by the ranges it advertises (api ${formatRange(server.api)}, entrypoint ${formatRange(server.entrypoint)}); its constraints and known issues are unknown`,
    );
  }
  const groups = groupComponents(inventory.components, releases);
  for (const g of groups.filter((x) => !x.known)) {
    warnings.push(
      `${g.ids.length} ${PLURAL[g.kind]} at ${g.current.version} are not in the catalog: planned by the range they advertise (${formatRange(g.current.range)})`,
    );
  }
  if (groups.length === 0)
    warnings.push("no active components in the inventory: the plan covers the server only");

  const states: ServerState[] = [server, ...serverStops(catalog, server.version, target)];
  // One table of compatibility rows for the candidates, the groups and the search.
  const table = new CompatTable(states);
  const choices = new Map(KIND_ORDER.map((k) => [k, componentChoices(catalog, k, target, states, table)]));
  const options = groups.map((g) => [
    g.current,
    ...choices.get(g.kind)!.filter((v) => compareVersions(v.version, g.current.version) > 0),
  ]);
  const result = search({
    states,
    groups,
    options,
    exhaustiveStops: opts.exhaustiveStops ?? 12,
    table,
  });
  const targetState = states[states.length - 1]!;

  if (!result.ok) {
    const blockers = blockersFor(states, groups, options, result.reachable, table);
    const blocked = new Set(blockers.flatMap((b) => b.components));
    return {
      target,
      kind: "impossible",
      steps: [],
      blockers,
      warnings,
      summary: [
        serverSummary(server.version, target, blocked.has("server") ? "blocked" : "must-move"),
        ...groups.map((g) =>
          summaryOf(
            g,
            g.current.version,
            target,
            g.ids.some((id) => blocked.has(id)) ? "blocked" : "must-move",
          ),
        ),
      ],
      cost: { entrypointRedeploys: 0, runnerMoves: 0, clientMoves: 0, serverHops: 0, steps: 0 },
    };
  }

  const path = result.path.map((i) => states[i]!);
  const fleet: Fleet = { groups, idsOf: idSorter(groups), appsOf: appLookup(inventory) };
  const mandatory: PlanStep[] = [];
  for (let j = 0; j < result.path.length; j++) {
    const phase = result.path[j]!;
    const here = states[phase]!;
    const next = j + 1 < path.length ? path[j + 1] : undefined;
    mandatory.push(...phaseSteps(phase, here, next, fleet, result.schedules, target, catalog.product));
    if (next) mandatory.push(serverStep(catalog.product, next.version, hopReason(here, next, targetState)));
  }

  const optional: PlanStep[] = [];
  for (const kind of KIND_ORDER) {
    let targetFits: boolean | undefined;
    const fits = () => {
      targetFits ??= incompatibility(releaseAsComponent(kind, targetRelease), targetState) === undefined;
      return targetFits;
    };
    const behind = groups
      .map((g, i) => ({ g, i, final: result.schedules[i]!.final }))
      .filter(({ g, final }) => g.kind === kind && compareVersions(final.version, target) < 0 && fits());
    if (behind.length === 0) continue;
    const ids = fleet.idsOf(behind.map(({ i }) => i));
    optional.push(
      moveStep(catalog.product, kind, target, ids, {
        optional: true,
        reason: `Compatible with server ${target} as they are, but not at the target: ${describe(behind.map(({ final }) => final.version))}.`,
        apps: kind === "entrypoint" ? fleet.appsOf(ids) : [],
      }),
    );
  }

  const atTarget = server.version === target && groups.every((g) => g.current.version === target);
  if (atTarget && mandatory.length === 0) {
    return {
      target,
      kind: "up-to-date",
      steps: [],
      blockers: [],
      warnings,
      summary: [
        serverSummary(server.version, target, "fine"),
        ...groups.map((g) => summaryOf(g, target, target, "fine")),
      ],
      cost: { ...costOf(result.cost), steps: 0 },
    };
  }
  const componentMoves = mandatory.some((s) => s.action !== "upgrade-server");
  const issues = server.release?.knownIssues.filter((k) => k.affects === "snapshot") ?? [];
  const steps = [
    snapshotStep(target, server.version, issues),
    ...mandatory,
    ...optional,
    verifyStep(target, opts.catalogFile),
  ];
  return {
    target,
    kind: componentMoves ? "incompatible" : "standard",
    steps,
    blockers: [],
    warnings,
    summary: [
      serverSummary(server.version, target, server.version === target ? "fine" : "must-move"),
      ...groups.map((g, i) => {
        const s = result.schedules[i]!;
        const moved = s.moves.length > 0;
        const status = moved ? "must-move" : s.final.version === target ? "fine" : "optional";
        return summaryOf(
          g,
          s.final.version,
          compareVersions(s.final.version, target) < 0 ? target : s.final.version,
          status,
        );
      }),
    ],
    cost: { ...costOf(result.cost), steps: mandatory.length },
  };
}

/** The fleet as plan assembly sees it: groups, and the ids and apps of unions of them. */
interface Fleet {
  readonly groups: readonly Group[];
  /** Sorted ids of the given groups (see idSorter). */
  readonly idsOf: (indices: readonly number[]) => string[];
  /** Sorted apps of the components with the given ids. */
  readonly appsOf: (ids: readonly string[]) => string[];
}

/** The mandatory steps of one phase (server at `here`), in the order they run. */
function phaseSteps(
  phase: number,
  here: ServerState,
  next: ServerState | undefined,
  fleet: Fleet,
  schedules: readonly Schedule[],
  target: string,
  product: string,
): PlanStep[] {
  const { groups } = fleet;
  const steps: PlanStep[] = [];
  const stopped: number[] = [];
  const stopReasons: string[] = [];
  for (const kind of KIND_ORDER) {
    const byVersion = new Map<string, { members: number[]; reasons: string[]; back: boolean }>();
    groups.forEach((g, i) => {
      if (g.kind !== kind) return;
      const s = schedules[i]!;
      const at = s.moves.findIndex((m) => m.phase === phase);
      if (at < 0) return;
      const move = s.moves[at]!;
      const from = versionBefore(g, s.moves, at);
      if ("off" in move) {
        stopped.push(i);
        stopReasons.push(next ? (incompatibility(from, next) ?? `${from.version} cannot follow`) : "");
        return;
      }
      const wasOffline = at > 0 && "off" in s.moves[at - 1]!;
      const entry = byVersion.get(move.to.version) ?? { members: [], reasons: [], back: wasOffline };
      entry.members.push(i);
      entry.reasons.push(
        wasOffline
          ? `bring the stopped runners back at ${move.to.version}, compatible with server ${here.version}`
          : (incompatibility(from, next ?? here) ??
              `${kind} ${from.version} would not stay compatible with the servers that follow`),
      );
      byVersion.set(move.to.version, entry);
    });
    for (const [to, { members, reasons, back }] of byVersion) {
      const ids = fleet.idsOf(members);
      const bridge = back
        ? ""
        : next
          ? ` ${to} works with server ${here.version} now and with ${next.version} next.`
          : ` ${to} works with server ${here.version}.`;
      steps.push(
        moveStep(product, kind, to, ids, {
          optional: false,
          reason: `${capitalize(unique(reasons).map(clause).join("; "))}.${bridge}`,
          apps: kind === "entrypoint" ? fleet.appsOf(ids) : [],
        }),
      );
    }
  }
  if (stopped.length > 0) {
    steps.push(
      stopRunnersStep(
        target,
        fleet.idsOf(stopped),
        `No runner release keeps these runners compatible across the server upgrade to ${next?.version ?? target} (${unique(stopReasons).map(clause).join("; ")}). They go offline now and come back upgraded; jobs queue meanwhile.`,
      ),
    );
  }
  return steps;
}

/** What a group runs just before its `at`-th move. */
function versionBefore(g: Group, moves: readonly Move[], at: number): ComponentVersion {
  for (let i = at - 1; i >= 0; i--) {
    const m = moves[i]!;
    if ("to" in m) return m.to;
  }
  return g.current;
}

function hopReason(from: ServerState, to: ServerState, target: ServerState): string {
  if (to.version === target.version) return "The target release.";
  if (!hopAllowed(from.version, target)) {
    return `Required stop: ${target.version} accepts upgrades only from ${target.release?.serverUpgradeFrom ?? "?"}, so the server passes through ${to.version}.`;
  }
  return `Intermediate stop: ${to.version} works with the components before and after they move.`;
}

function blockersFor(
  states: readonly ServerState[],
  groups: readonly Group[],
  options: readonly (readonly ComponentVersion[])[],
  reachable: boolean,
  table: CompatTable,
): Blocker[] {
  const target = states[states.length - 1]!;
  if (!reachable) {
    return [
      {
        components: ["server"],
        reason: `no chain of releases takes the server from ${states[0]!.version} to ${target.version}: ${target.version} accepts upgrades only from ${target.release?.serverUpgradeFrom}, and no release in between bridges the gap`,
      },
    ];
  }
  const blockers: Blocker[] = [];
  groups.forEach((g, i) => {
    const alone = search({ states, groups: [g], options: [options[i]!], exhaustiveStops: 12, table });
    if (alone.ok) return;
    const newer = options[i]!.length === 1 && compareVersions(g.current.version, target.version) > 0;
    const why = newer
      ? `${PLURAL[g.kind]} at ${g.current.version} are newer than the target and ${incompatibility(g.current, target) ?? "incompatible with it"}`
      : `${PLURAL[g.kind]} at ${g.current.version} cannot stay compatible: ${firstBreak(g, options[i]!, states)}; ${STAY_ONLINE[g.kind]}`;
    blockers.push({ components: g.ids, reason: why });
  });
  if (blockers.length === 0) {
    blockers.push({
      components: groups.flatMap((g) => g.ids),
      reason: "each group could be upgraded on its own, but no single server path suits all of them at once",
    });
  }
  return blockers;
}

/** The first server hop (straight to the target if allowed) that no version of the group survives. */
function firstBreak(g: Group, options: readonly ComponentVersion[], states: readonly ServerState[]): string {
  const target = states[states.length - 1]!;
  const from = states[0]!;
  const current = incompatibility(g.current, target);
  const bridges = options.filter((v) => !incompatibility(v, from) && !incompatibility(v, target));
  if (bridges.length === 0) {
    return `${current ?? `${g.current.version} does not work with ${target.version}`}, and no release works with both server ${from.version} and ${target.version}`;
  }
  return current ?? "no release path keeps it compatible at every step";
}

function summaryOf(g: Group, planned: string, target: string, status: GroupSummary["status"]): GroupSummary {
  return { kind: g.kind, version: g.current.version, count: g.ids.length, planned, target, status };
}

function serverSummary(version: string, target: string, status: GroupSummary["status"]): GroupSummary {
  return {
    kind: "server",
    version,
    count: 1,
    planned: status === "blocked" ? version : target,
    target,
    status,
  };
}

function costOf(c: {
  entrypointRedeploys: number;
  runnerMoves: number;
  clientMoves: number;
  serverHops: number;
}) {
  return {
    entrypointRedeploys: c.entrypointRedeploys,
    runnerMoves: c.runnerMoves,
    clientMoves: c.clientMoves,
    serverHops: c.serverHops,
  };
}

/**
 * The apps of the components whose id is in `ids`, sorted: an index from id
 * to apps is built once (on first use) instead of scanning the inventory per step.
 */
function appLookup(inventory: InventoryJson): (ids: readonly string[]) => string[] {
  let index: Map<string, string[]> | undefined;
  return (ids) => {
    if (index === undefined) {
      index = new Map();
      for (const c of inventory.components) {
        if (!c.app) continue;
        const list = index.get(c.id);
        if (list) list.push(c.app);
        else index.set(c.id, [c.app]);
      }
    }
    const apps = new Set<string>();
    for (const id of ids) for (const app of index.get(id) ?? []) apps.add(app);
    return [...apps].sort();
  };
}

/** A reason without its closing full stop, to sit inside a longer sentence. */
function clause(text: string): string {
  return text.replace(/\.+$/, "");
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs.filter((x) => x !== ""))];
}

function describe(versions: readonly string[]): string {
  const vs = unique(versions).sort(compareVersions);
  return vs.length === 1 ? `at ${vs[0]}` : `at ${vs.join(", ")}`;
}
