/**
 * Child process of bench/fleet.ts: simulates a share of the fleet, each instance with its own
 * EntrypointConnection (one HTTP/2 connection, as a real entrypoint), its config stream and its
 * log stream held open. Driven over IPC by the bench; all times are absolute milliseconds
 * (`performance.timeOrigin + performance.now()`), comparable with the bench's own.
 */
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { EntrypointConnection, type LogStream } from "../src/client/entrypoint-connection.js";
import { LogAllowance } from "../src/entrypoint/log-allowance.js";
import { countNewlines, wholeLinesCut } from "../src/entrypoint/log-buffer.js";
import { clientIdentity } from "../src/protocol/headers.js";

/** The variable whose value marks a fan-out round. */
export const ROUND_VAR = "FLEET_ROUND";

export type SimCommand =
  | {
      readonly t: "start";
      readonly address: string;
      readonly token: string;
      readonly deployment: string;
      /** Instance ids are `fleet-<first + i>`. */
      readonly first: number;
      readonly count: number;
      /** Connections being established (not yet registered) at most at once. */
      readonly window: number;
    }
  | { readonly t: "status" }
  | { readonly t: "expect"; readonly round: string; readonly timeoutMs: number }
  | { readonly t: "logs"; readonly seconds: number; readonly batchLines: number; readonly timeoutMs: number };

export type SimReport =
  | {
      readonly t: "registered";
      readonly firstConnectAt: number;
      readonly allAt: number;
      readonly retries: number;
      /** Instances given up on after 10 attempts. */
      readonly failed: number;
    }
  | {
      readonly t: "status";
      readonly config: number;
      readonly logs: number;
      readonly errors: readonly string[];
    }
  | { readonly t: "expecting" }
  /** Arrival times of the round's config message, one per instance that got it within the timeout. */
  | { readonly t: "fanout"; readonly arrivals: readonly number[]; readonly missing: number }
  | {
      readonly t: "logs";
      readonly lines: number;
      readonly bytes: number;
      readonly startedAt: number;
      readonly lastAnswerAt: number;
      readonly failed: number;
    };

const now = () => performance.timeOrigin + performance.now();

interface Sim {
  readonly id: string;
  readonly conn: EntrypointConnection;
  configOpen: boolean;
  logs: LogStream | undefined;
  logsOpen: boolean;
  /** Whether the server paces log streams (its first config message says), as the entrypoint reads it. */
  paced: boolean;
  /** The log stream's credit when paced. */
  allowance: LogAllowance | undefined;
  /** Set during the log phase: sends until the stream pushes back. */
  pump: (() => void) | undefined;
  /** The log stream pushed back: nothing more until it drains. */
  blocked: boolean;
  /** Set during the log phase: the stream's answer. */
  onLogsEnd: ((err?: Error) => void) | undefined;
}

const errors: string[] = [];
const noteError = (what: string) => {
  if (errors.length < 20) errors.push(what);
};
const sims: Sim[] = [];
let registeredCount = 0;
let expected: { round: string; arrivals: number[]; done: () => void } | undefined;
let retries = 0;

function send(r: SimReport): void {
  process.send!(r);
}

/** Registers one instance (retrying a failed connection after a pause, as an entrypoint would) and opens its logs. */
function register(
  cmd: Extract<SimCommand, { t: "start" }>,
  index: number,
  onRegistered: (ok: boolean) => void,
  attempt = 0,
): void {
  const id = `fleet-${String(cmd.first + index).padStart(5, "0")}`;
  const conn = new EntrypointConnection(
    { address: cmd.address, token: cmd.token, tls: false, tlsSkipVerify: false, source: "bench" },
    clientIdentity("entrypoint", id, BUILD_VERSION_INFO),
  );
  const sim: Sim = {
    id,
    conn,
    configOpen: false,
    logs: undefined,
    logsOpen: false,
    paced: false,
    allowance: undefined,
    pump: undefined,
    blocked: false,
    onLogsEnd: undefined,
  };
  let registered = false;
  conn.config(
    {
      instanceId: id,
      deploymentId: cmd.deployment,
      hostname: "fleet",
      pid: index,
      startedAt: new Date().toISOString(),
    },
    (m) => {
      if (!registered) {
        registered = true;
        sim.configOpen = true;
        sim.paced = m.pacesLogs;
        sims.push(sim);
        registeredCount += 1;
        openLogs(sim);
        onRegistered(true);
        return;
      }
      if (m.logCredit && m.logCredit.stream === sim.allowance?.stream) {
        sim.allowance.grant(m.logCredit.limit);
        sim.pump?.();
      }
      if (
        expected &&
        m.hasConfig &&
        m.config.some((v) => v.name === ROUND_VAR && v.value === expected!.round)
      ) {
        expected.arrivals.push(now());
        if (expected.arrivals.length === registeredCount) expected.done();
      }
    },
    (err) => {
      sim.configOpen = false;
      if (registered) {
        noteError(`${id}: config stream ended: ${err?.message ?? "cleanly"}`);
        return;
      }
      conn.close();
      if (attempt >= 9) {
        noteError(`${id}: not registered after ${attempt + 1} attempts: ${err?.message}`);
        onRegistered(false);
        return;
      }
      retries += 1;
      setTimeout(() => register(cmd, index, onRegistered, attempt + 1), 200 + Math.random() * 800);
    },
  );
}

