/** The table and the text of bench/fleet.ts's section of BENCHMARKS.md. */
import type { FleetBench, Latencies, TargetResult, Usage } from "./fleet.js";

export const FLEET_HEADING = "## Load: 10,000 entrypoints against one server";

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const ms = (n: number) =>
  !Number.isFinite(n)
    ? "—"
    : n < 1000
      ? `${n < 100 ? n.toFixed(1) : fmt(n)} ms`
      : `${(n / 1000).toFixed(2)} s`;
const mib = (n: number) => `${fmt(n)} MiB`;
const pct = (u: Usage) => `${fmt(u.cpuPct)}%`;
const ratio = (a: number, b: number) => (Number.isFinite(a / b) && b > 0 ? (a / b).toFixed(2) : "—");
const lat = (l: Latencies) => `${ms(l.p50)} / ${ms(l.p99)}${l.failed ? ` (${l.failed} failed)` : ""}`;
/** `versions` latencies, with how many calls missed the 200 ms target. */
const latV = (l: Latencies) => `${lat(l)}; ${l.over200} of ${l.n} over 200 ms`;
const median = (xs: readonly number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

function row(what: string, w: string, b: string, r: string, target = ""): string {
  return `| ${what} | ${w} | ${b} | ${r} | ${target} |`;
}

/** Target verdicts: all held, fan-out p99 ≤ 2 s, `versions` p99 ≤ 200 ms during both phases. */
export function verdicts(w: TargetResult): {
  held: boolean;
  fanout: boolean;
  versionsFanout: boolean;
  versionsLogs: boolean;
} {
  const n = w.entrypoints;
  return {
    held:
      w.held.config === n &&
      w.held.logs === n &&
      w.held.server >= n &&
      w.heldAfter.config === n &&
      w.fanout.failed === 0,
    fanout: w.fanout.failed === 0 && w.fanout.p99 <= 2000,
    versionsFanout: w.versions.fanout.p99 <= 200 && w.versions.fanout.failed === 0,
    versionsLogs: w.versions.logs.p99 <= 200 && w.versions.logs.failed === 0,
  };
}

export function fleetTable(f: FleetBench): string {
  const w = f.waypoint;
  const b = f.bare;
  const n = w.entrypoints;
  const v = verdicts(w);
  const meets = (ok: boolean) => (ok ? "meets" : "MISSES");
  const held = (t: TargetResult) =>
    `${fmt(t.held.config)} config + ${fmt(t.held.logs)} log streams (server: ${fmt(t.held.server)}); after the log phase ${fmt(t.heldAfter.config)} (server: ${fmt(t.heldAfter.server)})`;
  return [
    "| measure | waypoint server (`-listen-entrypoint`) | bare grpc-js | ratio | target |",
    "| --- | ---: | ---: | ---: | --- |",
    row(`entrypoints held (of ${fmt(n)})`, held(w), held(b), "", `all ${fmt(n)} (${meets(v.held)})`),
    row(
      "first connect → all registered (simulators: first config message)",
      ms(w.registerSimMs),
      ms(b.registerSimMs),
      ratio(w.registerSimMs, b.registerSimMs),
    ),
    row(
      "first connect → all registered (server: ListDeployments, polled every 100 ms)",
      ms(w.registerServerMs),
      ms(b.registerServerMs),
      ratio(w.registerServerMs, b.registerServerMs),
    ),
    row(
      "connection retries during the ramp (instances given up on)",
      `${fmt(w.retries)} (${fmt(w.unregistered)})`,
      `${fmt(b.retries)} (${fmt(b.unregistered)})`,
      "",
    ),
    row(
      "server CPU during the ramp",
      pct(w.usage.ramp),
      pct(b.usage.ramp),
      ratio(w.usage.ramp.cpuMs, b.usage.ramp.cpuMs),
    ),
    row(
      "server RSS before the fleet",
      mib(w.rssStartMiB),
      mib(b.rssStartMiB),
      ratio(w.rssStartMiB, b.rssStartMiB),
    ),
    row(
      "server RSS / CPU, idle with the fleet connected",
      `${mib(w.usage.idle.rssMiB)} / ${pct(w.usage.idle)}`,
      `${mib(b.usage.idle.rssMiB)} / ${pct(b.usage.idle)}`,
      ratio(w.usage.idle.rssMiB, b.usage.idle.rssMiB),
    ),
    row(
      `**config fan-out to every instance, p50 / p99** (${w.fanout.rounds} rounds)`,
      `**${ms(w.fanout.p50)} / ${ms(w.fanout.p99)}**`,
      `${ms(b.fanout.p50)} / ${ms(b.fanout.p99)}`,
      ratio(w.fanout.p99, b.fanout.p99),
      `p99 ≤ 2 s (${meets(v.fanout)})`,
    ),
    row(
      "fan-out, slowest instance of any round",
      ms(w.fanout.max),
      ms(b.fanout.max),
      ratio(w.fanout.max, b.fanout.max),
    ),
    row(
      "SetConfig answered (median of the rounds)",
      ms(median(w.fanout.setConfigMs)),
      ms(median(b.fanout.setConfigMs)),
      ratio(median(w.fanout.setConfigMs), median(b.fanout.setConfigMs)),
    ),
    row(
      "server RSS / CPU during the fan-out rounds",
      `${mib(w.usage.fanout.rssMiB)} / ${pct(w.usage.fanout)}`,
      `${mib(b.usage.fanout.rssMiB)} / ${pct(b.usage.fanout)}`,
      ratio(w.usage.fanout.cpuMs, b.usage.fanout.cpuMs),
    ),
    row(
      `**log ingestion, all instances sending** (${fmt(w.logs.bytes / 2 ** 20)} MiB in ${ms(w.logs.ms)})`,
      `**${fmt(w.logs.linesPerSec)} lines/s**`,
      `${fmt(b.logs.linesPerSec)} lines/s`,
      ratio(w.logs.linesPerSec, b.logs.linesPerSec),
    ),
    row(
      "server RSS / CPU during the log phase",
      `${mib(w.usage.logs.rssMiB)} / ${pct(w.usage.logs)}`,
      `${mib(b.usage.logs.rssMiB)} / ${pct(b.usage.logs)}`,
      ratio(w.usage.logs.cpuMs, b.usage.logs.cpuMs),
    ),
    row("server peak RSS (VmHWM)", mib(w.hwmMiB), mib(b.hwmMiB), ratio(w.hwmMiB, b.hwmMiB)),
    row(
      "`versions` (GetInventory), idle with the fleet, p50 / p99",
      latV(w.versions.idle),
      latV(b.versions.idle),
      ratio(w.versions.idle.p50, b.versions.idle.p50),
    ),
    row(
      `of which, at idle: the RPC until grpc-js decoded the answer (${fmt(w.versionsSplit.components)} components) / the client's \`inventoryFromProto\` (medians)`,
      `${ms(w.versionsSplit.rpcMs)} / ${ms(w.versionsSplit.convertMs)}`,
      `${ms(b.versionsSplit.rpcMs)} / ${ms(b.versionsSplit.convertMs)}`,
      ratio(w.versionsSplit.rpcMs, b.versionsSplit.rpcMs),
    ),
    row(
      `**\`versions\` during the fan-out, p50 / p99** (${w.versions.fanout.n} calls)`,
      `**${latV(w.versions.fanout)}**`,
      latV(b.versions.fanout),
      ratio(w.versions.fanout.p99, b.versions.fanout.p99),
      `≤ 200 ms (${meets(v.versionsFanout)})`,
    ),
    row(
      `**\`versions\` during the log phase, p50 / p99** (${w.versions.logs.n} calls)`,
      `**${latV(w.versions.logs)}**`,
      latV(b.versions.logs),
      ratio(w.versions.logs.p99, b.versions.logs.p99),
      `≤ 200 ms (${meets(v.versionsLogs)})`,
    ),
    row(
      `of which, the smallest call meanwhile: \`GetVersionInfo\` on a connection of its own, p50 / p99 (${w.pingsDuringLogs.n} calls)`,
      latV(w.pingsDuringLogs),
      latV(b.pingsDuringLogs),
      ratio(w.pingsDuringLogs.p99, b.pingsDuringLogs.p99),
    ),
  ].join("\n");
}

/**
 * The same server with every stream on -listen-grpc (no entrypoint listener), beside the first: what the
 * listener's thread trades.
 */
export function oneListenerTable(f: FleetBench): string {
  const w = f.waypoint;
  const one = f.oneListener;
  const r = (what: string, a: string, b: string, ratioOf = "") => `| ${what} | ${a} | ${b} | ${ratioOf} |`;
  return [
    "| measure | `-listen-entrypoint` (above) | one listener | ratio |",
    "| --- | ---: | ---: | ---: |",
    r(
      "first connect → all registered (server)",
      ms(w.registerServerMs),
      ms(one.registerServerMs),
      ratio(w.registerServerMs, one.registerServerMs),
    ),
    r(
      "config fan-out, p50 / p99",
      `${ms(w.fanout.p50)} / ${ms(w.fanout.p99)}`,
      `${ms(one.fanout.p50)} / ${ms(one.fanout.p99)}`,
      ratio(w.fanout.p99, one.fanout.p99),
    ),
    r(
      "log ingestion",
      `${fmt(w.logs.linesPerSec)} lines/s`,
      `${fmt(one.logs.linesPerSec)} lines/s`,
      ratio(w.logs.linesPerSec, one.logs.linesPerSec),
    ),
    r(
      "server RSS / CPU during the log phase",
      `${mib(w.usage.logs.rssMiB)} / ${pct(w.usage.logs)}`,
      `${mib(one.usage.logs.rssMiB)} / ${pct(one.usage.logs)}`,
      ratio(w.usage.logs.cpuMs, one.usage.logs.cpuMs),
    ),
    r("server peak RSS (VmHWM)", mib(w.hwmMiB), mib(one.hwmMiB), ratio(w.hwmMiB, one.hwmMiB)),
    r(
      "`versions` during the fan-out, p50 / p99",
      latV(w.versions.fanout),
      latV(one.versions.fanout),
      ratio(w.versions.fanout.p99, one.versions.fanout.p99),
    ),
    r(
      "`versions` during the log phase, p50 / p99",
      latV(w.versions.logs),
      latV(one.versions.logs),
      ratio(w.versions.logs.p99, one.versions.logs.p99),
    ),
    r(
      "`GetVersionInfo` during the log phase, p50 / p99",
      latV(w.pingsDuringLogs),
      latV(one.pingsDuringLogs),
      ratio(w.pingsDuringLogs.p99, one.pingsDuringLogs.p99),
    ),
  ].join("\n");
}

export function fleetSection(f: FleetBench): string {
  const w = f.waypoint;
  const o = f.options;
  const rounds = (t: TargetResult) => t.fanoutRoundsMs.map((r) => `${ms(r.p99)}`).join(", ");
  const errors = [...w.errors, ...f.oneListener.errors, ...f.bare.errors];
  return `${FLEET_HEADING}

${fleetTable(f)}

Ratio: waypoint ÷ bare. Cores: ${w.placement ?? "every process on every core"}. Machine: ${f.machine.nproc} × ${f.machine.model} (\`nproc\`, \`lscpu\`); load average
${f.loadBefore.map((x) => x.toFixed(2)).join(" ")} before, ${f.loadAfter.map((x) => x.toFixed(2)).join(" ")} after; the
whole run took ${ms(f.totalMs)}.

**The entrypoint listener.** Above, the server runs with \`-listen-entrypoint=127.0.0.1:0\`: the simulated fleet
connects there, \`versions\` and every other API call to \`-listen-grpc\`. The listener's thread holds the fleet's
connections and does their TLS, HTTP/2 and gRPC framing; each call runs on the main thread, through the same
handlers (ARCHITECTURE.md, "The entrypoint listener's thread"). In the same run, the same server without it, every
stream on \`-listen-grpc\` beside the operators' calls, one loop for all:

${oneListenerTable(f)}

Ratio: with the listener ÷ without.

**What is compared.** ${fmt(o.entrypoints)} simulated entrypoints in ${w.sims} child process${w.sims === 1 ? "" : "es"}
(\`bench/fleet-sim.ts\`), each with its own \`EntrypointConnection\` — one HTTP/2 connection, as a real entrypoint —
that registers on the config stream (distinct instance ids, the deployment's real entrypoint token) and then opens
its log stream with the empty batch that names the instance, as the entrypoint does. First against the real server
(\`waypoint server run\` on the compiled tree, SQLite in a temp dir), with and then without its entrypoint listener
(two servers, one after the other), then, in the same run, against a bare grpc-js
server on the same descriptor (\`bench/fleet-bare-server.ts\`): no auth, no version headers, no database, no
inventory, no log buffers — it sends an empty configuration and keeps the stream, consumes logs, pushes a
configuration to every stream on \`SetConfig\`, counts the streams for \`ListDeployments\`, and answers \`GetInventory\` from
memory with one component per stream (the same size of answer as ours). The simulators, the bench and the server
share the machine: the server gets a core of its own (Cores, above), the simulators yield the other to the bench's
client, as a fleet on other machines would leave the server's; \`--shared-cores\` measures with all on every core.

**Method.** *Ramp*: each simulator keeps at most ${o.window} connections establishing at once (the listen backlog is
bounded), the next starting when one is registered; a failed attempt is retried after 0.2–1 s. *Registered*: the
simulators' view is the first config message of the last instance; the server's is the first \`ListDeployments\` that
counts all of them. *Idle*: ${o.idleSeconds} s with the fleet connected and nothing else. *Fan-out*: ${o.rounds}
rounds of \`SetConfig\` (\`Connection.setConfig\`, global scope) setting \`${"FLEET_ROUND"}\` to a new value; each
instance's latency runs from just before the call to its config stream delivering the new value (times are
\`performance.timeOrigin + performance.now()\` in each process); p50/p99/max over all instances of all rounds (p99 per
round: ${rounds(w)} ours, ${rounds(f.bare)} bare). *Logs*: every instance sends batches of ${o.batchLines}
~110-byte lines on its open log stream as fast as the stream takes them (write until it pushes back, then wait for
drain) for ${o.logSeconds} s, then ends it; against our server, as far as its log credit allows too, as the entrypoint
does (a batch then holds as many whole lines as the credit has room for, at least one, and the next credit sends
more); the bare server gives none, and its streams send as before; a stream's lines count once the server answered (it answers after taking
every batch); lines/s over the first write to the last answer. *\`versions\`*: \`GetInventory\`, the RPC \`waypoint
versions\` calls (\`Connection.inventory\`, decoding included), on a connection of its own, back to back with 100 ms
between calls through the fan-out and log phases (5 calls at idle); at idle, 5 more calls on a bare grpc-js client
split it into the RPC (until grpc-js has decoded the answer) and the client's conversion (\`inventoryFromProto\`).
*CPU and RSS*: \`/proc/PID/stat\` (utime + stime over the phase's wall time; 100% = one core) and VmRSS at the
phase's end, VmHWM at the end. The server is ended while the fleet is still connected. \`--profile=DIR\` runs the
server under \`--cpu-prof\` (and records nothing here).

**What the server does about it** (ARCHITECTURE.md, "One server, a fleet"; found with \`--profile\` and the
\`WAYPOINT_BENCH_SERVER_LOG\` of the server). The server is one event loop shared by every stream and call, so what
counts is how long one turn of it takes. *Registration*: instance rows are written behind, one transaction per
turn (each registration used to be an fsync'd transaction of its own, ~3–4 ms, on the loop). *Fan-out*: a
configuration is encoded once per app and queued, 500 streams a turn, so \`SetConfig\` answers at once and other
calls interleave (it used to encode per stream and write all 10,000 in one turn). *\`versions\`*: the recorder keeps
the components in memory, each one's answer bytes made once per change, so an answer is joined, not encoded (the
bare server encodes ~1.9 MB with protobufjs on every call, 50–120 ms); the CLI's connection has a 4 MiB HTTP/2 window,
so the answer is not ~30 window updates each waiting for a turn of a busy loop. *Log flood*: every instance sends as
fast as its stream takes data; the server lets only as many log streams flow as keep its loop quick (the others
take turns, and a held stream reads one batch ahead, not grpc-js's sixteen), and each stream sends only what the
server credited it: 1 KiB while idle, and out of a 2 MiB budget shared by those sending. Without the credit, the
log phase's start was one turn of seconds: each of 10,000 streams had 64 KiB of HTTP/2 window open (~640 MB), and
the server read it all before it could hold any back. *One loop for all*: without the entrypoint listener, what
still shows in the log phase are V8's full collections: the ArrayBuffers the data passes through (Node's socket
reads, grpc-js's message buffers) start one every second or two ("external memory pressure",
\`--trace-incremental-marking\`), and marking the ~250 MB heap of 20,000 streams takes ~300 ms of the server's one
core, during which each turn of the loop is slower and calls wait; the smallest (\`GetVersionInfo\`) as long as
\`versions\`. With the listener, that heap and its collections are the thread's; the main thread's holds the log
buffers and the calls' state, reads what the thread hands over 10 ms a turn, and runs above the thread and V8's
helper threads (nice 10), so an operator's call waits for neither. The thread's work waits instead: fewer lines
a second reach the server, since the fleet's side of one core goes to it only when the main thread does not need
it. The credit costs throughput too: smaller batches, and fewer of them at once. The bare server keeps no log
buffers: its RSS in the log phase is grpc-js's alone.${
    errors.length > 0
      ? `\n\nFirst errors the simulators saw: ${errors.map((e) => `\`${e}\``).join("; ")}.`
      : ""
  }`;
}
