/**
 * A stand-in for the server's Entrypoint service, for the entrypoint's own
 * tests: a real grpc-js server on 127.0.0.1 that records registrations and
 * log batches, pushes configurations and drives exec sessions when the test
 * says so. The real server is used where its behaviour matters (see
 * test/entrypoint/server.test.ts); this one lets a test refuse, push bursts or
 * cancel at will.
 */
import * as grpc from "@grpc/grpc-js";
import type { ExecutionContext } from "ava";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { EntrypointConfigRequest__Output } from "../../src/gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse } from "../../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest__Output } from "../../src/gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse } from "../../src/gen/waypoint/v1/EntrypointExecResponse.js";
import type { ExecStart } from "../../src/gen/waypoint/v1/ExecStart.js";
import { waitFor } from "./wait.js";

export interface Registration {
  readonly request: EntrypointConfigRequest__Output;
  readonly metadata: Record<string, string>;
  readonly call: grpc.ServerWritableStream<EntrypointConfigRequest__Output, EntrypointConfigResponse>;
  open: boolean;
}

export interface ReceivedLines {
  readonly stdout: Buffer[];
  readonly stderr: Buffer[];
  droppedLines: number;
  batches: number;
  instanceIds: string[];
}

export interface FakeExec {
  readonly messages: EntrypointExecRequest__Output[];
  readonly call: grpc.ServerDuplexStream<EntrypointExecRequest__Output, EntrypointExecResponse>;
  send(m: EntrypointExecResponse): void;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code, or rejects with the entrypoint's `error`. */
  readonly result: Promise<number>;
}

export interface FakeServer {
  readonly address: string;
  readonly port: number;
  readonly registrations: Registration[];
  readonly logs: ReceivedLines;
  /** What every new registration receives first. */
  initialConfig: Record<string, string>;
  /** Refuse every config call with this status (undefined: accept). */
  refuse: grpc.status | undefined;
  /** Pushes a configuration to every open config stream. */
  pushConfig(config: Record<string, string>): void;
  /** Sends an exec notice and resolves with the session once the entrypoint opened it. */
  exec(start: ExecStart): Promise<FakeExec>;
  /** Waits until `n` registrations (ever) have arrived. */
  waitForRegistrations(n: number, timeoutMs?: number): Promise<Registration>;
  stdoutText(): string;
  /** Ends every open config stream (a clean server-side end, as at shutdown). */
  endStreams(): void;
  stop(): Promise<void>;
}

export async function startFakeServer(t: ExecutionContext, port = 0): Promise<FakeServer> {
  const { grpc: proto } = loadWaypointProto();
  const server = new grpc.Server();
  const registrations: Registration[] = [];
  const logs: ReceivedLines = { stdout: [], stderr: [], droppedLines: 0, batches: 0, instanceIds: [] };
  const execWaiters = new Map<string, (e: FakeExec) => void>();
  let sessions = 0;

  const configMessage = (config: Record<string, string>): EntrypointConfigResponse => ({
    hasConfig: true,
    config: Object.entries(config).map(([name, value]) => ({ name, value })),
  });

  const fake: FakeServer = {
    address: "",
    port: 0,
    registrations,
    logs,
    initialConfig: {},
    refuse: undefined,
    pushConfig(config) {
      for (const r of registrations) if (r.open) r.call.write(configMessage(config));
    },
    exec(start) {
      const session = `s${++sessions}`;
      const open = registrations.filter((r) => r.open).at(-1);
      if (!open) return Promise.reject(new Error("no registered entrypoint"));
      const got = new Promise<FakeExec>((resolve) => execWaiters.set(session, resolve));
      open.call.write({ exec: { session } });
      return got.then((e) => {
        e.send({ start: { instance: "", app: "", tty: false, rows: 0, cols: 0, term: "", ...start } });
        return e;
      });
    },
    async waitForRegistrations(n, timeoutMs = 15_000) {
      await waitFor(() => registrations.length >= n, `${n} registration(s) on the fake server`, timeoutMs);
      return registrations[n - 1]!;
    },
    stdoutText: () => Buffer.concat(logs.stdout).toString(),
    endStreams() {
      for (const r of registrations) {
        if (r.open) {
          r.open = false;
          r.call.end();
        }
      }
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const r of registrations) r.open = false;
        server.forceShutdown();
        resolve();
      }),
  };

  server.addService(proto.waypoint.v1.Entrypoint.service, {
    EntrypointConfig(
      call: grpc.ServerWritableStream<EntrypointConfigRequest__Output, EntrypointConfigResponse>,
    ) {
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(call.metadata.getMap())) metadata[k] = String(v);
      if (fake.refuse !== undefined) {
        call.emit("error", { code: fake.refuse, details: "refused by the fake server" });
        return;
      }
      const r: Registration = { request: call.request, metadata, call, open: true };
      registrations.push(r);
      call.on("cancelled", () => {
        r.open = false;
      });
      call.write(configMessage(fake.initialConfig));
    },
    EntrypointLogs(
      call: grpc.ServerReadableStream<
        { instanceId: string; chunks: { source: string; data: Buffer }[]; droppedLines: number },
        object
      >,
      callback: grpc.sendUnaryData<object>,
    ) {
      call.on("data", (b) => {
        logs.batches += 1;
        if (b.instanceId) logs.instanceIds.push(b.instanceId);
        logs.droppedLines += Number(b.droppedLines);
        for (const c of b.chunks) (c.source === "stderr" ? logs.stderr : logs.stdout).push(c.data);
      });
      call.on("end", () => callback(null, {}));
      call.on("error", () => {});
    },
    EntrypointExec(call: grpc.ServerDuplexStream<EntrypointExecRequest__Output, EntrypointExecResponse>) {
      const messages: EntrypointExecRequest__Output[] = [];
      let resolveResult!: (n: number) => void;
      let rejectResult!: (e: Error) => void;
      const result = new Promise<number>((res, rej) => {
        resolveResult = res;
        rejectResult = rej;
      });
      result.catch(() => {});
      const text = (kind: "stdout" | "stderr") =>
        Buffer.concat(messages.filter((m) => m.request === kind).map((m) => m[kind]!)).toString();
      const e: FakeExec = {
        messages,
        call,
        send: (m) => call.write(m),
        stdout: () => text("stdout"),
        stderr: () => text("stderr"),
        result,
      };
      call.on("data", (m: EntrypointExecRequest__Output) => {
        messages.push(m);
        if (m.request === "open" && m.open) execWaiters.get(m.open.session)?.(e);
        else if (m.request === "exitCode") resolveResult(m.exitCode ?? -1);
        else if (m.request === "error") rejectResult(new Error(m.error));
      });
      call.on("end", () => call.end());
      call.on("error", () => {});
    },
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  Object.assign(fake, { address: `127.0.0.1:${bound}`, port: bound });
  t.teardown(() => fake.stop());
  return fake;
}
