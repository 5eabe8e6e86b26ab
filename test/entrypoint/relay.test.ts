import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import test, { type ExecutionContext } from "ava";
import {
  AppChild,
  type ChildOutput,
  READ_BYTES,
  type RelayMode,
  relayOutput,
} from "../../src/entrypoint/child.js";
import { childEnv } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";

const node = process.execPath;
const CHILD_TS = fileURLToPath(new URL("../../src/entrypoint/child.ts", import.meta.url));
const TSX = import.meta.resolve("tsx");

/** Random bytes with a newline every ~60 of them (lines of every length, some long), ending mid-line. */
function sample(bytes: number): Buffer {
  const data = randomBytes(bytes);
  for (let i = 0; i < data.length; i++) if (data[i]! < 4) data[i] = 10;
  data[data.length - 1] = 65;
  return data;
}

/** An app that writes `file` to stdout in writes of random sizes (1 byte to 200 KiB), with backpressure. */
function writerApp(file: string): string {
  return `const d = require('fs').readFileSync(${JSON.stringify(file)}); let o = 0;
    function go() { while (o < d.length) { const n = 1 + Math.floor(Math.random() * (Math.random() < 0.5 ? 100 : 200000));
      const ok = process.stdout.write(d.subarray(o, o + n)); o += n; if (!ok) { process.stdout.once('drain', go); return; } } }
    go();`;
}

/** A sink that takes a while per write, so its buffer fills and `write` returns false. */
class SlowSink extends Writable {
  readonly chunks: Buffer[] = [];
  /** Writes made while an earlier write's `false` had not been followed by 'drain'. */
  violations = 0;
  private full = false;

  constructor() {
    super({ highWaterMark: 16 * 1024 });
    this.on("drain", () => {
      this.full = false;
    });
  }

  override write(
    chunk: unknown,
    encoding?: BufferEncoding | ((err?: Error | null) => void),
    cb?: (err?: Error | null) => void,
  ): boolean {
    if (this.full) this.violations += 1;
    const ok = super.write(chunk, encoding as BufferEncoding, cb);
    if (!ok) this.full = true;
    return ok;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk);
    setTimeout(cb, Math.random() < 0.2 ? 1 : 0);
  }
}

for (const mode of ["buffer", "data"] as const) {
  test(`relayOutput (${mode}): byte for byte to the sink and to the tap, following the sink's backpressure`, async (t) => {
    const file = join(tempDir(t), "data");
    const expected = sample(3 * 1024 * 1024);
    writeFileSync(file, expected);
    const proc = spawn(node, ["-e", writerApp(file)], { stdio: ["ignore", "pipe", "inherit"] });
    const sink = new SlowSink();
    const tapped: Buffer[] = [];
    let reads = 0;
    let biggest = 0;
    let ends = 0;
    const ended = new Promise<void>((resolve) => {
      const used = relayOutput(
        proc.stdout!,
        sink,
        (data) => {
          reads += 1;
          biggest = Math.max(biggest, data.length);
          tapped.push(Buffer.from(data));
        },
        () => {
          ends += 1;
          resolve();
        },
        mode,
      );
      t.is(used, mode);
    });
    await ended;
    await new Promise((resolve) => sink.end(resolve));
    t.true(Buffer.concat(sink.chunks).equals(expected), "the sink got every byte in order");
    t.true(Buffer.concat(tapped).equals(expected), "the tap saw every byte in order");
    // In "data" mode Node itself resumes a child's stdout when the child exits (flushStdio in
    // child_process), paused or not; the handle "buffer" mode reads from is out of its reach.
    if (mode === "buffer") t.is(sink.violations, 0, "no write between a false write and 'drain'");
    t.true(reads > 10);
    t.true(biggest <= READ_BYTES);
    await new Promise((resolve) => setTimeout(resolve, 50));
    t.is(ends, 1, "onEnd once");
  });
}

/**
 * Runs AppChild in a process of its own with the real stdout as the sink (the only case where the read
 * buffer is reused) and `file` written by the app; the test reads `slow`ly or at once. The harness reports
 * on stderr what its tap saw.
 */
