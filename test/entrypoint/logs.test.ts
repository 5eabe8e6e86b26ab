import test from "ava";
import { spawnEntrypoint } from "../helpers/entrypoint.js";
import { startFakeServer } from "../helpers/fake-entrypoint-server.js";
import { freePort } from "../helpers/process.js";
import { waitFor } from "../helpers/wait.js";

const node = process.execPath;

test("output reaches stdout and stderr byte for byte, partial lines too, and whole lines are shipped", async (t) => {
  const fake = await startFakeServer(t);
  // Partial writes with pauses, binary bytes, a line split across writes, and no final newline.
  const app = `
    const w = (s, d) => s.write(Buffer.from(d, 'latin1'));
    w(process.stdout, 'one\\ntw'); setTimeout(() => { w(process.stdout, 'o\\n\\xff\\x00bin\\n'); w(process.stderr, 'err line\\n');
      setTimeout(() => { w(process.stdout, 'tail-without-newline'); }, 100); }, 100);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], { env: { WAYPOINT_SERVER_ADDR: fake.address } });
  await ep.exited;
  const expected = Buffer.from("one\ntwo\n\xff\x00bin\ntail-without-newline", "latin1");
  t.true(ep.stdout().equals(expected), ep.stdout().toString("latin1"));
  t.true(ep.stderr().includes("err line\n"));
  await waitFor(() => Buffer.concat(fake.logs.stdout).equals(expected), "the shipped stdout");
  t.true(Buffer.concat(fake.logs.stdout).equals(expected));
  t.is(Buffer.concat(fake.logs.stderr).toString(), "err line\n");
  // Every chunk holds whole lines (except the unterminated tail at the end).
  for (const c of fake.logs.stdout.slice(0, -1)) t.is(c.at(-1), 10);
  t.true(fake.logs.instanceIds.length >= 1);
  t.true(fake.logs.batches < 10, `batched: ${fake.logs.batches} batches`);
});

test("lines written while the server is away are buffered and sent on reconnect", async (t) => {
  const port = await freePort();
  const app = `process.on('SIGTERM', () => process.exit(0)); let i = 0; const t = setInterval(() => { console.log('line ' + (++i)); if (i === 20) clearInterval(t); }, 20); setInterval(() => {}, 1000);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], {
    env: {
      WAYPOINT_SERVER_ADDR: `127.0.0.1:${port}`,
      WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "200",
      WAYPOINT_CEB_RETRY_MAX_MS: "300",
    },
  });
  await ep.waitForStdout("line 20\n");
  const fake = await startFakeServer(t, port);
  const expected = Array.from({ length: 20 }, (_, i) => `line ${i + 1}\n`).join("");
  await waitFor(() => fake.stdoutText() === expected, "the buffered lines to arrive");
  t.is(fake.logs.droppedLines, 0);
});

