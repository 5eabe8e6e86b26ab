/**
 * Calls the Entrypoint service with the generated client, the way an
 * entrypoint does, for server tests: registration (EntrypointConfig), log
 * shipping (EntrypointLogs) and the entrypoint's side of exec
 * (EntrypointExec). Everything opened is closed when the test ends.
 */

import * as grpc from "@grpc/grpc-js";
import type { ExecutionContext } from "ava";
import { BUILD_VERSION_INFO } from "../../src/build-info.js";
import { clientIdentity } from "../../src/client/identity.js";
import { loadWaypointProto } from "../../src/gen/load.js";
import type { EntrypointConfigRequest } from "../../src/gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest } from "../../src/gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointExecResponse__Output } from "../../src/gen/waypoint/v1/EntrypointExecResponse.js";
import type { EntrypointLogBatch } from "../../src/gen/waypoint/v1/EntrypointLogBatch.js";
import type { EntrypointTunnelRequest } from "../../src/gen/waypoint/v1/EntrypointTunnelRequest.js";
import type { EntrypointTunnelResponse__Output } from "../../src/gen/waypoint/v1/EntrypointTunnelResponse.js";
import { encodeClientHeaders } from "../../src/protocol/headers.js";
import type { VersionInfo } from "../../src/protocol/version-info.js";

/** How a call ended: "OK", or the error code the server sent (waypoint-error-code) and its message. */
export interface Ending {
  readonly status: string;
  readonly code: string;
  readonly message: string;
}

export function endingOf(err: grpc.ServiceError | undefined): Ending {
  if (!err) return { status: "OK", code: "OK", message: "" };
  const code = err.metadata?.get("waypoint-error-code")[0];
  return {
    status: grpc.status[err.code] ?? String(err.code),
    code: typeof code === "string" ? code : "",
    message: err.details,
  };
}

/** An open EntrypointConfig stream. */
export interface ConfigStream {
  readonly messages: EntrypointConfigResponse__Output[];
  /** Resolves with message number `n` (0-based) once it arrived; rejects if the stream ends first. */
  message(n: number): Promise<EntrypointConfigResponse__Output>;
  /** Resolves when the stream ends, with how. */
  readonly ended: Promise<Ending>;
  cancel(): void;
}

/** An open EntrypointExec stream. */
export interface ExecStream {
  readonly call: grpc.ClientDuplexStream<EntrypointExecRequest, EntrypointExecResponse__Output>;
  readonly received: EntrypointExecResponse__Output[];
  /** Resolves with message number `n` (0-based) once it arrived. */
  message(n: number): Promise<EntrypointExecResponse__Output>;
  readonly ended: Promise<Ending>;
}

export interface TunnelStream {
  readonly call: grpc.ClientDuplexStream<EntrypointTunnelRequest, EntrypointTunnelResponse__Output>;
  readonly received: EntrypointTunnelResponse__Output[];
  message(n: number): Promise<EntrypointTunnelResponse__Output>;
  readonly ended: Promise<Ending>;
}

export interface EntrypointRpc {
  readonly id: string;
  config(req?: Partial<EntrypointConfigRequest>): ConfigStream;
  /** Sends the batches as one EntrypointLogs stream and resolves with how it ended. */
  logs(batches: readonly EntrypointLogBatch[]): Promise<Ending>;
  /** An EntrypointLogs stream written a batch at a time; `end` ends it and resolves with how it ended. */
  logStream(): { write(batch: EntrypointLogBatch): boolean; end(): Promise<Ending> };
  exec(): ExecStream;
  tunnel(): TunnelStream;
}

