/**
 * Planner at fleet scale (issue: 100,000 components over 200 versions with a
 * 1,000-release catalog; planning should add no more than reading and parsing
 * the same inventory file).
 *
 * Everything is generated from a seed, so every run plans the same fleet:
 * a catalog shaped like fixtures/catalogs/legacy.json (protocol ranges that
 * advance every few dozen releases with overlapping min/current windows,
 * serverUpgradeFrom windows that force required stops, a runner-management
 * break like legacy 0.9.0, client and entrypoint constraints, known issues),
 * and an inventory whose server sits far enough behind the newest release
 * that the plan must stop on the way, redeploy entrypoints and take runners
 * offline. The inventory is written to a temporary file; each round reads and
 * parses it, plans on the parsed inventory, and simulates the plan.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { incompatibility } from "../src/planner/compat.js";
import { planUpgrade } from "../src/planner/plan.js";
import { simulate } from "../src/planner/simulate.js";
import type { Plan } from "../src/planner/types.js";
import { type Catalog, parseCatalog, type Release } from "../src/protocol/catalog.js";
import type {
  ComponentKind,
  InventoryComponent,
  InventoryJson,
  InventoryRejected,
} from "../src/protocol/inventory.js";
import { parseInventory } from "../src/protocol/inventory-parse.js";

export interface PlannerBenchOptions {
  readonly components?: number;
  readonly releases?: number;
  readonly versions?: number;
  /** Measured rounds (after one warm-up round). */
  readonly rounds?: number;
  readonly seed?: number;
}

export interface PlannerBenchResult {
  readonly components: number;
  readonly releases: number;
  /** Distinct component versions in the inventory. */
  readonly versions: number;
  readonly groups: number;
  readonly fileBytes: number;
  readonly rounds: number;
  readonly seed: number;
  readonly server: string;
  readonly target: string;
  /** Medians over the measured rounds, in milliseconds. */
  /** readFileSync + JSON.parse. */
  readonly jsonMs: number;
  /** parseInventory of the parsed JSON (validation and normalisation). */
  readonly validateMs: number;
  /** Read + JSON.parse + parseInventory, measured as one span. */
  readonly parseMs: number;
  readonly planMs: number;
  /** planUpgrade of the bare JSON.parse result (the same data, objects as JSON.parse builds them). */
  readonly planRawMs: number;
  readonly simulateMs: number;
  /** Every round's figures, in milliseconds. */
  readonly samples: {
    readonly json: number[];
    readonly validate: number[];
    readonly parse: number[];
    readonly plan: number[];
    readonly planRaw: number[];
    readonly simulate: number[];
  };
  /** planMs / parseMs (issue target: ≤ 1). */
  readonly ratio: number;
  /** planMs / jsonMs: against the bare read and JSON.parse. */
  readonly ratioToJson: number;
  /** Peak resident set size of the process after the rounds, in MiB. */
  readonly peakRssMiB: number;
  /** The same before the bench generated anything (what the process had reached already). */
  readonly peakRssBeforeMiB: number;
  readonly plan: {
    readonly kind: Plan["kind"];
    readonly steps: number;
    readonly serverSteps: number;
    readonly stopRunners: number;
    readonly redeploys: number;
    readonly stoppedRunners: number;
    readonly cost: Plan["cost"];
  };
}