test("past the buffer limit the oldest lines are dropped and reported, in the batch and in the log", async (t) => {
  const port = await freePort();
  // 1,000 lines of 100 bytes = 100,000 bytes into a 10,000-byte buffer.
  const app = `process.on('SIGTERM', () => process.exit(0)); const line = 'x'.repeat(99) + '\\n'; for (let i = 0; i < 10; i++) process.stdout.write(line.repeat(100)); console.log('LAST'); setInterval(() => {}, 1000);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], {
    env: {
      WAYPOINT_SERVER_ADDR: `127.0.0.1:${port}`,
      WAYPOINT_CEB_STARTUP_TIMEOUT_MS: "200",
      WAYPOINT_CEB_RETRY_MAX_MS: "300",
      WAYPOINT_CEB_LOG_BUFFER_BYTES: "10000",
    },
  });
  await ep.waitForStdout("LAST\n");
  t.is(ep.stdout().length, 100_000 + 5, "the app's own output is complete");
  await ep.waitForLog("log buffer full: dropping the oldest lines until the server takes more");
  const fake = await startFakeServer(t, port);
  await waitFor(() => fake.stdoutText().endsWith("LAST\n"), "the newest lines to arrive");
  const shippedLines = fake.stdoutText().split("\n").length - 1;
  t.is(fake.logs.droppedLines + shippedLines, 1001, "every line is either shipped or counted as dropped");
  t.true(fake.logs.droppedLines >= 900);
  const reported = await ep.waitForLog("log lines were dropped while the server was away or slow");
  t.is(reported.droppedLines, fake.logs.droppedLines);
});

test("a log flood past the rate limit is dropped from the log stream and counted, never from stdout", async (t) => {
  const fake = await startFakeServer(t);
  // 20,000 lines of 100 bytes at once against 20,000 bytes/s with a burst of the buffer's 1 MiB.
  const app = `process.on('SIGTERM', () => process.exit(0)); const line = 'z'.repeat(99) + '\\n'; process.stdout.write(line.repeat(20000)); setInterval(() => {}, 1000);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], {
    env: {
      WAYPOINT_SERVER_ADDR: fake.address,
      WAYPOINT_CEB_LOG_RATE_BYTES: "20000",
    },
  });
  await waitFor(() => ep.stdout().length === 2_000_000, "all of stdout");
  await ep.waitForLog("the app writes faster than the log rate limit: dropping lines from the log stream");
  await waitFor(
    () => fake.logs.droppedLines + fake.stdoutText().split("\n").length - 1 === 20_000,
    "every line shipped or counted as dropped",
    // 1 MiB is shipped at once (the burst): on a loaded 2-core machine that alone has taken seconds.
    30_000,
  );
  t.true(fake.logs.droppedLines >= 9000, `${fake.logs.droppedLines} dropped`);
});

test("when whatever reads the entrypoint's stdout and stderr goes away, the app runs on and its lines are still shipped", async (t) => {
  const fake = await startFakeServer(t);
  // Writes a numbered 8 KB line to stdout and to stderr every 5 ms (1.6 MB/s each).
  const app = `process.on('SIGTERM', () => process.exit(7)); let i = 0; setInterval(() => { i++; process.stdout.write('out ' + i + ' ' + 'o'.repeat(8000) + '\\n'); process.stderr.write('err ' + i + ' ' + 'e'.repeat(8000) + '\\n'); }, 5);`;
  const ep = spawnEntrypoint(t, [node, "-e", app], { env: { WAYPOINT_SERVER_ADDR: fake.address } });
  await ep.waitForStdout("out 1 ");
  await ep.waitForLog("app started");
  // The reader stops reading first, so the entrypoint's writes queue up and it waits for a 'drain'...
  ep.child.stdout!.pause();
  ep.child.stderr!.pause();
  await new Promise((resolve) => setTimeout(resolve, 300));
  // ...that never comes: the reader closes both ends, and the entrypoint's writes fail with EPIPE.
  ep.child.stdout!.destroy();
  ep.child.stderr!.destroy();
  // The highest line number shipped per stream, reading each received chunk once.
  const highest = { stdout: 0, stderr: 0 };
  const read = { stdout: 0, stderr: 0 };
  const shipped = (source: "stdout" | "stderr") => {
    const chunks = fake.logs[source];
    for (; read[source] < chunks.length; read[source]++) {
      for (const m of chunks[read[source]]!.toString().matchAll(/^(?:out|err) (\d+) /gm))
        highest[source] = Math.max(highest[source], Number(m[1]));
    }
    return highest[source];
  };
  const before = Math.max(shipped("stdout"), shipped("stderr"));
  // 400 lines more per stream (3.2 MB): many times what the pipes and the entrypoint's stdio buffers hold.
  await waitFor(
    () => shipped("stdout") >= before + 400 && shipped("stderr") >= before + 400,
    "lines written after the reader left to be shipped",
    30_000,
  ).catch((e) => {
    t.log(before, shipped("stdout"), shipped("stderr"), ep.child.exitCode, fake.logs.droppedLines);
    throw e;
  });
  t.is(ep.child.exitCode, null, "the entrypoint runs on");
  ep.child.kill("SIGTERM");
  t.is((await ep.exited).code, 7, "the app got SIGTERM and its exit code came back");
});
