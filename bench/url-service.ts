/**
 * The URL service's cost: requests per second and latency of one small HTTP app reached through the
 * server's URL listener (Host `<app>.localhost`, carried over the entrypoint's outbound gRPC
 * connection) beside the same load generator hitting the app directly on 127.0.0.1:$PORT, in one
 * run; then one large download and one large upload each way (MiB/s).
 *
 * A real server process and a real `waypoint-entrypoint` process on the compiled tree (the
 * entrypoint bundled, as `npm run build` ships it); the app is a node:http server run by the
 * entrypoint, so both paths reach the same app process. The load generator is autocannon, in this
 * process. `node --import=tsx bench/url-service.ts` runs this bench alone and rewrites its section of
 * BENCHMARKS.md (`--quick` for a short smoke run, printed only); `npm run bench` runs it last.
 *
 * It fails, loudly, if any request through the URL service is not answered by the app (an error, a
 * timeout, a non-2xx or a body that is not the app's), naming what came back and what the server and
 * the entrypoint logged.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import autocannon from "autocannon";
import { benchServer, compiledTree, fmt, median, ROOT, waitUntil, writeBenchSection } from "./compiled.js";

export const URL_SERVICE_HEADING = "## URL service: requests through the tunnel vs the app directly";
const APP = "bench";
const HOST = `${APP}.localhost`;

/** The small response: ~300 bytes of JSON, as an API answering a lookup would send. */
const SMALL = JSON.stringify({
  id: "7f3c2a9e-1b4d-4c8e-9a6f-2d5e8b1c0a47",
  name: "bench",
  status: "ok",
  region: "eu-west",
  version: "1.4.2",
  items: [
    { sku: "A-1001", qty: 3, price: 1299 },
    { sku: "B-2002", qty: 1, price: 4999 },
    { sku: "C-3003", qty: 12, price: 250 },
  ],
  updatedAt: "2026-11-20T10:15:30.000Z",
  note: "a few hundred bytes of JSON, the size of a typical API answer",
});

/**
 * The app: GET / answers SMALL; GET /big streams BIG_BYTES in 64 KiB writes with backpressure;
 * POST /upload reads the body and answers with its length.
 */
const APP_SOURCE = `
const http = require("node:http");
const SMALL = Buffer.from(${JSON.stringify(SMALL)});
const BIG = Number(process.env.BIG_BYTES);
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
http.createServer((q, r) => {
  if (q.method === "POST") {
    let n = 0;
    q.on("data", (c) => (n += c.length));
    q.on("end", () => {
      const body = JSON.stringify({ received: n });
      r.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      r.end(body);
    });
    return;
  }
  if (q.url === "/big") {
    r.writeHead(200, { "content-type": "application/octet-stream", "content-length": BIG });
    let left = BIG;
    const more = () => {
      while (left > 0) {
        const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
        left -= c.length;
        if (left === 0) { r.end(c); return; }
        if (!r.write(c)) { r.once("drain", more); return; }
      }
    };
    more();
    return;
  }
  q.resume();
  r.writeHead(200, { "content-type": "application/json", "content-length": SMALL.length });
  r.end(SMALL);
}).listen(Number(process.env.PORT), "127.0.0.1", () => console.log("listening"));
`;

export interface LoadRun {
  readonly path: "direct" | "url";
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly perSec: number;
  /** From every 2xx response's own time (autocannon's `response` event, sub-millisecond). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU time (user + system) of each process during the run. */
  readonly cpuMs: { server: number; entrypoint: number; app: number; loadgen: number };
}

export interface Transfer {
  readonly path: "direct" | "url";
  readonly kind: "download" | "upload";
  readonly ms: number[];
}

export interface UrlServiceBench {
  readonly machine: string;
  /** The commit the tree was built from, and how many files under src/ differed from it. */
  readonly source: string;
  readonly measured: string;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly responseBytes: number;
  readonly warmupSeconds: number;
  readonly runs: readonly LoadRun[];
  readonly bodyBytes: number;
  readonly transfers: readonly Transfer[];
  /** Why the large-body case could not run, if it could not. */
  readonly transferFailure?: string;
  /** Peak RSS (VmHWM) of the server and the entrypoint once connected, after the request runs and at the end. */
  readonly peakRssMiB: {
    readonly idle: { server: number; entrypoint: number };
    readonly requests: { server: number; entrypoint: number };
    readonly end: { server: number; entrypoint: number };
  };
  readonly entrypointEnv: Record<string, string>;
  readonly buildMs: number;
  readonly totalMs: number;
}

