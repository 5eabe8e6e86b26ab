import type { ExecutionContext } from "ava";
import type { LogLineInfo } from "../../src/client/runtime.js";
import { entrypointRpc } from "./entrypoint-rpc.js";
import { startTestServer } from "./server.js";

/**
 * A real server with app `web`, its first deployment and `n` registered instances, each on a
 * connection of its own with its config stream open (`first`: the stream's first message), and a
 * reader of the app's log buffer.
 */
export async function registeredFleet(t: ExecutionContext, n: number) {
  const s = await startTestServer(t, { logLevel: "info" });
  const admin = s.connect({ id: "admin" });
  await admin.createApp("web");
  const v1 = await admin.createDeployment("web");
  const eps = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const ep = entrypointRpc(t, {
        address: s.address,
        token: v1.token,
        id: `inst-${i}`,
        deployment: v1.deployment.id,
        channel: { "grpc.use_local_subchannel_pool": 1 },
      });
      const config = ep.config();
      const first = await config.message(0);
      return { ep, config, first };
    }),
  );
  const readLogs = () =>
    new Promise<LogLineInfo[]>((resolve, reject) => {
      const out: LogLineInfo[] = [];
      admin.logs(
        { app: "web" },
        (l) => out.push(...l),
        (err) => (err ? reject(err) : resolve(out)),
      );
    });
  return { s, admin, eps, readLogs };
}
