import type { StagedRestore } from "../client/connection.js";
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
  inventory(): Promise<InventoryJson & { readonly generatedAt: string }>;
  stagedRestore(): Promise<StagedRestore>;
}