export function entrypointRpc(
  t: ExecutionContext,
  /** token null: no authorization header. */
  opts: {
    address: string;
    token: string | null;
    id: string;
    deployment?: string;
    info?: VersionInfo;
    /** Channel options; `grpc.use_local_subchannel_pool: 1` gives this client a connection of its own. */
    channel?: grpc.ChannelOptions;
  },
): EntrypointRpc {
  const { grpc: proto } = loadWaypointProto();
  const client = new proto.waypoint.v1.Entrypoint(
    opts.address,
    grpc.credentials.createInsecure(),
    opts.channel ?? {},
  );
  t.teardown(() => client.close());
  const identity = clientIdentity("entrypoint", opts.id, opts.info ?? BUILD_VERSION_INFO);
  const metadata = () => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(encodeClientHeaders(identity))) md.set(k, v);
    if (opts.token !== null) md.set("authorization", `Bearer ${opts.token}`);
    return md;
  };

  function collector<T>(stream: NodeJS.EventEmitter) {
    const messages: T[] = [];
    const waiters: { n: number; resolve: (m: T) => void; reject: (e: Error) => void }[] = [];
    let finished = false;
    let endedResolve!: (e: Ending) => void;
    const ended = new Promise<Ending>((resolve) => (endedResolve = resolve));
    const end = (err?: grpc.ServiceError) => {
      if (finished) return;
      finished = true;
      const ending = endingOf(err);
      endedResolve(ending);
      for (const w of waiters.splice(0))
        w.reject(new Error(`the stream ended (${ending.status} ${ending.message}) before message ${w.n}`));
    };
    stream.on("data", (m: T) => {
      messages.push(m);
      for (const w of [...waiters]) {
        if (messages.length > w.n) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(messages[w.n]!);
        }
      }
    });
    stream.on("error", (err: grpc.ServiceError) => end(err));
    stream.on("status", (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) end();
    });
    const message = (n: number) =>
      messages.length > n
        ? Promise.resolve(messages[n]!)
        : finished
          ? Promise.reject(new Error(`the stream ended before message ${n}`))
          : new Promise<T>((resolve, reject) => waiters.push({ n, resolve, reject }));
    return { messages, message, ended };
  }

  return {
    id: opts.id,
    config(req = {}) {
      const call = client.EntrypointConfig(
        {
          instanceId: opts.id,
          deploymentId: opts.deployment ?? "",
          hostname: "test-host",
          pid: 4242,
          startedAt: "2026-11-22T10:00:00.000Z",
          execDisabled: false,
          ...req,
        },
        metadata(),
      );
      t.teardown(() => call.cancel());
      const c = collector<EntrypointConfigResponse__Output>(call);
      return { ...c, cancel: () => call.cancel() };
    },
    logs(batches) {
      return new Promise<Ending>((resolve) => {
        const call = client.EntrypointLogs(metadata(), (err) => resolve(endingOf(err ?? undefined)));
        for (const b of batches) call.write(b);
        call.end();
      });
    },
    logStream() {
      let ended!: Promise<Ending>;
      let call!: grpc.ClientWritableStream<EntrypointLogBatch>;
      ended = new Promise<Ending>((resolve) => {
        call = client.EntrypointLogs(metadata(), (err) => resolve(endingOf(err ?? undefined)));
      });
      t.teardown(() => call.cancel());
      return {
        write: (batch) => call.write(batch),
        end: () => {
          call.end();
          return ended;
        },
      };
    },
    exec() {
      const call = client.EntrypointExec(metadata());
      t.teardown(() => call.cancel());
      const c = collector<EntrypointExecResponse__Output>(call);
      return { call, received: c.messages, message: c.message, ended: c.ended };
    },
    tunnel() {
      const call = client.EntrypointTunnel(metadata());
      t.teardown(() => call.cancel());
      const c = collector<EntrypointTunnelResponse__Output>(call);
      return { call, received: c.messages, message: c.message, ended: c.ended };
    },
  };
}

/**
 * App "web" and its first deployment "web-v1", created through `admin` (a management Connection);
 * resolves with the deployment's entrypoint token.
 */
export async function webV1(admin: {
  createApp(name: string): Promise<unknown>;
  createDeployment(app: string): Promise<{ token: string; deployment: { id: string } }>;
}): Promise<{ token: string }> {
  await admin.createApp("web");
  const created = await admin.createDeployment("web");
  if (created.deployment.id !== "web-v1") throw new Error(`expected web-v1, got ${created.deployment.id}`);
  return { token: created.token };
}
