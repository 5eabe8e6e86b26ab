/**
 * A stand-in for `waypoint-entrypoint` speaking the Entrypoint service with a
 * deployment's real token: it registers an instance (EntrypointConfig), ships
 * output lines on request (EntrypointLogs) and runs exec sessions by spawning
 * the requested command as a real child process (EntrypointExec, no pty). The
 * server sees exactly what a real entrypoint sends. Closed when the test ends.
 */
import { spawn } from "node:child_process";
import * as grpc from "@grpc/grpc-js";
import type { ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { Connection } from "../../src/client/connection.js";
import { clientIdentity } from "../../src/client/identity.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { EntrypointConfigResponse__Output } from "../../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecResponse__Output } from "../../src/gen/waypoint/v1/EntrypointExecResponse.js";
import type { ExecStart__Output } from "../../src/gen/waypoint/v1/ExecStart.js";
import { encodeClientHeaders, HEADERS } from "../../src/protocol/headers.js";
import { waitFor } from "./wait.js";

export interface FakeInstance {
  readonly id: string;
  /** Every configuration received, in order (the first is the initial one). */
  readonly configs: Record<string, string>[];
  /** The start message of every exec session, in order. */
  readonly execs: ExecStart__Output[];
  /** Ships lines as the app's output and waits until the server has had time to take them. */
  writeLines(source: "stdout" | "stderr", lines: readonly string[], dropped?: number): void;
  close(): void;
}

export async function startFakeInstance(
  t: ExecutionContext,
  opts: { address: string; token: string; deployment: string; id: string; execDisabled?: boolean },
): Promise<FakeInstance> {
  const identity = clientIdentity("entrypoint", opts.id, BUILD_VERSION_INFO);
  const conn = new Connection(
    { address: opts.address, token: opts.token, tls: false, tlsSkipVerify: false, source: "test" },
    identity,
  );
  const { grpc: proto } = loadWaypointProto();
  const raw = new proto.waypoint.v1.Entrypoint(opts.address, grpc.credentials.createInsecure());
  const metadata = () => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(encodeClientHeaders(identity))) md.set(k, v);
    md.set(HEADERS.authorization, `Bearer ${opts.token}`);
    return md;
  };
  const configs: Record<string, string>[] = [];
  const execs: ExecStart__Output[] = [];
  const children: ReturnType<typeof spawn>[] = [];

  const runExec = (session: string) => {
    const call = raw.EntrypointExec(metadata());
    call.on("error", () => {});
    call.write({ open: { instanceId: opts.id, session } });
    let child: ReturnType<typeof spawn> | undefined;
    call.on("data", (m: EntrypointExecResponse__Output) => {
      if (m.response === "start" && m.start) {
        execs.push(m.start);
        const [cmd, ...args] = m.start.args;
        child = spawn(cmd!, args, { stdio: "pipe" });
        children.push(child);
        child.stdout!.on("data", (d: Buffer) => call.write({ stdout: d }));
        child.stderr!.on("data", (d: Buffer) => call.write({ stderr: d }));
        child.stdin!.on("error", () => {});
        child.on("error", (err) => {
          call.write({ error: err.message });
          call.end();
        });
        child.on("close", (code, signal) => {
          call.write({ exitCode: code ?? 128 + (signal === "SIGKILL" ? 9 : 15) });
          call.end();
        });
      } else if (m.response === "stdin" && m.stdin) child?.stdin?.write(m.stdin);
      else if (m.response === "stdinEof") child?.stdin?.end();
    });
  };

  const configStream = conn.entrypointConfig(
    {
      instanceId: opts.id,
      deploymentId: opts.deployment,
      hostname: "fake-host",
      pid: process.pid,
      startedAt: new Date().toISOString(),
      execDisabled: opts.execDisabled ?? false,
    },
    (c: EntrypointConfigResponse__Output) => {
      if (c.hasConfig) configs.push(Object.fromEntries(c.config.map((v) => [v.name, v.value])));
      if (c.exec?.session) runExec(c.exec.session);
    },
    () => {},
  );
  const logs = raw.EntrypointLogs(metadata(), () => {});
  logs.write({ instanceId: opts.id, chunks: [], droppedLines: 0 });

  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    configStream.cancel();
    logs.cancel();
    for (const c of children) c.kill("SIGKILL");
    raw.close();
    conn.close();
  };
  t.teardown(close);
  await waitFor(() => configs.length > 0, `instance ${opts.id} to receive its configuration`);
  return {
    id: opts.id,
    configs,
    execs,
    writeLines(source, lines, dropped = 0) {
      logs.write({
        instanceId: opts.id,
        chunks: [
          { source, data: Buffer.from(lines.map((l) => `${l}\n`).join("")), at: new Date().toISOString() },
        ],
        droppedLines: dropped,
      });
    },
    close,
  };
}