export async function benchPlanner(opts: PlannerBenchOptions = {}): Promise<PlannerBenchResult> {
  const componentCount = opts.components ?? 100_000;
  const releaseCount = opts.releases ?? 1000;
  const versionCount = opts.versions ?? 200;
  const rounds = opts.rounds ?? 5;
  const seed = opts.seed ?? 20261122;
  const peakRssBeforeMiB = process.resourceUsage().maxRSS / 1024;

  const catalog = generateCatalog(releaseCount, seed);
  const { inventory, distinct } = generateInventory(catalog, componentCount, versionCount, seed + 1);
  const dir = mkdtempSync(join(tmpdir(), "waypoint-bench-planner-"));
  const file = join(dir, "inventory.json");
  try {
    writeFileSync(file, JSON.stringify(inventory, null, 2));
    const fileBytes = statSync(file).size;
    const samples = {
      json: [] as number[],
      validate: [] as number[],
      parse: [] as number[],
      plan: [] as number[],
      planRaw: [] as number[],
      simulate: [] as number[],
    };
    let plan: Plan | undefined;
    let groups = 0;
    for (let round = 0; round <= rounds; round++) {
      const t0 = performance.now();
      const json: unknown = JSON.parse(readFileSync(file, "utf8"));
      const tj = performance.now();
      const parsed = parseInventory(json, file);
      const t1 = performance.now();
      plan = planUpgrade(parsed, catalog);
      const t2 = performance.now();
      const sim = simulate(plan, parsed, catalog);
      const t3 = performance.now();
      if (!sim.ok) {
        throw new Error(`bench plan fails simulate at step ${sim.step}: ${sim.component}: ${sim.reason}`);
      }
      const t4 = performance.now();
      const raw = planUpgrade(json as InventoryJson, catalog);
      const t5 = performance.now();
      if (raw.steps.length !== plan.steps.length) throw new Error("bench: the two plans differ");
      groups = plan.summary.length - 1;
      if (round === 0) continue; // warm-up: JIT, semver caches, file cache
      samples.json.push(tj - t0);
      samples.validate.push(t1 - tj);
      samples.parse.push(t1 - t0);
      samples.plan.push(t2 - t1);
      samples.simulate.push(t3 - t2);
      samples.planRaw.push(t5 - t4);
    }
    const p = plan!;
    const count = (action: string) => p.steps.filter((s) => s.action === action && !s.optional).length;
    const shape = {
      kind: p.kind,
      steps: p.steps.length,
      serverSteps: count("upgrade-server"),
      stopRunners: count("stop-runners"),
      redeploys: count("redeploy-entrypoints"),
      stoppedRunners: p.steps
        .filter((s) => s.action === "stop-runners")
        .reduce((n, s) => n + s.components.length, 0),
      cost: p.cost,
    };
    // The bench is only meaningful if the plan is a real one.
    if (
      shape.kind !== "incompatible" ||
      shape.serverSteps < 2 ||
      shape.stopRunners < 1 ||
      shape.redeploys < 1
    )
      throw new Error(`bench plan is too simple: ${JSON.stringify(shape)}`);
    const parseMs = median(samples.parse);
    const jsonMs = median(samples.json);
    const planMs = median(samples.plan);
    return {
      components: componentCount,
      releases: catalog.releases.length,
      versions: distinct,
      groups,
      fileBytes,
      rounds,
      seed,
      server: inventory.server.version,
      target: p.target,
      jsonMs,
      validateMs: median(samples.validate),
      parseMs,
      planMs,
      planRawMs: median(samples.planRaw),
      simulateMs: median(samples.simulate),
      samples,
      ratio: planMs / parseMs,
      ratioToJson: planMs / jsonMs,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      peakRssBeforeMiB,
      plan: shape,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** mulberry32: small, fast, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where the generated catalog's rules sit, as fractions of its length. */
const RUNNER_BREAK = 0.6; // runner management changes (legacy 0.9.0)
const CLIENT_FLOOR = 0.25; // clients from here on require a server at least as new (legacy 0.4.0)
const ENTRYPOINT_FLOOR = 0.8; // servers from here on drop entrypoints older than ENTRYPOINT_OLDEST
const ENTRYPOINT_OLDEST = 0.55;
/** The fleet's server, as a fraction of the catalog. */
const SERVER_AT = 0.42;

/**
 * A catalog of `n` releases 0.1.0, 0.1.1, …, 0.2.0, … (deterministic from
 * `seed`), built the way legacy.json is written: every release repeats the
 * constraints that apply to it.
 */
export function generateCatalog(n: number, seed: number): Catalog {
  const rand = rng(seed);
  const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const versions: string[] = [];
  let minor = 1;
  let patch = 0;
  for (let i = 0; i < n; i++) {
    versions.push(`0.${minor}.${patch}`);
    if (rand() < 0.25) {
      minor += 1;
      patch = 0;
    } else patch += 1;
  }

  // A protocol family: current advances every `every` releases; min follows
  // some releases later, trailing current by `lag` (overlapping windows).
  const family = (every: [number, number], follow: [number, number], lag: [number, number]) => {
    const out: { min: number; current: number }[] = [];
    let min = 1;
    let current = 1;
    let bump = between(...every);
    let raise: { at: number; to: number } | undefined;
    for (let i = 0; i < n; i++) {
      if (i === bump) {
        current += 1;
        bump = i + between(...every);
        raise = { at: i + between(...follow), to: Math.max(min, current - between(...lag)) };
      }
      if (raise && i === raise.at) {
        min = Math.max(min, Math.min(raise.to, current));
        raise = undefined;
      }
      out.push({ min, current });
    }
    return out;
  };
  const api = family([25, 45], [6, 20], [1, 2]);
  const entrypoint = family([60, 100], [10, 30], [1, 3]);

  // Required stops: releases after milestone k accept upgrades only from milestone k or later.
  const milestones: number[] = [];
  for (let i = between(60, 90); i < n; i += between(80, 130)) milestones.push(i);
  const stopFor = (i: number) => {
    let m: number | undefined;
    for (const k of milestones) if (k < i) m = k;
    return m === undefined ? undefined : `>=${versions[m]}`;
  };

  const runnerBreak = versions[Math.floor(n * RUNNER_BREAK)]!;
  const clientFloor = versions[Math.floor(n * CLIENT_FLOOR)]!;
  const entrypointFloor = Math.floor(n * ENTRYPOINT_FLOOR);
  const entrypointOldest = versions[Math.floor(n * ENTRYPOINT_OLDEST)]!;
  const serverAt = Math.floor(n * SERVER_AT);

  let date = Date.UTC(2020, 9, 15);
  const releases = versions.map((version, i) => {
    date += between(1, 4) * 86_400_000;
    const before = i < Math.floor(n * RUNNER_BREAK);
    const constraints: { when: string; requires: Record<string, string>; why: string }[] = [];
    if (i >= Math.floor(n * CLIENT_FLOOR)) {
      constraints.push({
        when: "client",
        requires: { server: `>=${clientFloor}` },
        why: `Clients from ${clientFloor} use RPCs added in ${clientFloor}.`,
      });
    }
    const runnerWhy = `Runner management changed in ${runnerBreak}.`;
    constraints.push(
      { when: "runner", requires: { server: `${before ? "<" : ">="}${runnerBreak}` }, why: runnerWhy },
      { when: "server", requires: { runner: `${before ? "<" : ">="}${runnerBreak}` }, why: runnerWhy },
    );
    if (i >= entrypointFloor) {
      constraints.push({
        when: "server",
        requires: { entrypoint: `>=${entrypointOldest}` },
        why: `Entrypoints older than ${entrypointOldest} cannot register with this server.`,
      });
    }
    const knownIssues: { affects: string; text: string }[] = [];
    if (Math.abs(i - serverAt) <= 6) {
      knownIssues.push({
        affects: "snapshot",
        text: "Snapshots fail while a config source is set; delete config sources before taking one.",
      });
    }
    if (rand() < 0.03) {
      knownIssues.push({
        affects: (["upgrade", "client", "runner", "entrypoint"] as const)[between(0, 3)]!,
        text: `Generated known issue ${i}: fixed in the next patch release.`,
      });
    }
    const stop = stopFor(i);
    return {
      version,
      date: new Date(date).toISOString().slice(0, 10),
      api: api[i],
      entrypoint: entrypoint[i],
      ...(stop ? { serverUpgradeFrom: stop } : {}),
      constraints,
      knownIssues,
      ...(milestones.includes(i)
        ? { notes: `Required stop: later releases upgrade only from ${version}.` }
        : {}),
    };
  });
  return parseCatalog({ product: "waypoint-ops (generated)", releases }, "generated catalog");
}

/**
 * `count` components over `versions` distinct releases around (mostly
 * before) the server's, each compatible with the server (an inventory lists
 * what the server accepted): 60% clients, 15% runners, 25% entrypoints.
 */
export function generateInventory(
  catalog: Catalog,
  count: number,
  versions: number,
  seed: number,
): { inventory: InventoryJson; distinct: number } {
  const rand = rng(seed);
  const rel = catalog.releases;
  const serverIndex = Math.floor(rel.length * SERVER_AT);
  const server = rel[serverIndex]!;
  const state = { version: server.version, api: server.api, entrypoint: server.entrypoint, release: server };
  const fits = (kind: ComponentKind, r: Release) =>
    incompatibility({ kind, version: r.version, range: range(kind, r), release: r }, state) === undefined;
  const kinds = ["client", "runner", "entrypoint"] as const;
  // The `versions` newest releases, up to a few past the server, that some kind of component can run.
  const pool: Release[] = [];
  for (let i = Math.min(rel.length - 1, serverIndex + Math.floor(versions / 20)); i >= 0; i--) {
    if (pool.length === versions) break;
    if (kinds.some((k) => fits(k, rel[i]!))) pool.unshift(rel[i]!);
  }
  const byKind = new Map<ComponentKind, Release[]>(kinds.map((k) => [k, pool.filter((r) => fits(k, r))]));
  // Newer versions are more common (a fleet that mostly keeps up).
  const pick = (kind: ComponentKind) => {
    const list = byKind.get(kind)!;
    return list[Math.floor(list.length * Math.sqrt(rand()))]!;
  };
  const used = new Set<string>();
  const components: InventoryComponent[] = [];
  const seen = "2026-11-22T10:00:00.000Z";
  const apps = Math.max(1, Math.floor(count / 50));
  for (let i = 0; i < count; i++) {
    const roll = rand();
    let kind: ComponentKind = roll < 0.6 ? "client" : roll < 0.75 ? "runner" : "entrypoint";
    // Every version of the pool shows up at least once.
    let r: Release;
    if (i < pool.length) {
      r = pool[i]!;
      if (!fits(kind, r)) kind = kinds.find((k) => fits(k, r))!;
    } else r = pick(kind);
    used.add(r.version);
    const id = `${kind}-${String(i).padStart(6, "0")}`;
    const base = { kind, id, version: r.version, lastSeen: seen, firstSeen: "2026-10-01T08:00:00.000Z" };
    if (kind === "client") {
      components.push({ ...base, via: rand() < 0.8 ? "cli" : "ui", api: r.api, connected: rand() < 0.3 });
    } else if (kind === "runner") {
      components.push({ ...base, api: r.api, connected: rand() < 0.9 });
    } else {
      const app = `app-${String(Math.floor(rand() * apps)).padStart(4, "0")}`;
      components.push({
        ...base,
        entrypoint: r.entrypoint,
        app,
        deployment: `${app}-d${1 + Math.floor(rand() * 20)}`,
        instance: `inst-${i.toString(36)}`,
        hostname: `node-${i % 1499}`,
        connected: true,
      });
    }
  }
  return {
    inventory: {
      server: { version: server.version, api: server.api, entrypoint: server.entrypoint },
      activeWindow: "168h",
      components,
      rejected: rejected(catalog, serverIndex, rand),
    },
    distinct: used.size,
  };
}

/** A few callers the server turned away: clients too old for its api protocol. */
function rejected(catalog: Catalog, serverIndex: number, rand: () => number): InventoryRejected[] {
  const server = catalog.releases[serverIndex]!;
  const old = catalog.releases.filter((r) => r.api.current < server.api.min).slice(-20);
  return old.map((r, i) => ({
    kind: "client",
    via: "cli",
    id: `rejected-client-${i}`,
    version: r.version,
    api: r.api,
    lastSeen: "2026-11-22T09:00:00.000Z",
    reason: `api protocol ${r.api.min}-${r.api.current} does not overlap the server's ${server.api.min}-${server.api.current}`,
    count: 1 + Math.floor(rand() * 50),
  }));
}

function range(kind: ComponentKind, r: Release) {
  return kind === "entrypoint" ? r.entrypoint : r.api;
}
