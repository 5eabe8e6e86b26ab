import * as grpc from "@grpc/grpc-js";
import { loadWaypointProto } from "../gen/load.js";
import type { EntrypointClient } from "../gen/waypoint/v1/Entrypoint.js";
import type { EntrypointConfigRequest } from "../gen/waypoint/v1/EntrypointConfigRequest.js";
import type { EntrypointConfigResponse__Output } from "../gen/waypoint/v1/EntrypointConfigResponse.js";
import type { GetVersionInfoResponse__Output } from "../gen/waypoint/v1/GetVersionInfoResponse.js";
import type { Inventory__Output } from "../gen/waypoint/v1/Inventory.js";
import type { NewToken__Output } from "../gen/waypoint/v1/NewToken.js";
import type { StateEvent__Output } from "../gen/waypoint/v1/StateEvent.js";
import type { WaypointClient } from "../gen/waypoint/v1/Waypoint.js";
import { type ClientIdentity, encodeClientHeaders, HEADERS } from "../protocol/headers.js";
import type { InventoryJson } from "../protocol/inventory.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { fromServiceError } from "./errors.js";
import { inventoryFromProto } from "./inventory-convert.js";
import type { ConnectionSettings } from "./settings.js";

/** Default deadline of unary calls. */
const UNARY_DEADLINE_MS = 10_000;

/** A handle on an open server stream. */
export interface StreamHandle {
  cancel(): void;
}

/**
 * The typed connection used by the CLI, console, runners, entrypoints and the
 * fleet simulator. Every call carries the identity headers and, when a token
 * is set, `authorization: Bearer …`; every failure is an AppError.
 */
export class Connection {
  readonly address: string;
  private readonly waypoint: WaypointClient;
  private readonly entrypoint: EntrypointClient;
  private readonly headers: Record<string, string>;

  constructor(
    readonly settings: ConnectionSettings,
    readonly identity: ClientIdentity,
    options: { channel?: grpc.ChannelOptions } = {},
  ) {
    this.address = settings.address;
    const { grpc: proto } = loadWaypointProto();
    const creds = settings.tls
      ? grpc.credentials.createSsl(
          null,
          null,
          null,
          settings.tlsSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
        )
      : grpc.credentials.createInsecure();
    const channelOptions = { "grpc.max_receive_message_length": 16 * 1024 * 1024, ...options.channel };
    this.waypoint = new proto.waypoint.v1.Waypoint(settings.address, creds, channelOptions);
    // Share the channel: one TCP connection per Connection.
    this.entrypoint = new proto.waypoint.v1.Entrypoint(settings.address, creds, {
      ...channelOptions,
      channelOverride: this.waypoint.getChannel(),
    });
    this.headers = encodeClientHeaders(this.identity);
  }

  private metadata(): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.headers)) md.set(k, v);
    if (this.settings.token) md.set(HEADERS.authorization, `Bearer ${this.settings.token}`);
    return md;
  }

  private unary<Req, Res>(
    method: (
      req: Req,
      md: grpc.Metadata,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method(req, this.metadata(), { deadline: Date.now() + UNARY_DEADLINE_MS }, (err, res) => {
        if (err || res === undefined) reject(fromServiceError(err, this.address));
        else resolve(res);
      });
    });
  }

  async versionInfo(): Promise<VersionInfo> {
    const res = await this.unary<object, GetVersionInfoResponse__Output>(
      this.waypoint.GetVersionInfo.bind(this.waypoint),
      {},
    );
    const info = res.info;
    return {
      version: info?.version ?? "",
      api: { min: info?.api?.min ?? 0, current: info?.api?.current ?? 0 },
      entrypoint: { min: info?.entrypoint?.min ?? 0, current: info?.entrypoint?.current ?? 0 },
      emulated: info?.emulated ?? false,
    };
  }

  bootstrap(): Promise<NewToken__Output> {
    return this.unary<object, NewToken__Output>(this.waypoint.BootstrapToken.bind(this.waypoint), {});
  }

  createToken(req: {
    kind: string;
    app?: string;
    deployment?: string;
    description?: string;
  }): Promise<NewToken__Output> {
    return this.unary<typeof req, NewToken__Output>(this.waypoint.CreateToken.bind(this.waypoint), req);
  }

  async inventory(includeInactive = false): Promise<InventoryJson & { generatedAt: string }> {
    return inventoryFromProto(
      await this.unary<object, Inventory__Output>(this.waypoint.GetInventory.bind(this.waypoint), {
        includeInactive,
      }),
    );
  }

  /** Opens WatchState; `onEnd` receives undefined when the server ended it cleanly. */
  watchState(onEvent: (e: StateEvent__Output) => void, onEnd: (err?: Error) => void): StreamHandle {
    const call = this.waypoint.WatchState({}, this.metadata());
    return this.follow(call, onEvent, onEnd);
  }

  entrypointConfig(
    req: EntrypointConfigRequest,
    onConfig: (c: EntrypointConfigResponse__Output) => void,
    onEnd: (err?: Error) => void,
  ): StreamHandle {
    const call = this.entrypoint.EntrypointConfig(req, this.metadata());
    return this.follow(call, onConfig, onEnd);
  }

  private follow<T>(
    call: grpc.ClientReadableStream<T>,
    onData: (v: T) => void,
    onEnd: (err?: Error) => void,
  ): StreamHandle {
    let cancelled = false;
    let ended = false;
    const end = (err?: Error) => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    call.on("data", onData);
    call.on("error", (err: grpc.ServiceError) => {
      if (cancelled && err.code === grpc.status.CANCELLED) end();
      else end(fromServiceError(err, this.address));
    });
    call.on("end", () => end());
    return {
      cancel: () => {
        cancelled = true;
        call.cancel();
      },
    };
  }

  close(): void {
    this.waypoint.close();
  }
}
