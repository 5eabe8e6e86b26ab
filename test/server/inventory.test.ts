import test from "ava";
import { startTestServer } from "../helpers/server.js";

test("the inventory lists the CLI that called the server", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect({ id: "cli-under-test" });
  const inv = await conn.inventory();
  const me = inv.components.find((c) => c.id === "cli-under-test");
  t.like(me, { kind: "client", via: "cli", version: s.connect().identity.version, connected: false });
  t.deepEqual(me?.api, conn.identity.api);
  t.is(inv.activeWindow, "168h");
});
