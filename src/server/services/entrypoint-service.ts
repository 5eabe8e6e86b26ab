import { ProtoWriter } from "../../client/protobuf.js";
import type { EntrypointHandlers } from "../../gen/waypoint/v1/Entrypoint.js";
import type { EntrypointConfigResponse } from "../../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { EntrypointExecRequest__Output } from "../../gen/waypoint/v1/EntrypointExecRequest.js";
import type { EntrypointLogBatch__Output } from "../../gen/waypoint/v1/EntrypointLogBatch.js";
import type { EntrypointTunnelRequest__Output } from "../../gen/waypoint/v1/EntrypointTunnelRequest.js";
import { AppError } from "../../protocol/errors.js";
import { isComponentId } from "../../protocol/validate.js";
import { EncodedMessage } from "../encoded.js";
import type { Guard } from "../guard.js";
import type { InventoryRecorder } from "../inventory-recorder.js";
import type { ServerLogger } from "../logger.js";
import type { EntrypointHub } from "../runtime/entrypoint-hub.js";
import type { ExecBroker } from "../runtime/exec-broker.js";
import { firstMessage } from "../runtime/first-message.js";
import type { IngestGovernor } from "../runtime/ingest-governor.js";
import type { InstanceRows } from "../runtime/instance-rows.js";
import type { LogHub, LogOrigin } from "../runtime/log-hub.js";
import type { LogPacer, PacedLog, SendCredit } from "../runtime/log-pacer.js";
import type { Store } from "../store/store.js";
import type { TunnelBroker } from "../url/tunnel-broker.js";
import { configMessage } from "./runtime-service.js";

const LOG_SOURCES = new Set(["stdout", "stderr"]);

