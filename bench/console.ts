/**
 * The console's responsiveness: time from process start to its first frame (and to the first frame
 * with the server's data), and, with 10,000 components in the inventory, the time from a key press to
 * the next frame. Real processes: a server and `waypoint ui` on the compiled tree, in a pseudo-terminal.
 * `node --import=tsx bench/console.ts` runs it alone and rewrites its section of BENCHMARKS.md.
 */
import type { ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as pty from "@lydell/node-pty";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { Connection } from "../src/client/connection.js";
import { clientIdentity } from "../src/client/identity.js";
import { benchServer, cleanEnv, compiledTree, fmt, median, writeBenchSection } from "./compiled.js";

const HEADING = "## Console: first frame, and key press to frame with 10,000 components";

export interface ConsoleBench {
  readonly startRounds: number;
  /** Spawn to the first bytes of a frame. */
  readonly firstFrameMs: readonly number[];
  /** Spawn to the first frame showing the server's data (the overview's counts). */
  readonly dataFrameMs: readonly number[];
  readonly components: number;
  /** Key press (`j` on an expanded group of 10,000) to the next frame's first bytes. */
  readonly keyMs: readonly number[];
}

interface Term {
  readonly proc: pty.IPty;
  output(): string;
  /** Resolves with performance.now() when the output contains `text` (searching from `from`). */
  when(text: string, from?: number): Promise<number>;
  /** Resolves with performance.now() at the next bytes written. */
  next(): Promise<number>;
}

function startConsole(bin: string, env: NodeJS.ProcessEnv): Term {
  const proc = pty.spawn(process.execPath, [bin, "ui"], { cols: 100, rows: 30, env, cwd: "/tmp" });
  let out = "";
  let waiters: { test: () => boolean; resolve: (at: number) => void }[] = [];
  proc.onData((d) => {
    out += d;
    const at = performance.now();
    waiters = waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve(at);
      return false;
    });
  });
  const wait = (test: () => boolean) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out; output so far:\n${out.slice(-2000)}`)),
        30_000,
      );
      waiters.push({
        test,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  return {
    proc,
    output: () => out,
    when: (text, from = 0) =>
      out.indexOf(text, from) >= 0
        ? Promise.resolve(performance.now())
        : wait(() => out.indexOf(text, from) >= 0),
    next: () => {
      const len = out.length;
      return wait(() => out.length > len);
    },
  };
}

/** 10,000 clients of distinct ids recorded in the inventory: one call each, over shared channels. */
async function fillInventory(address: string, token: string, runnerToken: string, n: number): Promise<void> {
  const settings = { address, token, tls: false, tlsSkipVerify: false, source: "bench" };
  // One runner too: a second group, so j and k move the selection (it moves over groups).
  const runner = new Connection(
    { ...settings, token: runnerToken },
    clientIdentity("runner", "bench-runner", BUILD_VERSION_INFO),
  );
  await new Promise<void>((resolve) => {
    const h = runner.watchState(
      () => {
        h.cancel();
        resolve();
      },
      () => resolve(),
    );
  });
  runner.close();
  for (let i = 0; i < n; i += 500) {
    const batch = Array.from({ length: Math.min(500, n - i) }, (_, k) => {
      const c = new Connection(settings, clientIdentity("cli", `bench-client-${i + k}`, BUILD_VERSION_INFO));
      return c.listApps().finally(() => c.close());
    });
    await Promise.all(batch);
  }
}

export async function benchConsole(
  opts: { startRounds?: number; keys?: number; components?: number } = {},
): Promise<ConsoleBench> {
  const startRounds = opts.startRounds ?? 9;
  const keys = opts.keys ?? 40;
  const components = opts.components ?? 10_000;
  const tree = compiledTree("console");
  const children: ChildProcess[] = [];
  try {
    const s = await benchServer(tree.bin, tree.dir, "web", children);
    const token = (await s.conn.createToken({ kind: "management", description: "console bench" })).token;
    const env: NodeJS.ProcessEnv = {
      ...cleanEnv(),
      WAYPOINT_SERVER_ADDR: s.address,
      WAYPOINT_SERVER_TOKEN: token,
      TERM: "xterm-256color",
    };
    delete env.CI;
    const firstFrameMs: number[] = [];
    const dataFrameMs: number[] = [];
    for (let i = 0; i < startRounds; i++) {
      const t0 = performance.now();
      const term = startConsole(tree.bin("waypoint.js"), env);
      const first = await term.next();
      const data = await term.when("Warnings");
      firstFrameMs.push(first - t0);
      dataFrameMs.push(data - t0);
      term.proc.write("q");
      await new Promise<void>((resolve) => term.proc.onExit(() => resolve()));
    }
    const runnerToken = (await s.conn.createToken({ kind: "runner", description: "console bench" })).token;
    await fillInventory(s.address, token, runnerToken, components);
    // Let the server's inventory flush the recorded clients to the database.
    await new Promise((r) => setTimeout(r, 1500));
    const term = startConsole(tree.bin("waypoint.js"), env);
    await term.when("Warnings");
    term.proc.write("2");
    await term.when("Versions in use");
    // The group of this build's clients holds the 10,000: open it.
    term.proc.write("\r");
    await term.when("bench-client-");
    await new Promise((r) => setTimeout(r, 300));
    const keyMs: number[] = [];
    for (let i = 0; i < keys; i++) {
      const next = term.next();
      const t0 = performance.now();
      term.proc.write(i % 2 === 0 ? "j" : "k");
      keyMs.push((await next) - t0);
      // Apart by more than Ink's 33 ms render throttle, so each key gets its frame at once.
      await new Promise((r) => setTimeout(r, 60));
    }
    term.proc.write("q");
    await new Promise<void>((resolve) => term.proc.onExit(() => resolve()));
    s.conn.close();
    return { startRounds, firstFrameMs, dataFrameMs, components, keyMs };
  } finally {
    for (const c of children) c.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
    tree.remove();
  }
}

export function consoleSection(b: ConsoleBench): string {
  const first = median(b.firstFrameMs);
  const key = median(b.keyMs);
  const p90 = [...b.keyMs].sort((x, y) => x - y)[Math.floor(b.keyMs.length * 0.9)] ?? 0;
  return `${HEADING}

