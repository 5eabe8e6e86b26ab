/**
 * `npm run bench`: runs every benchmark, prints a table and rewrites
 * BENCHMARKS.md with the figures, the method and the machine.
 */
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { PACKAGE_VERSION } from "../src/build-info.js";
import { benchInterceptors } from "./unary-interceptors.js";

const quick = process.argv.includes("--quick");
const r = await benchInterceptors(quick ? { roundSeconds: 1, rounds: 1 } : {});
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}, ${process.platform}/${process.arch}`;
const verdict = r.ratio >= 0.8 ? "meets" : "MISSES";

const table = [
  "| path | calls/s | ratio | target |",
  "| --- | ---: | ---: | --- |",
  `| bare handler (no interceptors) | ${fmt(r.barePerSec)} | 1.00 | |`,
  `| full interceptor chain | ${fmt(r.guardedPerSec)} | ${r.ratio.toFixed(2)} | ≥ 0.80 (${verdict}) |`,
].join("\n");
process.stdout.write(`${table}\n`);

const doc = `# Benchmarks

Run with \`npm run bench\` (add \`-- --quick\` for a one-second smoke run). The script rewrites this file.

Machine: ${machine}. waypoint-ops ${PACKAGE_VERSION}, measured ${new Date().toISOString().slice(0, 10)}${quick ? " (quick run)" : ""}.

## Unary RPC throughput: interceptor chain vs bare handler

${table}

**What is compared.** One trivial \`GetInventory\` handler (returns a fixed, small message) is served twice by the
same child process: once behind the full guard chain that every real RPC passes (decode and validate the five
\`client-*\` headers, negotiate the api protocol, hash and look up the bearer token and check it against the access
table, record the caller in the inventory — with the recorder flushing to a real SQLite file), and once bare. The load
generator runs in the parent process so it does not share the server's event loop, and sends identical requests
(all headers and the token) to both, so only the server-side work differs.

**Method.** ${r.connections} client connections (one TCP connection each, distinct client ids), ${r.inFlightPerConnection}
calls in flight per connection, ${r.rounds} rounds of ${r.roundSeconds} s per path, alternating guarded and bare after a
warm-up; the figure is the mean of the rounds. ${r.inventoryRows} inventory rows were recorded (one per client id),
which shows the recorder coalesced ~${fmt((r.guardedPerSec * r.roundSeconds * r.rounds) / Math.max(1, r.inventoryRows))}
calls per row instead of writing per call.

**Why it is cheap.** The token lookup is a SHA-256 and a map read (the store owns the database exclusively, so the
cache cannot go stale); inventory recording is a map write, and unchanged components are skipped entirely until the
next flush (\`src/server/inventory-recorder.ts\`).
`;
writeFileSync(new URL("../BENCHMARKS.md", import.meta.url), doc);
