/**
 * A live restore under connected entrypoints: each is asked to reconnect and
 * is checked against the restored data. One whose deployment the snapshot
 * holds registers again; one whose deployment it does not is refused, loudly,
 * and its app keeps running.
 */
import { Readable } from "node:stream";
import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { startTestServer } from "../helpers/server.js";
import { waitFor } from "../helpers/wait.js";

const node = process.execPath;
const APP = `console.log('up ' + (process.env.WAYPOINT_DEPLOYMENT_ID ?? '')); setInterval(() => console.log('tick'), 100);`;

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of stream) parts.push(b as Buffer);
  return Buffer.concat(parts);
}

test("after a live restore, an entrypoint the snapshot knows re-registers and one it does not is refused, its app running on", async (t) => {
  const s = await startTestServer(t);
  const conn = s.connect();
  await conn.createApp("web");
  const kept = await conn.createDeployment("web");
  const archive = await collect(conn.takeSnapshot());
  const gone = await conn.createDeployment("web");

  const envOf = (d: typeof kept) => ({
    WAYPOINT_SERVER_ADDR: s.address,
    WAYPOINT_CEB_INVITE_TOKEN: d.token,
    WAYPOINT_DEPLOYMENT_ID: d.deployment.id,
    WAYPOINT_CEB_RETRY_BASE_MS: "50",
    WAYPOINT_CEB_RETRY_MAX_MS: "200",
  });
  const a = spawnEntrypoint(t, [node, "-e", APP], { env: envOf(kept) });
  const b = spawnEntrypoint(t, [node, "-e", APP], { env: envOf(gone) });
  await a.waitForStdout("up web-v1\n");
  await b.waitForStdout("up web-v2\n");
  const connected = async () =>
    (await conn.listInstances({ app: "web" }))
      .filter((i) => i.connected)
      .map((i) => i.deployment)
      .sort();
  await waitFor(async () => (await connected()).join() === "web-v1,web-v2", "both instances connected");

  const restored = await conn.restoreSnapshot(Readable.from([archive]), { mode: "live" });
  t.is(restored.mode, "live");

  // The refused one says so at error level, naming the missing deployment or token.
  const refusal = await b.waitForLog(
    "the server refused this entrypoint: the app runs without configuration, logs and exec until it is accepted",
  );
  t.regex(String(refusal.err), /web-v2|token/);
  // The kept one is back, written into the restored database; the other is not connected.
  await waitFor(
    async () => (await connected()).join() === "web-v1",
    "only web-v1 connected after the restore",
  );
  // Both apps kept running throughout.
  const ticks = (p: typeof a) => p.stdout().toString().split("tick\n").length;
  const [ta, tb] = [ticks(a), ticks(b)];
  await waitFor(() => ticks(a) > ta + 2 && ticks(b) > tb + 2, "both apps still writing");
  t.is(a.child.exitCode, null);
  t.is(b.child.exitCode, null);
});
