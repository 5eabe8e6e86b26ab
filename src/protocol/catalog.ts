import semver from "semver";
import { AppError } from "./errors.js";
import { type ProtocolRange, rangeProblem } from "./range.js";
import { asObject, type Obj, onlyKeys } from "./validate.js";

/** Component roles named by catalog constraints (DESIGN §6). */
export const CATALOG_ROLES = ["server", "client", "runner", "entrypoint"] as const;
export type CatalogRole = (typeof CATALOG_ROLES)[number];

/** What a known issue can affect. */
export const KNOWN_ISSUE_AREAS = [
  "snapshot",
  "restore",
  "upgrade",
  "server",
  "client",
  "runner",
  "entrypoint",
] as const;
export type KnownIssueArea = (typeof KNOWN_ISSUE_AREAS)[number];

/** When a component of role `when` runs this release, the other roles must satisfy `requires`. */
export interface Constraint {
  readonly when: CatalogRole;
  /** Role → semver range the other side's version must satisfy. */
  readonly requires: Readonly<Partial<Record<CatalogRole, string>>>;
  readonly why: string;
}

export interface KnownIssue {
  readonly affects: KnownIssueArea;
  readonly text: string;
}

export interface Release {
  readonly version: string;
  readonly date?: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  /** Server versions that may upgrade straight to this release; absent = any. */
  readonly serverUpgradeFrom?: string;
  readonly constraints: readonly Constraint[];
  readonly knownIssues: readonly KnownIssue[];
  readonly notes?: string;
}

export interface Catalog {
  readonly product: string;
  /** Where the data came from (free text). */
  readonly source?: string;
  /** Sorted oldest first by semver precedence. */
  readonly releases: readonly Release[];
}

/**
 * Parses and validates a release catalog (DESIGN §6). Every problem is an
 * AppError CATALOG_INVALID naming the file, the release and the field.
 */
