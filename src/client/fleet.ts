import { BUILD_VERSION_INFO } from "../build-info.js";
import type { Catalog } from "../protocol/catalog.js";
import { emulatedVersionInfo } from "../protocol/emulation.js";
import { AppError } from "../protocol/errors.js";
import type { ClientKind } from "../protocol/headers.js";
import { Connection, type StreamHandle } from "./connection.js";
import { clientIdentity } from "./identity.js";
import type { ConnectionSettings } from "./settings.js";

/** A group of identical simulated components. */
export interface FleetGroup {
  readonly kind: ClientKind;
  readonly count: number;
  /** Catalog release to emulate; the build's own version when absent. */
  readonly version?: string;
  /** Entrypoints: the app and deployment they belong to. */
  readonly app?: string;
  readonly deployment?: string;
}

export interface FleetSpec {
  readonly server: Omit<ConnectionSettings, "token" | "source">;
  /** A management token: used by clients, and to mint runner and entrypoint tokens. */
  readonly managementToken: string;
  /** Needed when any group names a version. */
  readonly catalog?: Catalog;
  readonly groups: readonly FleetGroup[];
  /** Prefix of component ids, so several fleets can share a server. */
  readonly idPrefix?: string;
}

export type MemberState = "connecting" | "connected" | "rejected" | "closed" | "failed";

/** One simulated component: a real gRPC connection holding one stream open. */
export interface FleetMember {
  readonly id: string;
  readonly group: FleetGroup;
  state: MemberState;
  /** Why it is rejected or failed. */
  error?: AppError;
}

/**
 * Opens real gRPC connections (one TCP connection each) as components of
 * given kinds and (emulated) versions, and keeps them open: clients and
 * runners hold WatchState, entrypoints hold EntrypointConfig. Used by tests,
 * benchmarks and the demo. Nothing about the members is faked on the server:
 * they go through the same guard, auth and inventory as real components.
 */
export class Fleet {
  readonly members: FleetMember[] = [];
  private readonly handles: StreamHandle[] = [];
  private readonly connections: Connection[] = [];

  private constructor(private readonly spec: FleetSpec) {}

  static async start(spec: FleetSpec): Promise<Fleet> {
    const fleet = new Fleet(spec);
    try {
      await fleet.open();
    } catch (err) {
      // The connections opened so far would keep the process alive.
      fleet.stop();
      throw err;
    }
    return fleet;
  }

  private async open(): Promise<void> {
    const { spec } = this;
    // The admin (which mints tokens) speaks exactly the server's release, so it is never the one refused.
    const probe = this.connection(
      "cli",
      `${spec.idPrefix ?? "sim"}-admin`,
      spec.managementToken,
      BUILD_VERSION_INFO,
    );
    const serverInfo = await probe.versionInfo();
    const admin = serverInfo.emulated
      ? this.connection(
          "cli",
          `${spec.idPrefix ?? "sim"}-admin`,
          spec.managementToken,
          emulatedVersionInfo(spec.catalog ?? missingCatalog(serverInfo.version), serverInfo.version),
        )
      : probe;
    const tokens = new Map<string, string>();
    const tokenFor = async (g: FleetGroup): Promise<string> => {
      if (g.kind === "cli" || g.kind === "ui") return spec.managementToken;
      const key = g.kind === "runner" ? "runner" : `entrypoint/${g.app}/${g.deployment}`;
      let token = tokens.get(key);
      if (!token) {
        if (g.kind === "entrypoint") await ensureDeployment(admin, g.app ?? "", g.deployment ?? "");
        token = (
          await admin.createToken({
            kind: g.kind,
            app: g.kind === "entrypoint" ? (g.app ?? "") : "",
            deployment: g.kind === "entrypoint" ? (g.deployment ?? "") : "",
            description: "fleet simulator",
          })
        ).token;
        tokens.set(key, token);
      }
      return token;
    };
    const waits: Promise<void>[] = [];
    let n = 0;
    for (const group of spec.groups) {
      if (group.kind === "entrypoint" && (!group.app || !group.deployment)) {
        throw new AppError("INVALID_ARGUMENT", "a simulated entrypoint group needs an app and a deployment");
      }
      const info = group.version
        ? emulatedVersionInfo(spec.catalog ?? missingCatalog(group.version), group.version)
        : BUILD_VERSION_INFO;
      const token = await tokenFor(group);
      for (let i = 0; i < group.count; i++) {
        n += 1;
        const id = `${spec.idPrefix ?? "sim"}-${group.kind}-${String(n).padStart(5, "0")}`;
        const member: FleetMember = { id, group, state: "connecting" };
        this.members.push(member);
        const conn = this.connection(group.kind, id, token, info);
        waits.push(this.hold(conn, member));
      }
    }
    await Promise.all(waits);
  }