/** Handlers of the entrypoint family. An entrypoint token reaches only its own deployment. */
export function entrypointService(d: {
  readonly guard: Guard;
  readonly store: Store;
  readonly recorder: InventoryRecorder;
  readonly hub: EntrypointHub;
  /** Instance rows, written behind a turn at a time. */
  readonly rows: InstanceRows;
  readonly logs: LogHub;
  readonly exec: ExecBroker;
  readonly tunnels: TunnelBroker;
  /** Takes turns among the log streams while the event loop is busy. */
  readonly ingest: IngestGovernor;
  /** Credit for the log streams of entrypoints that take it. */
  readonly pacer: LogPacer;
  readonly logger: ServerLogger;
}): EntrypointHandlers {
  return {
    EntrypointConfig: d.guard.serverStream((call, ctx) => {
      const req = call.request;
      if (!isComponentId(req.instanceId)) {
        throw new AppError("INVALID_ARGUMENT", "instance_id must be 1-128 letters, digits or . _ : -");
      }
      if (req.deploymentId !== ctx.facts?.deployment) {
        throw new AppError(
          "PERMISSION_DENIED",
          `this entrypoint token is scoped to deployment ${JSON.stringify(ctx.facts?.deployment ?? "")}, not ${JSON.stringify(req.deploymentId)}`,
        );
      }
      const deployment = d.store.getDeployment(req.deploymentId);
      if (!deployment) {
        throw new AppError("NOT_FOUND", `deployment ${req.deploymentId} does not exist on this server`, {
          hint: "The server's data may have been restored from a snapshot taken before it was created: deploy again to get a new deployment and token.",
        });
      }
      const existing = d.rows.get(req.instanceId);
      if (existing && existing.deployment !== deployment.id) {
        throw new AppError(
          "PERMISSION_DENIED",
          `instance id ${req.instanceId} is registered for another deployment`,
          {
            hint: "Instance ids are chosen per entrypoint process; restart the entrypoint to get a new one.",
          },
        );
      }
      const now = new Date().toISOString();
      d.rows.upsert({
        id: req.instanceId,
        app: deployment.app,
        deployment: deployment.id,
        version: ctx.who.version,
        entrypoint: ctx.who.entrypoint,
        emulated: ctx.who.emulated,
        hostname: req.hostname.slice(0, 255),
        pid: req.pid,
        startedAt: Number.isNaN(Date.parse(req.startedAt)) ? "" : req.startedAt.slice(0, 64),
        execDisabled: req.execDisabled,
        firstSeen: now,
        lastSeen: now,
      });
      const disconnect = d.recorder.connected(ctx.who, {
        ...ctx.facts,
        instance: req.instanceId,
        ...(req.hostname ? { hostname: req.hostname.slice(0, 255) } : {}),
      });
      // The initial configuration goes out before the stream is listed, so a push never overtakes it.
      // It says that this server paces log streams (LogCredit).
      call.write({ ...configMessage(d.store.resolvedConfig(deployment.app)), pacesLogs: true });
      const detach = d.hub.attach({
        instance: req.instanceId,
        app: deployment.app,
        deployment: deployment.id,
        execDisabled: req.execDisabled,
        stream: call,
      });
      // A paced log stream that outlived the instance's previous config stream gets its credit here again.
      d.pacer.reattached(req.instanceId);
      d.logger.info(
        {
          instance: req.instanceId,
          deployment: req.deploymentId,
          app: deployment.app,
          version: ctx.who.version,
          execDisabled: req.execDisabled,
        },
        "entrypoint registered",
      );
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        disconnect();
        if (!detach()) return; // replaced by a newer stream of the same instance
        d.logs.touch(req.instanceId);
        d.rows.touch(req.instanceId, new Date().toISOString());
        d.logger.info({ instance: req.instanceId, deployment: req.deploymentId }, "entrypoint disconnected");
      };
      call.on("cancelled", close);
      call.on("close", close);
      call.on("finish", close);
      call.on("error", close);
    }),

    EntrypointLogs: d.guard.clientStream(
      (call, ctx) =>
        new Promise((resolve, reject) => {
          let origin: LogOrigin | undefined;
          let failed = false;
          let ungoverned = () => {};
          // Paced when the entrypoint numbered the stream; the governor's holds then stop its credit too.
          let paced: PacedLog | undefined;
          let flowing = true;
          const governed = {
            /** The grpc-js call governed (read by a test of holdOneBatch). */
            call,
            pause: () => {
              flowing = false;
              call.pause();
              if (paced) d.pacer.hold(paced);
            },
            resume: () => {
              flowing = true;
              call.resume();
              if (paced) d.pacer.release(paced);
            },
          };
          const unpaced = () => {
            if (paced) d.pacer.close(paced);
            paced = undefined;
          };
          const fail = (err: unknown) => {
            if (failed) return;
            failed = true;
            ungoverned();
            unpaced();
            call.off("data", onBatch);
            call.pause();
            reject(err);
          };
          const onBatch = (batch: EntrypointLogBatch__Output) => {
            d.ingest.taking();
            try {
              if (!origin) {
                origin = registered(d.rows, batch.instanceId, ctx.facts?.deployment);
                if (batch.stream > 0) paced = d.pacer.open(origin.instance, batch.stream, flowing);
              } else if (batch.instanceId && batch.instanceId !== origin.instance)
                throw new AppError(
                  "INVALID_ARGUMENT",
                  "one EntrypointLogs stream carries the output of one instance: instance_id changed",
                );
              for (const c of batch.chunks)
                if (!LOG_SOURCES.has(c.source))
                  throw new AppError(
                    "INVALID_ARGUMENT",
                    `log source ${JSON.stringify(c.source)} is not stdout or stderr`,
                  );
              if (batch.droppedLines > 0) {
                d.logs.note(
                  origin,
                  `${batch.droppedLines} log lines were dropped by the entrypoint (the server unreachable or slow, or the app over the log rate limit)`,
                  batch.chunks[0]?.at || undefined,
                );
              }
              let bytes = 0;
              for (const c of batch.chunks) {
                d.logs.append(origin, c.source, c.data, c.at);
                bytes += c.data.length;
              }
              if (paced) d.pacer.took(paced, bytes);
            } catch (err) {
              fail(err);
            }
          };
          call.on("data", onBatch);
          holdOneBatch(call);
          ungoverned = d.ingest.add(governed);
          call.on("end", () => {
            ungoverned();
            unpaced();
            if (!failed) resolve({});
          });
          call.on("error", fail);
          call.on("cancelled", () =>
            fail(new AppError("INTERRUPTED", "the entrypoint cancelled its log stream")),
          );
        }),
    ),

    EntrypointExec: d.guard.bidiStream(async (call, ctx) => {
      const first = await firstMessage<EntrypointExecRequest__Output>(call, "open");
      if (first.request !== "open" || !first.open)
        throw new AppError("INVALID_ARGUMENT", "the first message of EntrypointExec must be open");
      if (!isComponentId(first.open.instanceId))
        throw new AppError("INVALID_ARGUMENT", "open.instance_id must be 1-128 letters, digits or . _ : -");
      d.exec.open(call, first.open, ctx.facts?.deployment ?? "");
    }),

    EntrypointTunnel: d.guard.bidiStream(async (call, ctx) => {
      // The entrypoint sends `open` at once; a call that does not is not left open.
      const first = await firstMessage<EntrypointTunnelRequest__Output>(call, "open", 10_000);
      if (first.request !== "open" || !first.open)
        throw new AppError("INVALID_ARGUMENT", "the first message of EntrypointTunnel must be open");
      if (!isComponentId(first.open.instanceId))
        throw new AppError("INVALID_ARGUMENT", "open.instance_id must be 1-128 letters, digits or . _ : -");
      d.tunnels.accept(call, first.open, ctx.facts?.deployment ?? "");
    }),
  };
}

