import { loadWaypointProto } from "../../gen/load.js";
import type { Inventory } from "../../gen/waypoint/v1/Inventory.js";
import type { WaypointHandlers } from "../../gen/waypoint/v1/Waypoint.js";
import { AppError } from "../../protocol/errors.js";
import type { InventoryJson } from "../../protocol/inventory.js";
import { isTokenKind, TOKEN_KINDS } from "../../protocol/tokens.js";
import type { VersionInfo } from "../../protocol/version-info.js";
import { mintToken, type TokenCache } from "../auth.js";
import { EncodedMessage } from "../encoded.js";
import type { Guard } from "../guard.js";
import type { InventoryRecorder } from "../inventory-recorder.js";
import type { ServerLogger } from "../logger.js";
import type { StateWatch } from "../state-watch.js";
import type { Store } from "../store/store.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface WaypointServiceDeps {
  readonly guard: Guard;
  readonly store: Store;
  readonly tokens: TokenCache;
  readonly recorder: InventoryRecorder;
  readonly watch: StateWatch;
  readonly versionInfo: VersionInfo;
  /** RFC 3339: when this server process started (GetServerStatus). */
  readonly startedAt: string;
  readonly logger: ServerLogger;
}

/** The Waypoint RPCs served here; the snapshot RPCs are in snapshot-service.ts. */
type CoreHandlers = Pick<
  WaypointHandlers,
  "GetVersionInfo" | "GetServerStatus" | "BootstrapToken" | "CreateToken" | "GetInventory" | "WatchState"
>;

/** Handlers of the api family's Waypoint service: validate, call the store, return. */
export function waypointService(d: WaypointServiceDeps): CoreHandlers {
  return {
    GetVersionInfo: d.guard.unary(() => ({ info: d.versionInfo })),

    GetServerStatus: d.guard.unary(() => {
      const last = d.store.lastSnapshot();
      return {
        startedAt: d.startedAt,
        databaseBytes: d.store.sizeBytes(),
        stateIndex: d.store.stateIndex(),
        ...(last ? { lastSnapshot: { id: last.id, index: last.index, takenAt: last.takenAt } } : {}),
      };
    }),

    BootstrapToken: d.guard.unary(() => {
      const minted = mintToken("management", { description: "bootstrap" });
      d.store.bootstrapToken(minted.record);
      d.tokens.add(minted.record);
      d.logger.notice({ tokenId: minted.record.id }, "bootstrapped: first management token issued");
      return { token: minted.secret, id: minted.record.id, kind: minted.record.kind };
    }),

    CreateToken: d.guard.unary((req, ctx) => {
      if (!isTokenKind(req.kind)) {
        throw new AppError(
          "INVALID_ARGUMENT",
          `unknown token kind ${JSON.stringify(req.kind)}; use one of ${TOKEN_KINDS.join(", ")}`,
        );
      }
      if (req.kind === "entrypoint") {
        for (const [field, value] of [
          ["app", req.app],
          ["deployment", req.deployment],
        ] as const) {
          if (!NAME.test(value)) {
            throw new AppError(
              "INVALID_ARGUMENT",
              `an entrypoint token needs -${field}: 1-63 letters, digits or . _ - (got ${JSON.stringify(value)})`,
            );
          }
        }
        const deployment = d.store.getDeployment(req.deployment);
        if (!deployment || deployment.app !== req.app) {
          throw new AppError(
            "NOT_FOUND",
            `app ${JSON.stringify(req.app)} has no deployment ${JSON.stringify(req.deployment)}`,
            {
              hint: `See \`waypoint deployment list -app=${req.app}\`; \`waypoint deployment create -app=${req.app}\` makes a deployment together with its entrypoint token.`,
            },
          );
        }
      } else if (req.app || req.deployment) {
        throw new AppError(
          "INVALID_ARGUMENT",
          `only entrypoint tokens are scoped to an app and deployment, not ${req.kind} tokens`,
        );
      }
      if (req.description.length > 200)
        throw new AppError("INVALID_ARGUMENT", "the description is longer than 200 characters");
      const minted = mintToken(req.kind, {
        app: req.app,
        deployment: req.deployment,
        description: req.description,
      });
      d.store.insertToken(minted.record);
      d.tokens.add(minted.record);
      d.logger.info(
        { tokenId: minted.record.id, kind: minted.record.kind, by: ctx.token?.id },
        "token created",
      );
      return { token: minted.secret, id: minted.record.id, kind: minted.record.kind };
    }),

    GetInventory: d.guard.unary((req) => {
      // The components as the recorder keeps them encoded (inventory-wire.ts), after the head.
      const { head, components } = d.recorder.encodedInventory(req.includeInactive);
      const bytes = serializeInventory(inventoryToProto({ ...head, components: [] }));
      return new EncodedMessage(Buffer.concat([bytes, ...components])) as unknown as Inventory;
    }),

    WatchState: d.guard.serverStream((call, ctx) => {
      const disconnect = d.recorder.connected(ctx.who);
      d.logger.info({ kind: ctx.who.kind, id: ctx.who.id, version: ctx.who.version }, "watch opened");
      const send = (index: number) => {
        if (!call.cancelled && !call.writableEnded) call.write({ index, at: new Date().toISOString() });
      };
      const unsubscribe = d.watch.subscribe(send);
      const close = () => {
        unsubscribe();
        disconnect();
      };
      call.on("cancelled", close);
      call.on("close", close);
      call.on("finish", close);
      send(d.watch.current());
    }),
  };
}

/** GetInventory's usual serializer; the server's service definition passes EncodedMessage through (passEncoded). */
const serializeInventory = (inv: Inventory): Buffer =>
  loadWaypointProto().grpc.waypoint.v1.Waypoint.service.GetInventory.responseSerialize(inv);

export function inventoryToProto(inv: InventoryJson): Inventory {
  return {
    server: { ...inv.server, emulated: inv.server.emulated === true },
    activeWindow: inv.activeWindow,
    generatedAt: new Date().toISOString(),
    components: inv.components.map((c) => ({ ...c, emulated: c.emulated === true })),
    rejected: inv.rejected.map((r) => ({ ...r, emulated: r.emulated === true })),
  };
}