  /** Resolves once the member's stream delivered its first message, or failed. */
  private hold(conn: Connection, m: FleetMember): Promise<void> {
    return new Promise((resolve) => {
      const onFirst = () => {
        if (m.state === "connecting") m.state = "connected";
        resolve();
      };
      const onEnd = (err?: Error) => {
        if (err instanceof AppError) {
          m.error = err;
          m.state = err.code === "CLIENT_OUTDATED" || err.code === "SERVER_OUTDATED" ? "rejected" : "failed";
        } else m.state = "closed";
        resolve();
      };
      const handle =
        m.group.kind === "entrypoint"
          ? conn.entrypointConfig(
              {
                instanceId: m.id,
                deploymentId: m.group.deployment ?? "",
                hostname: "fleet-simulator",
                pid: process.pid,
                startedAt: new Date().toISOString(),
              },
              onFirst,
              onEnd,
            )
          : conn.watchState(onFirst, onEnd);
      this.handles.push(handle);
    });
  }

  private connection(
    kind: ClientKind,
    id: string,
    token: string,
    info: typeof BUILD_VERSION_INFO,
  ): Connection {
    const conn = new Connection(
      { ...this.spec.server, token, source: "fleet simulator" },
      clientIdentity(kind, id, info),
      // A private subchannel pool: one real TCP connection per simulated component.
      { channel: { "grpc.use_local_subchannel_pool": 1 } },
    );
    this.connections.push(conn);
    return conn;
  }

  count(state: MemberState): number {
    return this.members.filter((m) => m.state === state).length;
  }

  /** Closes every stream and connection. */
  stop(): void {
    for (const h of this.handles) h.cancel();
    for (const c of this.connections) c.close();
    for (const m of this.members) if (m.state === "connected" || m.state === "connecting") m.state = "closed";
  }
}

function missingCatalog(version: string): never {
  throw new AppError("EMULATION_INVALID", `simulating version ${version} needs a release catalog`);
}

/**
 * Entrypoint tokens are minted for an existing deployment, so the simulator creates the app and
 * as many deployments as it takes for the named one (`<app>-v<n>`) to exist.
 */
async function ensureDeployment(admin: Connection, app: string, deployment: string): Promise<void> {
  const m = /^(.+)-v([1-9][0-9]{0,3})$/.exec(deployment);
  if (!m || m[1] !== app) {
    throw new AppError(
      "INVALID_ARGUMENT",
      `a simulated deployment of app "${app}" must be named ${app}-v<n> with n from 1 to 9999, not "${deployment}"`,
    );
  }
  const want = Number(m[2]);
  try {
    await admin.createApp(app);
  } catch (err) {
    if (!(err instanceof AppError && err.code === "ALREADY_EXISTS")) throw err;
  }
  const existing = await admin.listDeployments(app);
  let have = existing.reduce((max, d) => Math.max(max, d.sequence), 0);
  while (have < want) have = (await admin.createDeployment(app)).deployment.sequence;
}
