import type { EntrypointHandlers } from "../../gen/waypoint/v1/Entrypoint.js";
import { AppError } from "../../protocol/errors.js";
import { isComponentId } from "../../protocol/validate.js";
import type { Guard } from "../guard.js";
import type { InventoryRecorder } from "../inventory-recorder.js";
import type { ServerLogger } from "../logger.js";

/** Handlers of the entrypoint family. An entrypoint token reaches only its own deployment. */
export function entrypointService(d: {
  readonly guard: Guard;
  readonly recorder: InventoryRecorder;
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
      const disconnect = d.recorder.connected(ctx.who, {
        ...ctx.facts,
        instance: req.instanceId,
        ...(req.hostname ? { hostname: req.hostname.slice(0, 255) } : {}),
      });
      d.logger.info(
        {
          instance: req.instanceId,
          deployment: req.deploymentId,
          app: ctx.facts?.app,
          version: ctx.who.version,
        },
        "entrypoint registered",
      );
      call.on("cancelled", disconnect);
      call.on("close", disconnect);
      call.on("finish", disconnect);
      // No configuration store exists yet: the initial configuration is empty.
      call.write({ config: [] });
    }),
  };
}
