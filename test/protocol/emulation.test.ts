import { readFileSync } from "node:fs";
import test, { type ExecutionContext } from "ava";
import { type Catalog, parseCatalog } from "../../src/protocol/catalog.js";
import { emulatedVersionInfo } from "../../src/protocol/emulation.js";
import { AppError } from "../../src/protocol/errors.js";
import {
  API_PROTOCOL,
  buildVersionInfo,
  ENTRYPOINT_PROTOCOL,
  formatVersion,
} from "../../src/protocol/version-info.js";

const legacy = parseCatalog(
  readFileSync(new URL("../../fixtures/catalogs/legacy.json", import.meta.url), "utf8"),
  "legacy.json",
);

/** Releases with distinct ranges, so a test can tell which release the ranges came from. */
const catalog: Catalog = parseCatalog({
  product: "waypoint-ops",
  releases: [
    { version: "0.1.0", api: { min: 1, current: 1 }, entrypoint: { min: 1, current: 1 } },
    { version: "0.2.0", api: { min: 1, current: 2 }, entrypoint: { min: 1, current: 3 } },
    { version: "0.3.0", api: { min: 2, current: 4 }, entrypoint: { min: 3, current: 5 } },
  ],
});

function rejects(t: ExecutionContext, fn: () => unknown, ...fragments: string[]): AppError | undefined {
  const err = t.throws(fn, { instanceOf: AppError });
  if (!err) return undefined;
  t.is(err.code, "EMULATION_INVALID", err.message);
  for (const fragment of fragments) {
    t.true(
      err.message.includes(fragment),
      `expected ${JSON.stringify(err.message)} to contain ${JSON.stringify(fragment)}`,
    );
  }
  return err;
}

// --- emulating a listed release ---------------------------------------------------------------------

test("advertises a listed release's version and ranges, marked as emulated", (t) => {
  t.deepEqual(emulatedVersionInfo(catalog, "0.2.0"), {
    version: "0.2.0",
    api: { min: 1, current: 2 },
    entrypoint: { min: 1, current: 3 },
    emulated: true,
  });
  t.deepEqual(emulatedVersionInfo(catalog, "0.3.0"), {
    version: "0.3.0",
    api: { min: 2, current: 4 },
    entrypoint: { min: 3, current: 5 },
    emulated: true,
  });
});

test("emulates every release of the legacy catalog", (t) => {
  for (const release of legacy.releases) {
    const info = emulatedVersionInfo(legacy, release.version);
    t.is(info.version, release.version);
    t.deepEqual(info.api, release.api);
    t.deepEqual(info.entrypoint, release.entrypoint);
    t.true(info.emulated);
  }
});

test("returns a frozen version info", (t) => {
  t.true(Object.isFrozen(emulatedVersionInfo(catalog, "0.1.0")));
});

// --- emulating an unlisted release ------------------------------------------------------------------

test("rejects a version the catalog does not list, naming it", (t) => {
  rejects(t, () => emulatedVersionInfo(catalog, "0.4.0"), '"0.4.0"', "no such release");
});

test("lists the catalog's versions when it rejects an unlisted one", (t) => {
  rejects(t, () => emulatedVersionInfo(catalog, "9.9.9"), "0.1.0, 0.2.0, 0.3.0");
});

test("abbreviates a long list of versions to the oldest and newest ones", (t) => {
  const err = rejects(t, () => emulatedVersionInfo(legacy, "0.12.0"), '"0.12.0"', "0.1.1", "…", "0.11.4");
  t.false(err?.message.includes("0.5.0"), err?.message);
});

test("rejects a version spelled differently from the catalog's", (t) => {
  rejects(t, () => emulatedVersionInfo(catalog, "v0.2.0"), '"v0.2.0"');
  rejects(t, () => emulatedVersionInfo(catalog, "0.2"), '"0.2"');
  rejects(t, () => emulatedVersionInfo(catalog, ""), '""');
});

test("maps EMULATION_INVALID to gRPC INVALID_ARGUMENT with a hint naming the settings", (t) => {
  const err = rejects(t, () => emulatedVersionInfo(catalog, "0.4.0"));
  t.is(err?.grpcStatus, "INVALID_ARGUMENT");
  t.true(err?.hint.includes("WAYPOINT_EMULATE_VERSION"));
  t.true(err?.hint.includes("WAYPOINT_CATALOG"));
});

// --- the build's own version info --------------------------------------------------------------------

test("advertises the build's own ranges when not emulating", (t) => {
  t.deepEqual(buildVersionInfo("0.1.0"), {
    version: "0.1.0",
    api: API_PROTOCOL,
    entrypoint: ENTRYPOINT_PROTOCOL,
    emulated: false,
  });
  t.true(Object.isFrozen(buildVersionInfo("0.1.0")));
});

test("keeps the build's protocol ranges valid and frozen", (t) => {
  for (const range of [API_PROTOCOL, ENTRYPOINT_PROTOCOL]) {
    t.true(Number.isInteger(range.min) && range.min >= 1);
    t.true(range.min <= range.current);
    t.true(Object.isFrozen(range));
  }
});

test("marks an emulated version when formatting it", (t) => {
  t.is(formatVersion(emulatedVersionInfo(catalog, "0.2.0")), "0.2.0 (emulated)");
  t.is(formatVersion(buildVersionInfo("0.2.0")), "0.2.0");
});
