/**
 * Unary RPC throughput through the full interceptor chain against the same
 * handler with no interceptors, measured in one run (issue target: ratio ≥ 0.8).
 *
 * The server runs in a child process so that the load generator (this
 * process) does not share its event loop. Both paths get identical requests
 * (all identity headers and the bearer token), so only server-side work
 * differs. Rounds alternate guarded/bare to cancel out drift.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { Connection } from "../src/client/connection.js";
import { clientIdentity } from "../src/client/identity.js";

export interface InterceptorResult {
  readonly guardedPerSec: number;
  readonly barePerSec: number;
  readonly ratio: number;
  readonly connections: number;
  readonly inFlightPerConnection: number;
  readonly roundSeconds: number;
  readonly rounds: number;
  readonly inventoryRows: number;
}

export async function benchInterceptors(
  opts: { connections?: number; inFlight?: number; roundSeconds?: number; rounds?: number } = {},
): Promise<InterceptorResult> {
  const connections = opts.connections ?? 16;
  const inFlight = opts.inFlight ?? 8;
  const roundSeconds = opts.roundSeconds ?? 4;
  const rounds = opts.rounds ?? 3;
  const child = spawn(
    process.execPath,
    ["--import=tsx", new URL("./interceptor-server.ts", import.meta.url).pathname],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const first = await lines.next();
  const { guarded, bare, token } = JSON.parse(String(first.value)) as {
    guarded: number;
    bare: number;
    token: string;
  };

  const open = (port: number) =>
    Array.from(
      { length: connections },
      (_, i) =>
        new Connection(
          { address: `127.0.0.1:${port}`, token, tls: false, tlsSkipVerify: false, source: "bench" },
          clientIdentity("cli", `bench-client-${i}`, BUILD_VERSION_INFO),
          { channel: { "grpc.use_local_subchannel_pool": 1 } },
        ),
    );
  const guardedConns = open(guarded);
  const bareConns = open(bare);

  const round = async (conns: Connection[]): Promise<number> => {
    const end = Date.now() + roundSeconds * 1000;
    let done = 0;
    const worker = async (c: Connection) => {
      while (Date.now() < end) {
        await c.inventory();
        done += 1;
      }
    };
    const started = Date.now();
    await Promise.all(conns.flatMap((c) => Array.from({ length: inFlight }, () => worker(c))));
    return done / ((Date.now() - started) / 1000);
  };

  // Warm up both paths (JIT, connections).
  await round(guardedConns.slice(0, 2));
  await round(bareConns.slice(0, 2));
  const g: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < rounds; i++) {
    g.push(await round(guardedConns));
    b.push(await round(bareConns));
  }
  for (const c of [...guardedConns, ...bareConns]) c.close();
  child.kill("SIGTERM");
  const last = await lines.next();
  const { inventoryRows } = JSON.parse(String(last.value ?? "{}")) as { inventoryRows: number };
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  const guardedPerSec = mean(g);
  const barePerSec = mean(b);
  return {
    guardedPerSec,
    barePerSec,
    ratio: guardedPerSec / barePerSec,
    connections,
    inFlightPerConnection: inFlight,
    roundSeconds,
    rounds,
    inventoryRows,
  };
}