/**
 * grpc-js reads up to 16 messages ahead into a call's stream (Node's default for object streams)
 * even while it is paused. A log batch is up to 256 KiB, so 10,000 streams the ingest governor holds
 * back would keep up to 40 GB decoded in memory, and every collection of V8's heap walks them. One
 * message ahead is enough: the HTTP/2 window holds the rest back in the entrypoint. grpc-js makes the
 * stream, so its high-water mark is set on Node's readable state (a field Node has kept since 0.10).
 */
function holdOneBatch(call: NodeJS.ReadableStream): void {
  const state = (call as { _readableState?: { highWaterMark?: number } })._readableState;
  if (state && typeof state.highWaterMark === "number") state.highWaterMark = 1;
}

/** The origin of an instance's logs: it must be registered under the token's deployment. */
function registered(rows: InstanceRows, instanceId: string, deployment: string | undefined): LogOrigin {
  if (!isComponentId(instanceId))
    throw new AppError("INVALID_ARGUMENT", "the first log batch must carry the instance_id");
  const row = rows.get(instanceId);
  if (!row || row.deployment !== deployment) {
    throw new AppError(
      "PERMISSION_DENIED",
      `instance ${instanceId} is not registered for deployment ${JSON.stringify(deployment ?? "")}, the one this token is scoped to`,
      {
        hint: "Open EntrypointConfig with this instance id first; logs are accepted only from registered instances.",
      },
    );
  }
  return { instance: row.id, app: row.app, deployment: row.deployment };
}

/**
 * Sends a LogCredit on the instance's config stream, encoded here (the service passes
 * EncodedMessage through for EntrypointConfig): false when the instance has no config stream.
 */
export function creditSender(hub: EntrypointHub): SendCredit {
  return (p, limit) => {
    const conn = hub.get(p.instance);
    if (!conn) return false;
    const bytes = new ProtoWriter(24).message(6, (w) => w.uint(1, p.stream).uint(2, limit)).finish();
    return hub.send(conn, new EncodedMessage(bytes) as unknown as EntrypointConfigResponse);
  };
}