export interface UrlServiceOptions {
  readonly connections?: readonly number[];
  readonly seconds?: number;
  readonly warmupSeconds?: number;
  readonly bodyBytes?: number;
  readonly bodyRounds?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** "abc1234" or "abc1234 + 3 changed files under src/": what the compiled tree was built from. */
function sourceRevision(): string {
  try {
    const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
    const head = git("rev-parse", "--short", "HEAD");
    const changed = git("status", "--porcelain", "--", "src").split("\n").filter(Boolean).length;
    return changed ? `${head} + ${changed} changed file${changed === 1 ? "" : "s"} under src/` : head;
  } catch {
    return "unknown (no git)";
  }
}

function cpuMs(pid: number): number {
  // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100 per second on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function peakRssMiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
}

/** The app's pid: the entrypoint's only child. */
function childPid(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
  if (kids.length !== 1)
    throw new Error(`the entrypoint has ${kids.length} children, expected its app alone`);
  return Number(kids[0]);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Target {
  readonly port: number;
  readonly host?: string;
}

/** One autocannon run; throws, loudly, unless every response was a 2xx with the app's body. */
function load(
  target: Target,
  connections: number,
  seconds: number,
): Promise<{ r: autocannon.Result; lat: Float64Array }> {
  return new Promise((resolve, reject) => {
    const lat: number[] = [];
    // The first few bodies that were not the app's, to say what went wrong.
    const wrong = new Map<string, number>();
    const inst = autocannon(
      {
        url: `http://127.0.0.1:${target.port}/`,
        connections,
        duration: seconds,
        pipelining: 1,
        ...(target.host ? { headers: { host: target.host } } : {}),
        expectBody: SMALL,
        setupClient: (client) => {
          // autocannon emits "mismatch" with the body; its types do not list the event.
          (client as NodeJS.EventEmitter).on("mismatch", (body: string) => {
            const key = body.replace(/\s+/g, " ").slice(0, 300);
            if (wrong.size < 5 || wrong.has(key)) wrong.set(key, (wrong.get(key) ?? 0) + 1);
          });
        },
      },
      (err, r) => {
        if (err) {
          reject(err);
          return;
        }
        const bad = r.errors + r.timeouts + r.non2xx + r.mismatches + r.resets;
        // At the end at most one request per connection may still be in flight; more were never answered.
        const unanswered = r.requests.sent - r.requests.total - connections;
        if (bad === 0 && (lat.length === 0 || unanswered > 0)) {
          reject(
            new Error(
              `${target.host ? `through the URL service (Host ${target.host})` : "direct"}, ${connections} connections: ` +
                `${lat.length} answers to ${r.requests.sent} requests in ${seconds} s`,
            ),
          );
          return;
        }
        if (bad > 0) {
          const codes = (r as unknown as { statusCodeStats?: Record<string, { count: number }> })
            .statusCodeStats;
          reject(
            new Error(
              `${target.host ? `through the URL service (Host ${target.host})` : "direct"}, ${connections} connections: ` +
                `${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx, ${r.mismatches} body mismatches, ` +
                `${r.resets} resets in ${r.requests.total} requests; status codes ${JSON.stringify(codes)}; ` +
                `bodies that were not the app's (count): ${[...wrong].map(([b, n]) => `(${n}) ${b}`).join(" | ")}`,
            ),
          );
          return;
        }
        resolve({ r, lat: Float64Array.from(lat).sort() });
      },
    );
    inst.on("response", (_client, status, _bytes, ms) => {
      if (status >= 200 && status < 300) lat.push(ms);
    });
  });
}

/** How long one large transfer may take before it counts as failed. */
const TRANSFER_TIMEOUT_MS = 120_000;

/** Sends `body` (or nothing) and reads the whole response; the time from the request to the last byte. */
function transfer(
  target: Target,
  method: "GET" | "POST",
  path: string,
  bodyBytes: number,
): Promise<{ ms: number; status: number; received: number; text: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(
      {
        host: "127.0.0.1",
        port: target.port,
        method,
        path,
        agent: false,
        headers: {
          ...(target.host ? { host: target.host } : {}),
          ...(method === "POST"
            ? { "content-type": "application/octet-stream", "content-length": bodyBytes }
            : {}),
        },
      },
      (res) => {
        let received = 0;
        let text = "";
        res.on("data", (c: Buffer) => {
          received += c.length;
          if (text.length < 512) text += c.subarray(0, 512).toString("utf8");
        });
        res.on("end", () =>
          resolve({ ms: performance.now() - started, status: res.statusCode ?? 0, received, text }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.setTimeout(TRANSFER_TIMEOUT_MS, () =>
      req.destroy(new Error(`${method} ${path}: no progress for ${TRANSFER_TIMEOUT_MS / 1000} s`)),
    );
    if (method === "GET") {
      req.end();
      return;
    }
    const chunk = Buffer.alloc(64 * 1024, 0x62);
    let left = bodyBytes;
    const more = () => {
      while (left > 0) {
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= c.length;
        if (left === 0) {
          req.end(c);
          return;
        }
        if (!req.write(c)) {
          req.once("drain", more);
          return;
        }
      }
    };
    more();
  });
}

export async function benchUrlService(opts: UrlServiceOptions = {}): Promise<UrlServiceBench> {
  const connectionsList = opts.connections ?? [10, 50];
  const seconds = opts.seconds ?? 10;
  const warmupSeconds = opts.warmupSeconds ?? 2;
  const bodyBytes = opts.bodyBytes ?? 50 * 2 ** 20;
  const bodyRounds = opts.bodyRounds ?? 3;
  const startedAt = performance.now();
  const loadBefore = loadavg();

  const children: ChildProcess[] = [];
  const source = sourceRevision();
  const tree = compiledTree("url-service");
  const buildMs = performance.now() - startedAt;
  try {
    const appFile = join(tree.dir, "app.cjs");
    writeFileSync(appFile, APP_SOURCE);
    const urlPort = await freePort();
    const { conn, entrypointEnv } = await benchServer(tree.bin, tree.dir, APP, children, [
      `-listen-url=127.0.0.1:${urlPort}`,
      "-url-domain=localhost",
    ]);
    const server = children[0]!;
    let serverLog = "";
    server.stderr!.on("data", (s: string) => {
      if (serverLog.length < 64 * 1024) serverLog += s;
    });

    const appPort = await freePort();
    // The entrypoint carries at most WAYPOINT_CEB_URL_MAX_REQUESTS (default 32) requests at once and
    // answers the rest "busy"; the bench runs up to 50 connections, so it raises the limit to match.
    const maxConnections = Math.max(...connectionsList);
    const extraEnv: Record<string, string> = {
      WAYPOINT_CEB_URL_MAX_REQUESTS: String(Math.max(32, maxConnections)),
    };
    const ep = spawn(process.execPath, [tree.bin("waypoint-entrypoint.js"), process.execPath, appFile], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...entrypointEnv, ...extraEnv, PORT: String(appPort), BIG_BYTES: String(bodyBytes) },
    });
    children.push(ep);
    let epLog = "";
    ep.stderr!.setEncoding("utf8").on("data", (s: string) => {
      if (epLog.length < 64 * 1024) epLog += s;
    });
    await new Promise<void>((resolve, reject) => {
      let out = "";
      ep.stdout!.setEncoding("utf8").on("data", (s: string) => {
        out += s;
        if (out.includes("listening")) resolve();
      });
      ep.once("exit", (code) => reject(new Error(`the entrypoint exited (${code}):\n${epLog}`)));
    });
    await waitUntil(async () => (await conn.listInstances({ app: APP })).some((i) => i.connected));
    conn.close();
    const appPid = childPid(ep.pid!);

    const direct: Target = { port: appPort };
    const url: Target = { port: urlPort, host: HOST };
    // Both paths answer the same bytes before anything is measured.
    for (const t of [direct, url]) {
      const r = await transfer(t, "GET", "/", 0);
      if (r.status !== 200 || r.text !== SMALL)
        throw new Error(`GET / ${t.host ? "through the URL service" : "direct"}: ${r.status} ${r.text}`);
    }

    const pids = { server: server.pid!, entrypoint: ep.pid!, app: appPid };
    const peakNow = () => ({ server: peakRssMiB(pids.server), entrypoint: peakRssMiB(pids.entrypoint) });
    const peakIdle = peakNow();
    const cpuNow = () => ({
      server: cpuMs(pids.server),
      entrypoint: cpuMs(pids.entrypoint),
      app: cpuMs(pids.app),
      loadgen: ((u) => (u.user + u.system) / 1000)(process.cpuUsage()),
    });
    const runs: LoadRun[] = [];
    // A failure carries what the server and the entrypoint logged (warnings and errors).
    const withLogs = (err: unknown) =>
      new Error(
        `${err instanceof Error ? err.message : String(err)}\n--- the server logged:\n${serverLog.slice(-8000)}\n--- the entrypoint logged:\n${epLog.slice(-8000)}`,
      );
    try {
      for (const connections of connectionsList) {
        for (const [path, target] of [
          ["direct", direct],
          ["url", url],
        ] as const) {
          if (warmupSeconds > 0) await load(target, connections, warmupSeconds);
          const before = cpuNow();
          const { r, lat } = await load(target, connections, seconds);
          const after = cpuNow();
          runs.push({
            path,
            connections,
            seconds,
            requests: r.requests.total,
            perSec: r.requests.total / seconds,
            p50Ms: percentile(lat, 50),
            p99Ms: percentile(lat, 99),
            maxMs: lat.length ? lat[lat.length - 1]! : Number.NaN,
            cpuMs: {
              server: after.server - before.server,
              entrypoint: after.entrypoint - before.entrypoint,
              app: after.app - before.app,
              loadgen: after.loadgen - before.loadgen,
            },
          });
          process.stderr.write(
            `  ${path} c=${connections}: ${fmt(r.requests.total / seconds)} req/s, p99 ${percentile(lat, 99).toFixed(2)} ms\n`,
          );
        }
      }
    } catch (err) {
      throw withLogs(err);
    }

    const peakRequests = peakNow();

    // Large bodies: alternating direct and through the URL service, each round.
    const transfers: Transfer[] = [
      { path: "direct", kind: "download", ms: [] },
      { path: "url", kind: "download", ms: [] },
      { path: "direct", kind: "upload", ms: [] },
      { path: "url", kind: "upload", ms: [] },
    ];
    let transferFailure: string | undefined;
    try {
      for (let round = 0; round < bodyRounds; round++) {
        for (const t of transfers) {
          const target = t.path === "url" ? url : direct;
          const r =
            t.kind === "download"
              ? await transfer(target, "GET", "/big", 0)
              : await transfer(target, "POST", "/upload", bodyBytes);
          const ok =
            r.status === 200 &&
            (t.kind === "download"
              ? r.received === bodyBytes
              : r.text === JSON.stringify({ received: bodyBytes }));
          if (!ok)
            throw new Error(
              `${t.kind} ${t.path}: status ${r.status}, ${r.received} bytes received, body ${JSON.stringify(r.text.slice(0, 300))}`,
            );
          t.ms.push(r.ms);
        }
      }
    } catch (err) {
      // Not hidden: the section says why, and the logs go to stderr.
      transferFailure = err instanceof Error ? err.message : String(err);
      process.stderr.write(`  large bodies FAILED: ${withLogs(err).message}\n`);
    }

    const peak = { idle: peakIdle, requests: peakRequests, end: peakNow() };
    return {
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`,
      source,
      measured: new Date().toISOString().slice(0, 16).replace("T", " "),
      loadBefore,
      loadAfter: loadavg(),
      responseBytes: Buffer.byteLength(SMALL),
      warmupSeconds,
      runs,
      bodyBytes,
      transfers,
      ...(transferFailure ? { transferFailure } : {}),
      peakRssMiB: peak,
      entrypointEnv: extraEnv,
      buildMs,
      totalMs: performance.now() - startedAt,
    };
  } finally {
    // The entrypoint first, with SIGTERM, so it stops its app; a SIGKILL would leave the app running.
    const ep = children[1];
    let app: number | undefined;
    if (ep?.pid && ep.exitCode === null && ep.signalCode === null) {
      try {
        app = childPid(ep.pid);
      } catch {
        // No app (yet).
      }
      ep.kill("SIGTERM");
      await Promise.race([once(ep, "exit"), new Promise((r) => setTimeout(r, 5000))]);
    }
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (app !== undefined) {
      try {
        process.kill(app, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    tree.remove();
  }
}

export function urlServiceSection(b: UrlServiceBench): string {
  const lat = (n: number) => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;
  const load = (xs: readonly number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  const rss = (x: { server: number; entrypoint: number }) =>
    `${x.server.toFixed(0)} and ${x.entrypoint.toFixed(0)} MiB`;
  const rows: string[] = [];
  const connectionsList = [...new Set(b.runs.map((r) => r.connections))];
  for (const c of connectionsList) {
    const d = b.runs.find((r) => r.connections === c && r.path === "direct")!;
    const u = b.runs.find((r) => r.connections === c && r.path === "url")!;
    rows.push(
      `| ${c} | app directly | ${fmt(d.perSec)} | ${lat(d.p50Ms)} | ${lat(d.p99Ms)} | ${lat(d.maxMs)} | 0 | |`,
      `| ${c} | **through the URL service** | **${fmt(u.perSec)}** | ${lat(u.p50Ms)} | **${lat(u.p99Ms)}** | ${lat(u.maxMs)} | 0 | **${(u.perSec / d.perSec).toFixed(2)}** (p99 ×${(u.p99Ms / d.p99Ms).toFixed(1)}) |`,
    );
  }
  const cpuRows = b.runs.map((r) => {
    const per = (ms: number) => `${((ms * 1000) / r.requests).toFixed(0)} µs`;
    return `| ${r.connections} | ${r.path === "url" ? "URL service" : "directly"} | ${per(r.cpuMs.server)} | ${per(r.cpuMs.entrypoint)} | ${per(r.cpuMs.app)} | ${per(r.cpuMs.loadgen)} |`;
  });
  const mib = b.bodyBytes / 2 ** 20;
  const rate = (ms: number) => mib / (ms / 1000);
  const t = (path: string, kind: string) => b.transfers.find((x) => x.path === path && x.kind === kind)!;
  const bodyRows = (["download", "upload"] as const).map((kind) => {
    const d = t("direct", kind);
    const u = t("url", kind);
    if (u.ms.length === 0 || d.ms.length !== u.ms.length) return `| ${kind} | — | — | — |`;
    const dm = rate(median(d.ms));
    const um = rate(median(u.ms));
    return `| ${kind === "download" ? "download (GET)" : "upload (POST)"} | ${fmt(dm)} MiB/s | **${fmt(um)} MiB/s** | ${(um / dm).toFixed(2)} |`;
  });
  const samples = (path: string, kind: string) =>
    t(path, kind)
      .ms.map((ms) => fmt(rate(ms)))
      .join(", ");
  const seconds = b.runs[0]?.seconds ?? 0;
  return `${URL_SERVICE_HEADING}

One run on ${b.machine}, ${b.measured} UTC, source ${b.source}; load average (1, 5, 15 min) ${load(b.loadBefore)}
before the bench and ${load(b.loadAfter)} after it. The bench took ${fmt(b.totalMs / 1000)} s (${fmt(b.buildMs / 1000)} s of it
building the tree).

| connections | path | req/s | p50 | p99 | max | errors, non-2xx | through / direct |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join("\n")}

| ${fmt(mib)} MiB body | app directly | through the URL service | ratio |
| --- | ---: | ---: | ---: |
${b.transferFailure ? `| failed | | | |\n\nThe large-body case failed: ${b.transferFailure}` : bodyRows.join("\n")}

CPU time per request (user + system, from \`/proc/PID/stat\` and \`process.cpuUsage()\`):

| connections | path | server | entrypoint | app | load generator |
| --- | --- | ---: | ---: | ---: | ---: |
${cpuRows.join("\n")}

Peak RSS (\`VmHWM\`) of the server and the entrypoint: ${rss(b.peakRssMiB.idle)} once the entrypoint was connected,
${rss(b.peakRssMiB.requests)} after the request runs, ${rss(b.peakRssMiB.end)} after the large bodies.

**What is compared.** One app, a \`node:http\` server answering \`GET /\` with ${b.responseBytes} bytes of JSON
(\`content-length\`, keep-alive), run by a real \`waypoint-entrypoint\` (bundled, as \`npm run build\` ships it)
registered with a real \`waypoint server run\` process (\`-listen-url=127.0.0.1:PORT -url-domain=localhost\`), both on
the compiled tree. The same load generator hits it two ways: directly on 127.0.0.1:$PORT, and through the URL
service with \`Host: ${HOST}\` (the app's latest deployment). Through the URL service each request is routed by
Host (the app, its latest deployment and its connected instance looked up in the store), announced to the
entrypoint on its config stream (TunnelNotice), carried over an EntrypointTunnel call the entrypoint opens on its
own outbound HTTP/2 connection, and made by the entrypoint to the app over its kept-alive connections to it (at
most WAYPOINT_CEB_URL_MAX_REQUESTS); the response comes back the same way. The entrypoint ran with
${Object.entries(b.entrypointEnv)
  .map(([k, v]) => `\`${k}=${v}\``)
  .join(
    ", ",
  )} (the default, 32 requests at once, answers the 50-connection run's excess with 503 "Instance busy").

**Method.** autocannon ${autocannonVersion()} in the bench's own process (one worker), a fixed number of keep-alive
connections, one request in flight on each, ${seconds} s per path after a ${b.warmupSeconds} s warm-up of the same path;
for each concurrency the app directly first, then through the URL service, in one run. Every response is checked:
status 2xx and the app's exact body (autocannon's \`expectBody\`); any error, timeout, reset, non-2xx or mismatch
fails the bench, so the error column is 0 by construction. Latencies are each response's own time from
autocannon's \`response\` event (sub-millisecond; autocannon's own histogram rounds to whole milliseconds), p50 and
p99 over all responses of the run. Large bodies: ${fmt(mib)} MiB \`GET /big\` (the app writes 64 KiB chunks with
backpressure) and ${fmt(mib)} MiB \`POST /upload\` (the bench writes 64 KiB chunks with backpressure; the app counts the
bytes and answers the count, which is checked), one fresh connection each, from the request to the response's last
byte; ${b.transfers[0]?.ms.length ?? 0} rounds alternating direct and through the URL service, medians (MiB/s per
round: download direct ${samples("direct", "download")}, through ${samples("url", "download")}; upload direct
${samples("direct", "upload")}, through ${samples("url", "upload")}). All four processes (server, entrypoint, app, load
generator) share the machine's ${cpus().length} cores, so at the higher concurrency the figures are bounded by CPU, not by
the network; the CPU table shows where it goes.

**Where the time goes.** The URL service's cost is per request, not per byte: each request is one new gRPC
call (an HTTP/2 stream opened by the entrypoint, authenticated and paired by the server) plus a notice on the
config stream, and that setup, in Node's HTTP/2 and grpc-js, is most of the server's and the entrypoint's CPU in
a profile; the 2 cores are shared by all four processes. Large bodies are bounded by the per-message copies
instead. Reusing long-lived tunnels for many requests would remove the per-call setup; it is not done yet.`;
}

/** The section of BENCHMARKS.md under `heading` as it stands (empty when there is none). */
export function currentSection(heading: string): string {
  const doc = readFileSync(join(ROOT, "BENCHMARKS.md"), "utf8");
  const start = doc.indexOf(heading);
  if (start === -1) return "";
  const next = doc.indexOf("\n## ", start + 3);
  return doc.slice(start, next === -1 ? undefined : next).trimEnd();
}

function autocannonVersion(): string {
  const pkg = new URL("../node_modules/autocannon/package.json", import.meta.url);
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes("--quick");
  const b = await benchUrlService(
    quick ? { seconds: 2, warmupSeconds: 1, bodyBytes: 8 * 2 ** 20, bodyRounds: 1 } : {},
  );
  const section = urlServiceSection(b);
  process.stdout.write(`${section}\n`);
  // A quick run is a smoke test: its figures are not for the record.
  if (!quick) writeBenchSection(URL_SERVICE_HEADING, section);
}
