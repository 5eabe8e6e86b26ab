import type { ServerStatusInfo, StagedRestore, StreamHandle } from "../client/connection.js";
import type { DeploymentInfo, InstanceInfo, JobInfo, LogLineInfo } from "../client/runtime.js";
import type { InventoryJson } from "../protocol/inventory.js";
import type { VersionInfo } from "../protocol/version-info.js";

/**
 * What the console reads from the server. `Connection` satisfies it; tests inject their own, so
 * every screen renders without a server.
 */
export interface ConsoleClient {
  /** Where the console is connected, as shown in the header. */
  readonly address: string;
  versionInfo(): Promise<VersionInfo>;
  serverStatus(): Promise<ServerStatusInfo>;
  inventory(): Promise<InventoryJson & { readonly generatedAt: string }>;
  stagedRestore(): Promise<StagedRestore>;
  cancelStagedRestore(): Promise<boolean>;
  listInstances(req?: { readonly includeInactive?: boolean }): Promise<InstanceInfo[]>;
  /** Every deployment (of one app), with its connected instances and its URL. */
  listDeployments(app?: string): Promise<DeploymentInfo[]>;
  listJobs(req?: { readonly app?: string; readonly states?: readonly string[] }): Promise<JobInfo[]>;
  /** Buffered log lines (without follow the stream ends after them). */
  logs(
    req: { readonly instance?: string; readonly tail?: number },
    onLines: (lines: LogLineInfo[]) => void,
    onEnd: (err?: Error) => void,
  ): StreamHandle;
}

/** The last `tail` buffered lines of one instance, read once; fails after `timeoutMs` without an end. */
export function logTail(
  client: ConsoleClient,
  instance: string,
  tail: number,
  timeoutMs = 10_000,
): Promise<LogLineInfo[]> {
  return new Promise((resolve, reject) => {
    const lines: LogLineInfo[] = [];
    const timer = setTimeout(() => {
      handle.cancel();
      reject(new Error(`the server sent no end to ${instance}'s log tail within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    const handle = client.logs(
      { instance, tail },
      (batch) => lines.push(...batch),
      (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(lines);
      },
    );
  });
}
