/**
 * Child process of bench/unary-interceptors.ts: serves GetInventory with one
 * trivial handler twice — behind the full guard chain (header decoding,
 * protocol negotiation, token check, inventory recording into a real SQLite
 * store) and bare — and prints the two ports as JSON on stdout.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { loadWaypointProto } from "../src/gen/load.js";
import type { Inventory } from "../src/gen/waypoint/v1/Inventory.js";
import type { WaypointHandlers } from "../src/gen/waypoint/v1/Waypoint.js";
import { mintToken, TokenCache } from "../src/server/auth.js";
import { AuthThrottle } from "../src/server/auth-throttle.js";
import { SERVER_DEFAULTS } from "../src/server/config.js";
import { Guard } from "../src/server/guard.js";
import { InventoryRecorder } from "../src/server/inventory-recorder.js";
import { createLogger } from "../src/server/logger.js";
import { SqliteStore } from "../src/server/store/sqlite-store.js";
import { StreamLimits } from "../src/server/stream-limits.js";

const logger = createLogger("error");
const benchDir = mkdtempSync(join(tmpdir(), "waypoint-bench-"));
const store = SqliteStore.open(join(benchDir, "data.db"));
const tokens = new TokenCache(store);
const minted = mintToken("management");
store.insertToken(minted.record);
tokens.add(minted.record);
const recorder = new InventoryRecorder(store, {
  server: BUILD_VERSION_INFO,
  activeWindowMs: 7 * 24 * 3600 * 1000,
  flushMs: 1000,
  logger,
});
recorder.start();
const throttle = new AuthThrottle(
  {
    limit: SERVER_DEFAULTS.authFailureLimit,
    windowMs: SERVER_DEFAULTS.authFailureWindowMs,
    cooldownMs: SERVER_DEFAULTS.authFailureCooldownMs,
    maxTracked: SERVER_DEFAULTS.authFailureTrackedAddresses,
    countLoopback: false,
  },
  logger,
);
const streamLimits = new StreamLimits(
  { perToken: SERVER_DEFAULTS.maxStreamsPerToken, perConnection: SERVER_DEFAULTS.maxStreamsPerConnection },
  logger,
);
const guard = new Guard({ server: BUILD_VERSION_INFO, tokens, recorder, logger, throttle, streamLimits });

const RESPONSE: Inventory = {
  server: { ...BUILD_VERSION_INFO },
  activeWindow: "168h",
  components: [],
  rejected: [],
  generatedAt: new Date(0).toISOString(),
};
const handler = () => RESPONSE;
const unimplemented = () => {
  throw new Error("not served by the benchmark");
};
const base = {
  GetVersionInfo: unimplemented,
  BootstrapToken: unimplemented,
  CreateToken: unimplemented,
  WatchState: unimplemented,
} as unknown as WaypointHandlers;

const proto = loadWaypointProto().grpc.waypoint.v1.Waypoint.service;
async function serve(handlers: WaypointHandlers): Promise<number> {
  const server = new grpc.Server();
  server.addService(proto, handlers);
  return new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

const guarded = await serve({ ...base, GetInventory: guard.unary(handler) });
const bare = await serve({
  ...base,
  GetInventory: (_call: unknown, cb: grpc.sendUnaryData<Inventory>) => cb(null, handler()),
} as WaypointHandlers);
process.stdout.write(`${JSON.stringify({ guarded, bare, token: minted.secret })}\n`);
process.on("SIGTERM", () => {
  recorder.stop();
  process.stdout.write(
    `${JSON.stringify({ inventoryRows: store.listComponents().length, index: store.stateIndex() })}\n`,
  );
  store.close();
  rmSync(benchDir, { recursive: true, force: true });
  process.exit(0);
});
