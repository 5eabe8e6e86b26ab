import { readFileSync } from "node:fs";
import test from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { findRelease, parseCatalog } from "../../src/protocol/catalog.js";

test("the shipped catalog lists this build's version with its protocol ranges", (t) => {
  const catalog = parseCatalog(
    readFileSync("fixtures/catalogs/waypoint-ops.json", "utf8"),
    "waypoint-ops.json",
  );
  t.is(catalog.product, "waypoint-ops");
  const release = findRelease(catalog, BUILD_VERSION_INFO.version);
  t.truthy(release, `add ${BUILD_VERSION_INFO.version} to fixtures/catalogs/waypoint-ops.json`);
  t.deepEqual(release?.api, BUILD_VERSION_INFO.api);
  t.deepEqual(release?.entrypoint, BUILD_VERSION_INFO.entrypoint);
});

test("the legacy catalog is a byte-for-byte copy of the shared data", (t) => {
  const shared = new URL("../../../shared/data/waypoint-legacy-catalog.json", import.meta.url);
  let original: Buffer;
  try {
    original = readFileSync(shared);
  } catch {
    t.log("shared/ is not beside this checkout; comparing with the parsed fixture only");
    t.is(parseCatalog(readFileSync("fixtures/catalogs/legacy.json", "utf8")).releases.length, 42);
    return;
  }
  t.deepEqual(readFileSync("fixtures/catalogs/legacy.json"), original);
});
