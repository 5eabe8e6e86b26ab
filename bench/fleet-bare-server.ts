/**
 * Child process of bench/fleet.ts: the baseline. A bare grpc-js server on the same descriptor as
 * the real one, holding the same streams with nothing of ours around them — no auth, no version
 * checks, no database, no inventory recorder, no log buffers:
 * EntrypointConfig sends an empty configuration and keeps the stream; EntrypointLogs consumes;
 * SetConfig pushes the configuration to every stream; ListDeployments counts the streams;
 * GetInventory lists them from memory (the same number of components the real server
 * answers with, so both answers are of a size). Prints its port as JSON on stdout.
 */
import * as grpc from "@grpc/grpc-js";
import { BUILD_VERSION_INFO } from "../src/build-info.js";
import { loadWaypointProto } from "../src/gen/load.js";
import type { Component } from "../src/gen/waypoint/v1/Component.js";
import type { ConfigVar, ConfigVar__Output } from "../src/gen/waypoint/v1/ConfigVar.js";
import type { EntrypointHandlers } from "../src/gen/waypoint/v1/Entrypoint.js";
import type { EntrypointConfigRequest__Output } from "../src/gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse } from "../src/gen/waypoint/v1/EntrypointConfigResponse.js";
import type { WaypointHandlers } from "../src/gen/waypoint/v1/Waypoint.js";

type Stream = grpc.ServerWritableStream<EntrypointConfigRequest__Output, EntrypointConfigResponse>;

const streams = new Map<string, { stream: Stream; since: string; hostname: string }>();
const config = new Map<string, string>();
const message = (): EntrypointConfigResponse => ({
  config: [...config].map(([name, value]): ConfigVar => ({ name, value })),
  hasConfig: true,
});
const unimplemented = (_call: unknown, cb: (err: Partial<grpc.StatusObject>) => void) =>
  cb({ code: grpc.status.UNIMPLEMENTED, details: "not in the baseline" });

const entrypoint = {
  EntrypointConfig: (call: Stream) => {
    const id = call.request.instanceId;
    call.write(message());
    streams.set(id, { stream: call, since: new Date().toISOString(), hostname: call.request.hostname });
    const close = () => {
      if (streams.get(id)?.stream === call) streams.delete(id);
    };
    call.on("cancelled", close);
    call.on("close", close);
    call.on("error", close);
  },
  EntrypointLogs: (call: grpc.ServerReadableStream<unknown, object>, cb: grpc.sendUnaryData<object>) => {
    call.on("data", () => {});
    call.on("end", () => cb(null, {}));
    call.on("error", () => {});
  },
  EntrypointExec: (call: grpc.ServerDuplexStream<unknown, unknown>) =>
    call.destroy(Object.assign(new Error("not in the baseline"), { code: grpc.status.UNIMPLEMENTED })),
  EntrypointTunnel: (call: grpc.ServerDuplexStream<unknown, unknown>) =>
    call.destroy(Object.assign(new Error("not in the baseline"), { code: grpc.status.UNIMPLEMENTED })),
} as unknown as EntrypointHandlers;

const waypoint = new Proxy(
  {
    SetConfig: (
      call: grpc.ServerUnaryCall<{ set: ConfigVar__Output[]; unset: string[] }, object>,
      cb: grpc.sendUnaryData<object>,
    ) => {
      for (const v of call.request.set) config.set(v.name, v.value);
      for (const n of call.request.unset) config.delete(n);
      const m = message();
      let pushed = 0;
      for (const { stream } of streams.values()) {
        if (stream.cancelled || stream.writableEnded) continue;
        stream.write(m);
        pushed++;
      }
      cb(null, { notFound: [], pushed });
    },
    ListDeployments: (_call: unknown, cb: grpc.sendUnaryData<object>) =>
      cb(null, {
        deployments: [
          { id: "bare", app: "fleet", sequence: 1, createdAt: "", connectedInstances: streams.size },
        ],
      }),
    GetVersionInfo: (_call: unknown, cb: grpc.sendUnaryData<object>) =>
      cb(null, { info: { ...BUILD_VERSION_INFO } }),
    GetInventory: (_call: unknown, cb: grpc.sendUnaryData<object>) => {
      const v = BUILD_VERSION_INFO;
      const components: Component[] = [];
      for (const [id, s] of streams)
        components.push({
          kind: "entrypoint",
          id,
          version: v.version,
          entrypoint: v.entrypoint,
          app: "fleet",
          deployment: "bare",
          instance: id,
          hostname: s.hostname,
          connected: true,
          firstSeen: s.since,
          lastSeen: s.since,
        });
      cb(null, {
        server: { ...v },
        activeWindow: "168h",
        components,
        rejected: [],
        generatedAt: new Date().toISOString(),
      });
    },
  },
  {
    get: (target, name) => (target as Record<string | symbol, unknown>)[name] ?? unimplemented,
  },
) as unknown as WaypointHandlers;

const proto = loadWaypointProto().grpc.waypoint.v1;
// The same message limits as the real server.
const server = new grpc.Server({
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.max_send_message_length": 4 * 1024 * 1024,
});
server.addService(proto.Entrypoint.service, entrypoint);
server.addService(proto.Waypoint.service, waypoint);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});
