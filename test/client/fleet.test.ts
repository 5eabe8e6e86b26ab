import { readFileSync } from "node:fs";
import test from "ava";
import { Fleet } from "../../src/client/fleet.js";
import { parseCatalog } from "../../src/protocol/catalog.js";
import { emulatedVersionInfo } from "../../src/protocol/emulation.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const catalog = parseCatalog(
  readFileSync("fixtures/catalogs/protocol-steps.json", "utf8"),
  "protocol-steps.json",
);

test("a simulated fleet shows up in the inventory, refused members under rejected", async (t) => {
  const s = await startTestServer(t, { versionInfo: emulatedVersionInfo(catalog, "0.3.0") });
  const fleet = await Fleet.start({
    server: { address: s.address, tls: false, tlsSkipVerify: false },
    managementToken: s.token,
    catalog,
    groups: [
      { kind: "cli", count: 3, version: "0.2.0" },
      { kind: "runner", count: 2, version: "0.1.0" },
      { kind: "entrypoint", count: 4, version: "0.1.0", app: "web", deployment: "web-v7" },
      { kind: "entrypoint", count: 1, version: "0.4.0", app: "api", deployment: "api-v2" },
    ],
  });
  t.teardown(() => fleet.stop());
  t.is(fleet.count("connected"), 8);
  t.is(fleet.count("rejected"), 2);
  for (const m of fleet.members.filter((x) => x.state === "rejected")) {
    t.is(m.group.kind, "runner");
    t.is(m.error?.code, "CLIENT_OUTDATED");
    t.is(m.error?.grpcStatus, "FAILED_PRECONDITION");
  }

  const admin = s.connect({ info: emulatedVersionInfo(catalog, "0.3.0"), id: "admin" });
  const inv = await admin.inventory();
  t.true(inv.server.emulated);
  const sims = inv.components.filter((c) => c.id.startsWith("sim-") && !c.id.endsWith("admin"));
  t.is(sims.length, 8);
  t.true(sims.every((c) => c.connected && c.emulated === true));
  const web = sims.filter((c) => c.app === "web");
  t.is(web.length, 4);
  t.true(web.every((c) => c.deployment === "web-v7" && c.version === "0.1.0" && c.entrypoint?.current === 1));
  t.deepEqual(inv.rejected.map((r) => [r.kind, r.version, r.count]).sort(), [
    ["runner", "0.1.0", 1],
    ["runner", "0.1.0", 1],
  ]);
  t.regex(inv.rejected[0]!.reason, /api protocol 1.*2-3/);

  fleet.stop();
  await waitFor(async () => {
    const after = await admin.inventory();
    return after.components.filter((c) => c.id.startsWith("sim-") && c.connected).length === 0;
  }, "every simulated member to show as disconnected");
  t.pass();
});