/** The log stream as the entrypoint opens it: an empty batch naming the instance (and, paced, the stream) at once. */
function openLogs(sim: Sim): void {
  sim.logsOpen = true;
  sim.allowance = sim.paced ? new LogAllowance(1) : undefined;
  sim.logs = sim.conn.logs(
    () => {
      sim.blocked = false;
      sim.pump?.();
    },
    (err) => {
      sim.logsOpen = false;
      if (err) noteError(`${sim.id}: log stream failed: ${err.message}`);
      sim.onLogsEnd?.(err);
    },
  );
  sim.logs.write({ instanceId: sim.id, chunks: [], stream: sim.allowance?.stream ?? 0 });
}

function start(cmd: Extract<SimCommand, { t: "start" }>): void {
  const firstConnectAt = now();
  let next = 0;
  let pending = 0;
  let done = 0;
  let failed = 0;
  let lastAt = firstConnectAt;
  const more = () => {
    while (pending < cmd.window && next < cmd.count) {
      pending += 1;
      register(cmd, next++, (ok) => {
        pending -= 1;
        done += 1;
        if (ok) lastAt = now();
        else failed += 1;
        if (done === cmd.count) send({ t: "registered", firstConnectAt, allAt: lastAt, retries, failed });
        else more();
      });
    }
  };
  more();
}

/** One pino-style line of ~110 bytes. */
function line(i: number): string {
  return `{"level":30,"time":${1_790_000_000_000 + i},"pid":4242,"msg":"request completed","req":${i},"status":200}\n`;
}

/**
 * Every instance sends batches on its open log stream as fast as the stream takes them for
 * `seconds`, then ends it; a stream's lines count once the server answered it (it answers after
 * taking every batch).
 */
function logs(cmd: Extract<SimCommand, { t: "logs" }>): void {
  const data = Buffer.from(Array.from({ length: cmd.batchLines }, (_, i) => line(i)).join(""));
  const startedAt = now();
  const end = startedAt + cmd.seconds * 1000;
  let lines = 0;
  let bytes = 0;
  let failed = 0;
  let open = 0;
  let lastAnswerAt = startedAt;
  let reported = false;
  const report = () => {
    if (reported) return;
    reported = true;
    send({ t: "logs", lines, bytes, startedAt, lastAnswerAt, failed });
  };
  const timeout = setTimeout(report, cmd.timeoutMs);
  for (const sim of sims) {
    const stream = sim.logs;
    if (!stream || !sim.logsOpen) continue;
    open += 1;
    let sentLines = 0;
    let sentBytes = 0;
    sim.onLogsEnd = (err) => {
      if (err) failed += 1;
      else {
        lines += sentLines;
        bytes += sentBytes;
      }
      lastAnswerAt = now();
      open -= 1;
      if (open === 0) {
        clearTimeout(timeout);
        report();
      }
    };
    sim.pump = () => {
      // A few batches per turn at most, so that one stream that never pushes back cannot hold the loop.
      for (let k = 0; k < 8; k++) {
        if (now() >= end) {
          sim.pump = undefined;
          stream.end();
          return;
        }
        if (sim.blocked) return; // the drain pumps again
        // Paced: as many whole lines as the credit allows (at least one), as the entrypoint's LogBuffer takes them.
        let batch = data;
        const allowance = sim.allowance;
        if (allowance) {
          if (allowance.room <= 0) return; // the next credit pumps again
          if (allowance.room < data.length) batch = data.subarray(0, wholeLinesCut(data, allowance.room));
          allowance.spend(batch.length);
        }
        sentLines += batch === data ? cmd.batchLines : countNewlines(batch);
        sentBytes += batch.length;
        if (!stream.write({ chunks: [{ source: "stdout", data: batch, at: new Date().toISOString() }] })) {
          sim.blocked = true;
          return;
        }
      }
      setImmediate(() => sim.pump?.());
    };
    sim.pump();
  }
  const sweep = setInterval(() => {
    if (now() < end) return;
    clearInterval(sweep);
    for (const sim of sims) sim.pump?.();
  }, 100);
}

process.on("message", (cmd: SimCommand) => {
  switch (cmd.t) {
    case "start":
      start(cmd);
      break;
    case "status":
      send({
        t: "status",
        config: sims.filter((s) => s.configOpen).length,
        logs: sims.filter((s) => s.logsOpen).length,
        errors,
      });
      break;
    case "expect": {
      const arrivals: number[] = [];
      const timer = setTimeout(() => finish(), cmd.timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        if (expected?.arrivals !== arrivals) return;
        expected = undefined;
        send({ t: "fanout", arrivals, missing: registeredCount - arrivals.length });
      };
      expected = { round: cmd.round, arrivals, done: finish };
      send({ t: "expecting" });
      break;
    }
    case "logs":
      logs(cmd);
      break;
  }
});
process.on("disconnect", () => process.exit(0));