async function throughStdout(
  t: ExecutionContext,
  file: string,
  mode: RelayMode,
  slow: boolean,
  /** Close the read end of the harness's stdout after this many bytes (its reader goes away). */
  leaveAfter = Number.POSITIVE_INFINITY,
): Promise<{ out: Buffer; report: { code: number; tapSha: string; reads: number; buffers: number } }> {
  const harness = `
    import { AppChild } from ${JSON.stringify(CHILD_TS)};
    import { createHash } from "node:crypto";
    const h = createHash("sha256"); const buffers = new Set(); let reads = 0;
    const output = { sinks: { stdout: process.stdout, stderr: process.stderr }, tap: (source, data) => {
      if (source !== "stdout") return; reads += 1; buffers.add(data.buffer); h.update(data); } };
    const child = new AppChild([process.execPath, "-e", ${JSON.stringify(writerApp(file))}], process.env, output, () => {}, ${JSON.stringify(mode)});
    const code = await child.exited;
    process.stderr.write(JSON.stringify({ code, tapSha: h.digest("hex"), reads, buffers: buffers.size }) + "\\n");`;
  const proc = spawn(node, [`--import=${TSX}`, "--input-type=module", "-e", harness], {
    stdio: ["ignore", "pipe", "pipe"],
    env: childEnv(t, {}),
  });
  const out: Buffer[] = [];
  let received = 0;
  let err = "";
  proc.stdout.on("data", (b: Buffer) => {
    out.push(b);
    received += b.length;
    if (received >= leaveAfter) return proc.stdout.destroy();
    // Every 256 KiB, stop reading for a moment: the harness's writes to its stdout queue up.
    if (slow && Math.floor((received - b.length) / 262_144) !== Math.floor(received / 262_144)) {
      proc.stdout.pause();
      setTimeout(() => proc.stdout.resume(), 15);
    }
  });
  proc.stderr.setEncoding("utf8").on("data", (s: string) => {
    err += s;
  });
  const code = await new Promise<number | null>((resolve) => proc.once("close", resolve));
  t.is(code, 0, err);
  const line = err.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`no report from the harness:\n${err}`);
  return { out: Buffer.concat(out), report: JSON.parse(line) };
}

for (const slow of [false, true]) {
  test(`AppChild to the real stdout, ${slow ? "a slow" : "a prompt"} reader: the reused read buffer never corrupts a queued write`, async (t) => {
    const file = join(tempDir(t), "data");
    const expected = sample(8 * 1024 * 1024);
    writeFileSync(file, expected);
    const { out, report } = await throughStdout(t, file, "buffer", slow);
    t.is(report.code, 0);
    t.true(out.equals(expected), "stdout is the app's output, byte for byte");
    t.is(report.tapSha, createHash("sha256").update(expected).digest("hex"), "the tap saw the same bytes");
    if (!slow) t.true(report.buffers < report.reads, `${report.buffers} buffers for ${report.reads} reads`);
  });
}

for (const mode of ["buffer", "data"] as const) {
  test(`AppChild (${mode}) whose stdout reader goes away: the app writes on to the end and the tap sees every byte`, async (t) => {
    const file = join(tempDir(t), "data");
    const expected = sample(4 * 1024 * 1024);
    writeFileSync(file, expected);
    const { out, report } = await throughStdout(t, file, mode, false, 256 * 1024);
    t.is(report.code, 0, "the app finished its writes and exited 0");
    t.true(out.length < expected.length, "the reader left early");
    t.is(report.tapSha, createHash("sha256").update(expected).digest("hex"), "the tap saw every byte");
  });
}

test("AppChild in 'data' mode to the real stdout: the same bytes", async (t) => {
  const file = join(tempDir(t), "data");
  const expected = sample(2 * 1024 * 1024);
  writeFileSync(file, expected);
  const { out, report } = await throughStdout(t, file, "data", true);
  t.true(out.equals(expected));
  t.is(report.tapSha, createHash("sha256").update(expected).digest("hex"));
});

function collect(): ChildOutput & { text: () => string } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return {
    sinks: { stdout: sink, stderr: sink },
    tap: () => {},
    text: () => Buffer.concat(chunks).toString(),
  };
}

test("AppChild: exited resolves once the app exited and its pipes closed, with its code", async (t) => {
  const output = collect();
  const started = performance.now();
  const child = new AppChild(["sh", "-c", "echo out; echo err >&2; exit 3"], process.env, output, () => {});
  t.is(await child.exited, 3);
  t.true(performance.now() - started < 900, "not the 1 s wait for pipes held open");
  t.is(output.text().split("\n").sort().join(","), ",err,out");
  t.false(child.running);
});

test("AppChild: a grandchild that keeps the pipes open does not hold exited past the 1 s wait", async (t) => {
  const child = new AppChild(["sh", "-c", "sleep 3 & echo started"], process.env, collect(), () => {});
  const started = performance.now();
  t.is(await child.exited, 0);
  const waited = performance.now() - started;
  t.true(waited >= 900 && waited < 2500, `${Math.round(waited)} ms`);
  child.killGroup();
});

test("AppChild: a command that cannot start settles with 127, and its start error is reported", async (t) => {
  let error: Error | undefined;
  const child = new AppChild(["/nonexistent/command"], process.env, collect(), (err) => {
    error = err;
  });
  t.is(await child.exited, 127);
  t.truthy(error);
});
