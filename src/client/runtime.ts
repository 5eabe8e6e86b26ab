import type { App__Output } from "../gen/waypoint/v1/App.js";
import type { ConfigEntry__Output } from "../gen/waypoint/v1/ConfigEntry.js";
import type { Deployment__Output } from "../gen/waypoint/v1/Deployment.js";
import type { Instance__Output } from "../gen/waypoint/v1/Instance.js";
import type { Job__Output } from "../gen/waypoint/v1/Job.js";
import type { LogLine__Output } from "../gen/waypoint/v1/LogLine.js";
import { type AppOperations, OPERATIONS, type OperationName } from "../protocol/operations.js";
import type { ProtocolRange } from "../protocol/range.js";

/**
 * What the CLI and console see of apps, deployments, configuration,
 * instances and logs: plain objects in the shape `-json` prints (README
 * "JSON output"), converted from the wire messages here so that nothing
 * above src/client depends on generated code.
 */
export interface AppInfo {
  readonly name: string;
  /** RFC 3339. */
  readonly createdAt: string;
  readonly deployments: number;
  /** The operations the app defines (absent: not defined). */
  readonly operations: AppOperations;
  /** Deploys of the app do not get the entrypoint's environment. */
  readonly entrypointDisabled: boolean;
  /** The URL service does not serve the app. */
  readonly urlDisabled: boolean;
  /** The app's URL (its latest deployment); absent when it has none (URL service or app URL off). */
  readonly url?: string;
}

/** A change to an app: a command sets an operation, "" removes it; absent fields stay. */
export interface AppUpdate {
  readonly operations?: { readonly [K in OperationName]?: string };
  readonly entrypointDisabled?: boolean;
  readonly urlDisabled?: boolean;
}

export interface DeploymentInfo {
  readonly id: string;
  readonly app: string;
  readonly sequence: number;
  readonly createdAt: string;
  readonly connectedInstances: number;
  /** The deployment's own URL; absent when it has none (URL service or the app's URL off). */
  readonly url?: string;
}

export interface CreatedDeploymentInfo {
  readonly deployment: DeploymentInfo;
  /** The deployment's entrypoint token: shown once. */
  readonly token: string;
  readonly tokenId: string;
  /** The port of the server's entrypoint listener (-listen-entrypoint); absent when it has none. */
  readonly entrypointPort?: number;
}

/**
 * scope: "" for global, else the app. `secret` is present (true) only on a variable set with
 * `config set -secret`, whose value is null unless it was revealed.
 */
export interface ConfigEntryInfo {
  readonly name: string;
  readonly value: string | null;
  readonly scope: string;
  readonly secret?: true;
}

export interface InstanceInfo {
  readonly id: string;
  readonly app: string;
  readonly deployment: string;
  readonly version: string;
  readonly entrypoint: ProtocolRange;
  readonly emulated: boolean;
  readonly hostname: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
  readonly connected: boolean;
  readonly execDisabled: boolean;
}

export interface LogLineInfo {
  readonly instance: string;
  /** "stdout", "stderr" or "waypoint" (lines added by waypoint itself). */
  readonly source: string;
  readonly line: string;
  /** RFC 3339 with milliseconds. */
  readonly at: string;
}

export function appFromProto(a: App__Output): AppInfo {
  const operations: { [K in OperationName]?: string } = {};
  for (const op of OPERATIONS) {
    const command = a.operations?.[op] ?? "";
    if (command !== "") operations[op] = command;
  }
  return {
    name: a.name,
    createdAt: a.createdAt,
    deployments: a.deployments,
    operations,
    entrypointDisabled: a.entrypointDisabled,
    urlDisabled: a.urlDisabled,
    ...(a.url ? { url: a.url } : {}),
  };
}

export function deploymentFromProto(d: Deployment__Output | null): DeploymentInfo {
  return {
    id: d?.id ?? "",
    app: d?.app ?? "",
    sequence: d?.sequence ?? 0,
    createdAt: d?.createdAt ?? "",
    connectedInstances: d?.connectedInstances ?? 0,
    ...(d?.url ? { url: d.url } : {}),
  };
}

export function configEntryFromProto(e: ConfigEntry__Output, revealed: boolean): ConfigEntryInfo {
  if (!e.secret) return { name: e.name, value: e.value, scope: e.scope };
  return { name: e.name, value: revealed ? e.value : null, scope: e.scope, secret: true };
}

export function instanceFromProto(i: Instance__Output): InstanceInfo {
  return {
    id: i.id,
    app: i.app,
    deployment: i.deployment,
    version: i.version,
    entrypoint: { min: i.entrypoint?.min ?? 0, current: i.entrypoint?.current ?? 0 },
    emulated: i.emulated,
    hostname: i.hostname,
    pid: i.pid,
    startedAt: i.startedAt,
    firstSeen: i.firstSeen,
    lastSeen: i.lastSeen,
    connected: i.connected,
    execDisabled: i.execDisabled,
  };
}

export function logLineFromProto(l: LogLine__Output): LogLineInfo {
  return { instance: l.instance, source: l.source, line: l.line, at: l.at };
}

/** A job as clients see it (and `waypoint job … -json` prints it): absent values are null. */
export interface JobInfo {
  readonly id: string;
  readonly app: string;
  readonly operation: string;
  readonly command: string;
  readonly state: string;
  /** Only this runner may take it; null: any runner. */
  readonly target: string | null;
  readonly runner: string | null;
  readonly deployment: string | null;
  readonly queuedAt: string;
  readonly assignedAt: string | null;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly exitCode: number | null;
  readonly error: string | null;
  readonly attempts: number;
  readonly cancelRequested: boolean;
}

export function jobFromProto(j: Job__Output | null): JobInfo {
  const or = (s: string | undefined) => (s ? s : null);
  return {
    id: j?.id ?? "",
    app: j?.app ?? "",
    operation: j?.operation ?? "",
    command: j?.command ?? "",
    state: j?.state ?? "",
    target: or(j?.target),
    runner: or(j?.runner),
    deployment: or(j?.deployment),
    queuedAt: j?.queuedAt ?? "",
    assignedAt: or(j?.assignedAt),
    startedAt: or(j?.startedAt),
    finishedAt: or(j?.finishedAt),
    exitCode: j?.exitCode ?? null,
    error: or(j?.error),
    attempts: j?.attempts ?? 0,
    cancelRequested: j?.cancelRequested ?? false,
  };
}
