import { readFileSync } from "node:fs";
import test, { type ExecutionContext } from "ava";
import semver from "semver";
import {
  CATALOG_ROLES,
  findRelease,
  KNOWN_ISSUE_AREAS,
  newestRelease,
  parseCatalog,
} from "../../src/protocol/catalog.js";
import { AppError } from "../../src/protocol/errors.js";

const LEGACY_PATH = new URL("../../fixtures/catalogs/legacy.json", import.meta.url);
const legacyText = readFileSync(LEGACY_PATH, "utf8");
const legacyRaw = JSON.parse(legacyText) as { releases: { version: string }[] };

type Json = Record<string, unknown>;
interface RawRelease extends Json {
  constraints?: Json[];
  knownIssues?: Json[];
}
interface RawCatalog extends Json {
  releases: RawRelease[];
}

/** A small valid catalog; release 0.9.0 (index 1) carries every optional field. */
function baseCatalog(): RawCatalog {
  return {
    product: "waypoint-ops",
    source: "unit test",
    releases: [
      { version: "0.8.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } },
      {
        version: "0.9.0",
        date: "2022-06-07",
        api: { min: 1, current: 2 },
        entrypoint: { min: 1, current: 1 },
        serverUpgradeFrom: ">=0.8.0",
        constraints: [{ when: "runner", requires: { server: ">=0.9.0" }, why: "Runner management changed." }],
        knownIssues: [{ affects: "snapshot", text: "Snapshots of large databases are slow." }],
        notes: "New runner protocol.",
      },
    ],
  };
}

/** The release at index 1 (version 0.9.0) of a base catalog. */
const r1 = (c: RawCatalog): RawRelease => c.releases[1]!;

function rejects(t: ExecutionContext, input: unknown, ...fragments: string[]): void {
  const err = t.throws(() => parseCatalog(input, "test.json"), { instanceOf: AppError });
  if (!err) return;
  t.is(err.code, "CATALOG_INVALID", err.message);
  t.true(err.message.startsWith("test.json: "), err.message);
  for (const fragment of fragments) {
    t.true(
      err.message.includes(fragment),
      `expected ${JSON.stringify(err.message)} to contain ${JSON.stringify(fragment)}`,
    );
  }
}

// --- the legacy catalog ----------------------------------------------------------------------------

test("parses the legacy catalog fixture", (t) => {
  const catalog = parseCatalog(legacyText, "legacy.json");
  t.is(catalog.product, "waypoint (legacy HashiCorp releases)");
  t.true(catalog.source?.startsWith("Protocol numbers read from the protocolversion package"));
});

test("keeps every release of the legacy catalog", (t) => {
  const catalog = parseCatalog(legacyText);
  // The fixture (a copy of waypoint-legacy-catalog.json) lists 42 releases, 0.1.1 to 0.11.4.
  t.is(catalog.releases.length, 42);
  t.is(catalog.releases.length, legacyRaw.releases.length);
  t.deepEqual(
    new Set(catalog.releases.map((r) => r.version)),
    new Set(legacyRaw.releases.map((r) => r.version)),
  );
});

test("sorts the legacy catalog by semver, oldest 0.1.1 first and newest 0.11.4 last", (t) => {
  const catalog = parseCatalog(legacyText);
  t.is(catalog.releases[0]?.version, "0.1.1");
  t.is(newestRelease(catalog).version, "0.11.4");
  for (let i = 1; i < catalog.releases.length; i++) {
    const [a, b] = [catalog.releases[i - 1]!.version, catalog.releases[i]!.version];
    t.true(semver.lt(a, b), `${a} should come before ${b}`);
  }
  const versions = catalog.releases.map((r) => r.version);
  t.true(versions.indexOf("0.9.1") < versions.indexOf("0.10.0"), "0.10.0 must sort after 0.9.1");
});

test("reads the constraints and known issues of a legacy release", (t) => {
  const release = findRelease(parseCatalog(legacyText), "0.11.4");
  t.like(release, { version: "0.11.4", date: "2023-08-09", api: { min: 1, current: 1 } });
  t.deepEqual(release?.constraints[0]?.requires, { server: ">=0.4.0" });
  t.is(release?.constraints[0]?.when, "client");
  const first = findRelease(parseCatalog(legacyText), "0.1.1");
  t.is(first?.knownIssues[0]?.affects, "snapshot");
  t.is(first?.notes, "Initial public release.");
});

// --- valid input ---------------------------------------------------------------------------------

test("parses a catalog given as an object the same as given as JSON text", (t) => {
  const c = baseCatalog();
  t.deepEqual(parseCatalog(c), parseCatalog(JSON.stringify(c)));
});

test("reads every field of a release", (t) => {
  t.deepEqual(parseCatalog(baseCatalog()).releases[1], {
    version: "0.9.0",
    date: "2022-06-07",
    api: { min: 1, current: 2 },
    entrypoint: { min: 1, current: 1 },
    serverUpgradeFrom: ">=0.8.0",
    constraints: [{ when: "runner", requires: { server: ">=0.9.0" }, why: "Runner management changed." }],
    knownIssues: [{ affects: "snapshot", text: "Snapshots of large databases are slow." }],
    notes: "New runner protocol.",
  });
});

test("defaults constraints and known issues to empty lists and leaves other optional fields out", (t) => {
  const catalog = parseCatalog({ product: "p", releases: [baseCatalog().releases[0]] });
  const release = catalog.releases[0]!;
  t.deepEqual(release.constraints, []);
  t.deepEqual(release.knownIssues, []);
  for (const key of ["date", "serverUpgradeFrom", "notes"]) t.false(key in release, key);
  t.false("source" in catalog);
});

test("sorts releases by semver precedence, pre-releases before their release", (t) => {
  const c = baseCatalog();
  const template = c.releases[0]!;
  c.releases = ["0.10.0", "0.9.0", "0.2.0", "0.9.0-rc.1", "1.0.0-alpha"].map((version) => ({
    ...template,
    version,
  }));
  t.deepEqual(
    parseCatalog(c).releases.map((r) => r.version),
    ["0.2.0", "0.9.0-rc.1", "0.9.0", "0.10.0", "1.0.0-alpha"],
  );
});

test("finds a release only by its exact version", (t) => {
  const catalog = parseCatalog(baseCatalog());
  t.is(findRelease(catalog, "0.9.0")?.version, "0.9.0");
  t.is(findRelease(catalog, "0.9.1"), undefined);
  t.is(findRelease(catalog, "v0.9.0"), undefined);
});

test("accepts compound semver ranges", (t) => {
  const c = baseCatalog();
  r1(c).serverUpgradeFrom = "0.7.x || >=0.8.0 <0.9.0";
  r1(c).constraints![0]!.requires = { server: "^0.9.0 || ~1.0.1" };
  const release = parseCatalog(c).releases[1]!;
  t.is(release.serverUpgradeFrom, "0.7.x || >=0.8.0 <0.9.0");
  t.deepEqual(release.constraints[0]?.requires, { server: "^0.9.0 || ~1.0.1" });
});

test("accepts every role and every known-issue area", (t) => {
  const c = baseCatalog();
  // A server release constrains component versions; a component release constrains the server.
  r1(c).constraints = CATALOG_ROLES.map((role) => ({
    when: role,
    requires: role === "server" ? { runner: "*", client: "*", entrypoint: "*" } : { server: "*" },
    why: role,
  }));
  r1(c).knownIssues = KNOWN_ISSUE_AREAS.map((area) => ({ affects: area, text: area }));
  const release = parseCatalog(c).releases[1]!;
  t.deepEqual(
    release.constraints.map((x) => x.when),
    [...CATALOG_ROLES],
  );
  t.deepEqual(
    release.knownIssues.map((x) => x.affects),
    [...KNOWN_ISSUE_AREAS],
  );
});

// --- invalid input -------------------------------------------------------------------------------

interface Case {
  readonly title: string;
  readonly mutate: (c: RawCatalog) => void;
  readonly fragments: readonly string[];
}

const CASES: readonly Case[] = [
  // version
  {
    title: "rejects a release whose version is not a semantic version",
    mutate: (c) => {
      r1(c).version = "0.9";
    },
    fragments: ["releases[1]", 'field "version"', '"0.9"'],
  },
  {
    title: "rejects a release version with a leading v",
    mutate: (c) => {
      r1(c).version = "v0.9.0";
    },
    fragments: ["releases[1]", 'field "version"', '"v0.9.0"'],
  },
  {
    title: "rejects a release version with build metadata",
    mutate: (c) => {
      r1(c).version = "0.9.0+build.1";
    },
    fragments: ["releases[1]", 'field "version"', '"0.9.0+build.1"'],
  },
  {
    title: "rejects a release version given as a number",
    mutate: (c) => {
      r1(c).version = 9;
    },
    fragments: ["releases[1]", 'field "version"'],
  },
  {
    title: "rejects a release without a version",
    mutate: (c) => {
      delete r1(c).version;
    },
    fragments: ["releases[1]", 'field "version"'],
  },
  {
    title: "rejects a duplicate version",
    mutate: (c) => {
      c.releases[0]!.version = "0.9.0";
    },
    fragments: ["release 0.9.0", "duplicate version"],
  },
  // protocol ranges
  {
    title: "rejects an api range whose min is greater than its current",
    mutate: (c) => {
      r1(c).api = { min: 3, current: 2 };
    },
    fragments: ["release 0.9.0", 'field "api"', "min (3) is greater than current (2)"],
  },
  {
    title: "rejects an entrypoint range whose min is greater than its current",
    mutate: (c) => {
      r1(c).entrypoint = { min: 5, current: 4 };
    },
    fragments: ["release 0.9.0", 'field "entrypoint"', "min (5) is greater than current (4)"],
  },
  {
    title: "rejects a release without an api range",
    mutate: (c) => {
      delete r1(c).api;
    },
    fragments: ["release 0.9.0", 'field "api"', "must be an object"],
  },
  {
    title: "rejects an entrypoint range starting at zero",
    mutate: (c) => {
      r1(c).entrypoint = { min: 0, current: 1 };
    },
    fragments: ["release 0.9.0", 'field "entrypoint"', "min must be an integer"],
  },
  {
    title: "rejects a fractional api protocol",
    mutate: (c) => {
      r1(c).api = { min: 1, current: 1.5 };
    },
    fragments: ["release 0.9.0", 'field "api"', "current must be an integer"],
  },
  {
    title: "rejects an unknown key in a protocol range",
    mutate: (c) => {
      r1(c).api = { min: 1, current: 2, max: 3 };
    },
    fragments: ["release 0.9.0", 'field "api"', 'unknown key "max"'],
  },
  // unknown keys
  {
    title: "rejects an unknown key at the top level",
    mutate: (c) => {
      c.releasess = [];
    },
    fragments: ["top level", 'unknown key "releasess"'],
  },
  {
    title: "rejects an unknown key in a release",
    mutate: (c) => {
      r1(c).serverUpgradeFom = ">=0.8.0";
    },
    fragments: ["release 0.9.0", 'unknown key "serverUpgradeFom"'],
  },
  {
    title: "rejects an unknown key in a constraint",
    mutate: (c) => {
      r1(c).constraints![0]!.reason = "typo of why";
    },
    fragments: ["release 0.9.0", '"constraints"[0]', 'unknown key "reason"'],
  },
  {
    title: "rejects an unknown key in a known issue",
    mutate: (c) => {
      r1(c).knownIssues![0]!.severity = "high";
    },
    fragments: ["release 0.9.0", '"knownIssues"[0]', 'unknown key "severity"'],
  },
  // serverUpgradeFrom
  {
    title: "rejects a malformed serverUpgradeFrom range",
    mutate: (c) => {
      r1(c).serverUpgradeFrom = ">=0.8.0 garbage";
    },
    fragments: ["release 0.9.0", 'field "serverUpgradeFrom"', '">=0.8.0 garbage" is not a semver range'],
  },
  {
    title: "rejects an empty serverUpgradeFrom range",
    mutate: (c) => {
      r1(c).serverUpgradeFrom = "  ";
    },
    fragments: ["release 0.9.0", 'field "serverUpgradeFrom"', "is not a semver range"],
  },
  {
    title: "rejects a serverUpgradeFrom range with an empty alternative",
    mutate: (c) => {
      r1(c).serverUpgradeFrom = ">=0.8.0 ||";
    },
    fragments: ["release 0.9.0", 'field "serverUpgradeFrom"', "is not a semver range"],
  },
  {
    title: "rejects a serverUpgradeFrom given as a number",
    mutate: (c) => {
      r1(c).serverUpgradeFrom = 8;
    },
    fragments: ["release 0.9.0", 'field "serverUpgradeFrom"'],
  },
  // constraints
  {
    title: "rejects a malformed semver range in a constraint's requires",
    mutate: (c) => {
      r1(c).constraints![0]!.requires = { server: "newer than 0.8" };
    },
    fragments: [
      "release 0.9.0",
      '"constraints"[0].requires.server',
      '"newer than 0.8" is not a semver range',
    ],
  },
  {
    title: "rejects a constraint range with an empty alternative",
    mutate: (c) => {
      r1(c).constraints![0]!.requires = { server: "|| >=0.9.0" };
    },
    fragments: ["release 0.9.0", '"constraints"[0].requires.server', "is not a semver range"],
  },
  {
    title: "rejects an unknown role in a constraint's requires",
    mutate: (c) => {
      r1(c).constraints![0]!.requires = { database: ">=1.0.0" };
    },
    fragments: ["release 0.9.0", '"constraints"[0].requires', 'unknown role "database"'],
  },
  {
    title: "rejects an unknown role in a constraint's when",
    mutate: (c) => {
      r1(c).constraints![0]!.when = "database";
    },
    fragments: [
      "release 0.9.0",
      '"constraints"[0].when',
      "must be one of server, client, runner, entrypoint",
    ],
  },
  {
    title: "rejects a constraint that requires nothing",
    mutate: (c) => {
      r1(c).constraints![0]!.requires = {};
    },
    fragments: ["release 0.9.0", '"constraints"[0].requires', "at least one role"],
  },
  {
    title: "rejects a constraint whose requires is not an object",
    mutate: (c) => {
      r1(c).constraints![0]!.requires = ">=0.9.0";
    },
    fragments: ["release 0.9.0", '"constraints"[0].requires', "must be an object"],
  },
  {
    title: "rejects a constraint without a reason",
    mutate: (c) => {
      r1(c).constraints![0]!.why = "";
    },
    fragments: ["release 0.9.0", '"constraints"[0].why'],
  },
  {
    title: "rejects constraints that are not a list",
    mutate: (c) => {
      r1(c).constraints = { when: "runner" } as unknown as Json[];
    },
    fragments: ["release 0.9.0", 'field "constraints"', "must be an array"],
  },
  {
    title: "rejects a constraint that is not an object",
    mutate: (c) => {
      r1(c).constraints = ["runner needs server 0.9"] as unknown as Json[];
    },
    fragments: ["release 0.9.0", '"constraints"[0]', "must be an object"],
  },
  // known issues
  {
    title: "rejects a known issue affecting an unknown area",
    mutate: (c) => {
      r1(c).knownIssues![0]!.affects = "backup";
    },
    fragments: ["release 0.9.0", '"knownIssues"[0].affects', "must be one of snapshot"],
  },
  {
    title: "rejects a known issue without text",
    mutate: (c) => {
      delete r1(c).knownIssues![0]!.text;
    },
    fragments: ["release 0.9.0", '"knownIssues"[0].text'],
  },
  // other release fields
  {
    title: "rejects a date that does not exist",
    mutate: (c) => {
      r1(c).date = "2022-02-30";
    },
    fragments: ["release 0.9.0", 'field "date"', "YYYY-MM-DD"],
  },
  {
    title: "rejects a date not written YYYY-MM-DD",
    mutate: (c) => {
      r1(c).date = "June 7, 2022";
    },
    fragments: ["release 0.9.0", 'field "date"'],
  },
  {
    title: "rejects notes that are not text",
    mutate: (c) => {
      r1(c).notes = ["a", "b"];
    },
    fragments: ["release 0.9.0", 'field "notes"'],
  },
  {
    title: "rejects a release that is not an object",
    mutate: (c) => {
      c.releases[1] = "0.9.0" as unknown as RawRelease;
    },
    fragments: ["releases[1]", "must be an object"],
  },
  // top level
  {
    title: "rejects an empty list of releases",
    mutate: (c) => {
      c.releases = [];
    },
    fragments: ['field "releases"', "must be a non-empty array"],
  },
  {
    title: "rejects a catalog without releases",
    mutate: (c) => {
      delete (c as Json).releases;
    },
    fragments: ['field "releases"', "must be a non-empty array"],
  },
  {
    title: "rejects releases given as an object",
    mutate: (c) => {
      (c as Json).releases = { "0.9.0": {} };
    },
    fragments: ['field "releases"'],
  },
  {
    title: "rejects a catalog without a product",
    mutate: (c) => {
      delete c.product;
    },
    fragments: ['field "product"', "non-empty string"],
  },
  {
    title: "rejects an empty product name",
    mutate: (c) => {
      c.product = "";
    },
    fragments: ['field "product"'],
  },
  {
    title: "rejects a source that is not text",
    mutate: (c) => {
      c.source = 1;
    },
    fragments: ['field "source"'],
  },
];

for (const { title, mutate, fragments } of CASES) {
  test(title, (t) => {
    const c = baseCatalog();
    t.notThrows(() => parseCatalog(structuredClone(c)), "the base catalog must be valid");
    mutate(c);
    rejects(t, c, ...fragments);
    rejects(t, JSON.stringify(c), ...fragments);
  });
}

test("rejects text that is not JSON", (t) => {
  rejects(t, '{"product": "p", "releases": [', "not valid JSON");
  rejects(t, "", "not valid JSON");
});

test("rejects JSON that is not an object", (t) => {
  rejects(t, "[]", "top level", "must be a JSON object");
  rejects(t, "null", "top level");
  rejects(t, '"catalog"', "top level");
});

test("names the catalog file in its errors, or says catalog by default", (t) => {
  const err = t.throws(() => parseCatalog("{"), { instanceOf: AppError });
  t.true(err?.message.startsWith("catalog: not valid JSON"), err?.message);
  const named = t.throws(() => parseCatalog("{", "/etc/waypoint/releases.json"), { instanceOf: AppError });
  t.true(named?.message.startsWith("/etc/waypoint/releases.json: "), named?.message);
});

test("maps CATALOG_INVALID to gRPC INVALID_ARGUMENT and exit code 1", (t) => {
  const err = t.throws(() => parseCatalog("{}"), { instanceOf: AppError });
  t.is(err?.grpcStatus, "INVALID_ARGUMENT");
  t.is(err?.exitCode, 1);
});

test("a constraint that no compatibility check would ever read is an error naming it", (t) => {
  const base = {
    product: "x",
    releases: [{ version: "1.0.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } }],
  };
  const withConstraint = (c: unknown) => ({ ...base, releases: [{ ...base.releases[0], constraints: [c] }] });
  const runnerNeedsEntrypoint = t.throws(() =>
    parseCatalog(withConstraint({ when: "runner", requires: { entrypoint: ">=1.0.0" }, why: "x" }), "c.json"),
  );
  t.regex(
    runnerNeedsEntrypoint!.message,
    /release 1\.0\.0: field "constraints"\[0\]\.requires: a runner constraint can only require a server version/,
  );
  const serverNeedsServer = t.throws(() =>
    parseCatalog(withConstraint({ when: "server", requires: { server: ">=1.0.0" }, why: "x" }), "c.json"),
  );
  t.regex(serverNeedsServer!.message, /a server constraint requires component versions/);
});
