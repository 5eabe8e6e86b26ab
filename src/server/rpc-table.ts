import type { ProtocolFamily } from "../protocol/range.js";
import type { TokenKind } from "../protocol/tokens.js";

/**
 * Who may call what: the single table the guard enforces. Every RPC the
 * server registers must be listed (the server refuses to start otherwise),
 * and test/server/rpc-table.test.ts calls each one with every token kind.
 *
 * access:
 * - "public": no token, no version check, nothing recorded (GetVersionInfo);
 * - "bootstrap": no token; version-checked and recorded; the handler itself
 *   refuses once the server is bootstrapped;
 * - a list: the token kinds allowed.
 */
export const RPC_TABLE = {
  "/waypoint.v1.Waypoint/GetVersionInfo": { family: "api", access: "public" },
  "/waypoint.v1.Waypoint/GetServerStatus": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/BootstrapToken": { family: "api", access: "bootstrap" },
  "/waypoint.v1.Waypoint/CreateToken": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/GetInventory": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/WatchState": { family: "api", access: ["management", "readonly", "runner"] },
  // Snapshots hold every token hash and a restore replaces every token: management only (DESIGN §7).
  "/waypoint.v1.Waypoint/TakeSnapshot": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/RestoreSnapshot": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/GetStagedRestore": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/CancelStagedRestore": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/CreateApp": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/UpdateApp": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/ListApps": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/CreateDeployment": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/ListDeployments": { family: "api", access: ["management", "readonly"] },
  // Configuration values are often secrets: reading them is management only, like writing.
  "/waypoint.v1.Waypoint/SetConfig": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/GetConfig": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/ListInstances": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/GetLogs": { family: "api", access: ["management", "readonly"] },
  // Exec runs arbitrary commands next to the app (seeds/004 "Security"): management only.
  "/waypoint.v1.Waypoint/Exec": { family: "api", access: ["management"] },
  // Jobs run commands on runners: queueing and cancelling are management only.
  "/waypoint.v1.Waypoint/QueueJob": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/ListJobs": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/GetJob": { family: "api", access: ["management", "readonly"] },
  "/waypoint.v1.Waypoint/CancelJob": { family: "api", access: ["management"] },
  "/waypoint.v1.Waypoint/WatchJob": { family: "api", access: ["management", "readonly"] },
  // Runners take jobs with runner tokens; a CLI runs the jobs it queued itself with its management token.
  "/waypoint.v1.Waypoint/RunnerJobs": { family: "api", access: ["management", "runner"] },
  // Entrypoint RPCs: each handler also checks that the call is for the token's own deployment.
  "/waypoint.v1.Entrypoint/EntrypointConfig": { family: "entrypoint", access: ["entrypoint"] },
  "/waypoint.v1.Entrypoint/EntrypointLogs": { family: "entrypoint", access: ["entrypoint"] },
  "/waypoint.v1.Entrypoint/EntrypointExec": { family: "entrypoint", access: ["entrypoint"] },
  "/waypoint.v1.Entrypoint/EntrypointTunnel": { family: "entrypoint", access: ["entrypoint"] },
} as const satisfies Record<string, RpcRule>;

export type RpcPath = keyof typeof RPC_TABLE;

export interface RpcRule {
  readonly family: ProtocolFamily;
  readonly access: "public" | "bootstrap" | readonly TokenKind[];
}

export function ruleFor(path: string): RpcRule | undefined {
  return (RPC_TABLE as Record<string, RpcRule>)[path];
}