| measure | figure | target |
| --- | ---: | --- |
| process start to the first frame (median of ${b.startRounds}) | **${fmt(first)} ms** | ≤ 400 ms (${first <= 400 ? "meets" : "MISSES"}) |
| process start to the first frame with the server's data | ${fmt(median(b.dataFrameMs))} ms | |
| key press to the next frame, ${fmt(b.components)} components (median of ${b.keyMs.length}; p90) | **${key.toFixed(1)} ms** (${p90.toFixed(1)} ms) | ≤ 30 ms (${key <= 30 ? "meets" : "MISSES"}) |

**What is measured.** \`waypoint ui\` from the compiled tree (\`node dist/bin/waypoint.js ui\`, the bundle, as \`npm start\` runs it)
in a pseudo-terminal (node-pty, 100×30), against a real server process. *First frame*: from just before the spawn
to the first bytes the console writes (the header and the screen, before any answer from the server); *with
data*: to the frame showing the overview's counts. ${b.startRounds} starts (${b.firstFrameMs.map((x) => x.toFixed(0)).join(", ")} ms).
*Key press*: ${fmt(b.components)} clients recorded in the inventory (one call each under its own id), the
Versions screen with their group expanded, then \`j\` and \`k\` alternately (between that group and a runner's
below its ${fmt(b.components)} rows), 60 ms apart (more than Ink's 33 ms
render throttle), each timed from the write to the pty to the next bytes the console writes.

**How the start was made fast.** \`waypoint ui\` runs from the CLI's bundle (\`scripts/bundle-cli.mjs\`,
ARCHITECTURE.md); the first frame took 791 ms from tsc's output. Method: a CPU profile of one start up to the
first write to the terminal (\`node --cpu-prof\` with a preloaded module that exits at the first byte written),
the modules imported (\`test/helpers/record-imports.mjs\`), and each change measured against the one before,
started alternately against one server. From tsc's output, Node's module loader took most of the start:
~740 ES modules (415 of them es-toolkit's, through Ink) and grpc-js's CommonJS files to resolve, read, compile
and link. Then protobufjs parsing \`waypoint.proto\` (~50 ms), Yoga reading its own WebAssembly from a
base64 data: URL with \`fetch()\`, which loads undici (~40 ms), and React's development build (~750 KiB
more to compile, and slower renders). Medians of 11 first frames per step, one source tree (commit 8b677de,
whose console has more screens than when 791 ms was measured), this machine:

| step | first frame |
| --- | ---: |
| tsc's output, as before | 913 ms |
| bundled with esbuild: one entry file, chunks for what loads lazily (the console, the embedded server) | 499 ms |
| + React's production build, Yoga without \`fetch()\` | 405 ms |
| + the gRPC package definition made from a descriptor generated by \`npm run gen\` (\`src/gen/descriptor.ts\`), not by parsing the \`.proto\` | 374 ms |

What remained then (profiled): Node's own start (~40 ms), compiling the ~2.7 MB of JavaScript the bundle
loaded (~50 ms), the server code the CLI imported statically (\`server run\` and the snapshot commands imported
\`src/server/main.ts\`, so grpc-health-check and @grpc/reflection loaded their \`.proto\` files at every start,
~40 ms; since 75ea47e only a running server imports it), making the package definition from the descriptor
(~20 ms), and the first render with Yoga's first layout (~40 ms).

**Why a key press is fast.** Grouping the inventory runs when the data changes, not on a key; a key press only
moves the selection in the reducer and re-renders the rows on screen (the expanded group's rows are cut to the
screen's height before they are drawn).`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes("--quick");
  const b = await benchConsole(quick ? { startRounds: 3, keys: 10, components: 2000 } : {});
  const section = consoleSection(b);
  process.stdout.write(`${section}\n`);
  writeBenchSection(HEADING, section);
}