export function parseCatalog(input: string | unknown, origin = "catalog"): Catalog {
  let data: unknown = input;
  if (typeof input === "string") {
    try {
      data = JSON.parse(input);
    } catch (err) {
      throw new AppError("CATALOG_INVALID", `${origin}: not valid JSON: ${(err as Error).message}`);
    }
  }
  const fail = (where: string, problem: string): never => {
    throw new AppError("CATALOG_INVALID", `${origin}: ${where}: ${problem}`);
  };
  const top = asObject(data, () => fail("top level", "must be a JSON object"));
  onlyKeys(top, ["product", "source", "releases"], (k) =>
    fail("top level", `unknown key ${JSON.stringify(k)}`),
  );
  const product = top.product;
  if (typeof product !== "string" || product === "") fail('field "product"', "must be a non-empty string");
  if (top.source !== undefined && typeof top.source !== "string") fail('field "source"', "must be a string");
  if (!Array.isArray(top.releases) || top.releases.length === 0)
    fail('field "releases"', "must be a non-empty array");

  const seen = new Set<string>();
  const releases = (top.releases as unknown[]).map((raw, i) => {
    const r = asObject(raw, () => fail(`releases[${i}]`, "must be an object"));
    const version = r.version;
    if (typeof version !== "string" || semver.valid(version) === null || semver.clean(version) !== version) {
      fail(`releases[${i}]`, `field "version": ${JSON.stringify(version)} is not a semantic version`);
    }
    const v = version as string;
    const at = (field: string) => `release ${v}: field "${field}"`;
    if (seen.has(v)) fail(`release ${v}`, "duplicate version");
    seen.add(v);
    onlyKeys(r, RELEASE_KEYS, (k) => fail(`release ${v}`, `unknown key ${JSON.stringify(k)}`));
    if (r.date !== undefined && !isDate(r.date)) {
      fail(at("date"), "must be a date YYYY-MM-DD");
    }
    for (const family of ["api", "entrypoint"] as const) {
      const problem = rangeProblem(r[family]);
      if (problem) fail(at(family), problem);
    }
    if (r.serverUpgradeFrom !== undefined && !isRange(r.serverUpgradeFrom)) {
      fail(at("serverUpgradeFrom"), `${JSON.stringify(r.serverUpgradeFrom)} is not a semver range`);
    }
    if (r.notes !== undefined && typeof r.notes !== "string") fail(at("notes"), "must be a string");
    const constraints = listOf(r.constraints, at("constraints"), fail).map((c, j) => {
      const where = `${at("constraints")}[${j}]`;
      onlyKeys(c, ["when", "requires", "why"], (k) => fail(where, `unknown key ${JSON.stringify(k)}`));
      if (!isRole(c.when)) fail(`${where}.when`, `must be one of ${CATALOG_ROLES.join(", ")}`);
      const req = asObject(c.requires, () => fail(`${where}.requires`, "must be an object"));
      if (Object.keys(req).length === 0) fail(`${where}.requires`, "must name at least one role");
      for (const [role, range] of Object.entries(req)) {
        if (!isRole(role)) fail(`${where}.requires`, `unknown role ${JSON.stringify(role)}`);
        // Compatibility is always between a component and the server: a server release constrains the
        // components, a component release constrains the server. Anything else would never be checked.
        if ((c.when === "server") === (role === "server")) {
          fail(
            `${where}.requires`,
            c.when === "server"
              ? `a server constraint requires component versions (client, runner, entrypoint), not ${JSON.stringify(role)}`
              : `a ${c.when} constraint can only require a server version, not ${JSON.stringify(role)}`,
          );
        }
        if (!isRange(range))
          fail(`${where}.requires.${role}`, `${JSON.stringify(range)} is not a semver range`);
      }
      if (typeof c.why !== "string" || c.why === "") fail(`${where}.why`, "must be a non-empty string");
      return { when: c.when as CatalogRole, requires: req as Constraint["requires"], why: c.why as string };
    });
    const knownIssues = listOf(r.knownIssues, at("knownIssues"), fail).map((k, j) => {
      const where = `${at("knownIssues")}[${j}]`;
      onlyKeys(k, ["affects", "text"], (key) => fail(where, `unknown key ${JSON.stringify(key)}`));
      if (!(KNOWN_ISSUE_AREAS as readonly unknown[]).includes(k.affects)) {
        fail(`${where}.affects`, `must be one of ${KNOWN_ISSUE_AREAS.join(", ")}`);
      }
      if (typeof k.text !== "string" || k.text === "") fail(`${where}.text`, "must be a non-empty string");
      return { affects: k.affects as KnownIssueArea, text: k.text as string };
    });
    const release: Release = {
      version: v,
      api: { min: (r.api as Obj).min as number, current: (r.api as Obj).current as number },
      entrypoint: {
        min: (r.entrypoint as Obj).min as number,
        current: (r.entrypoint as Obj).current as number,
      },
      constraints,
      knownIssues,
      ...(r.date === undefined ? {} : { date: r.date as string }),
      ...(r.serverUpgradeFrom === undefined ? {} : { serverUpgradeFrom: r.serverUpgradeFrom as string }),
      ...(r.notes === undefined ? {} : { notes: r.notes as string }),
    };
    return release;
  });
  releases.sort((a, b) => semver.compare(a.version, b.version));
  return {
    product: product as string,
    ...(top.source === undefined ? {} : { source: top.source as string }),
    releases,
  };
}

export function findRelease(catalog: Catalog, version: string): Release | undefined {
  return catalog.releases.find((r) => r.version === version);
}

export function newestRelease(catalog: Catalog): Release {
  return catalog.releases[catalog.releases.length - 1]!;
}

const RELEASE_KEYS = [
  "version",
  "date",
  "api",
  "entrypoint",
  "serverUpgradeFrom",
  "constraints",
  "knownIssues",
  "notes",
] as const;

function listOf(value: unknown, where: string, fail: (w: string, p: string) => never): Obj[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) return fail(where, "must be an array");
  return value.map((v, i) => asObject(v, () => fail(`${where}[${i}]`, "must be an object")));
}

function isRole(value: unknown): value is CatalogRole {
  return (CATALOG_ROLES as readonly unknown[]).includes(value);
}

/**
 * A semver range with no empty alternative: semver reads "" and the empty side
 * of "<0.9.0 ||" as "*", so a typo would silently mean "any version".
 */
function isRange(value: unknown): value is string {
  return (
    typeof value === "string" &&
    value.split("||").every((alternative) => alternative.trim() !== "") &&
    semver.validRange(value) !== null
  );
}

/** A real calendar date written YYYY-MM-DD (not 2023-02-30). */
function isDate(value: unknown): value is string {
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}
