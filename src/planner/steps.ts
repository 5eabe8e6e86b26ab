import type { KnownIssue } from "../protocol/catalog.js";
import type { ComponentKind } from "../protocol/inventory.js";
import { type PlanStep, SERVER_ID, type StepAction } from "./types.js";

/** Step factories: the commands and wording of each action live here, in one place. */

const MOVE_ACTION: Record<ComponentKind, StepAction> = {
  client: "upgrade-clients",
  runner: "upgrade-runners",
  entrypoint: "redeploy-entrypoints",
};

export function moveAction(kind: ComponentKind): StepAction {
  return MOVE_ACTION[kind];
}

/**
 * How to install release `version` of the catalog's product `where`: a real
 * command for this package, an instruction for any other product.
 */
export function installCommand(product: string, version: string, where?: string): string {
  return product === "waypoint-ops"
    ? `npm install -g waypoint-ops@${version}${where ? `   # ${where}` : ""}`
    : `# install ${product} ${version}${where ? ` ${where}` : ""}, the way it was installed before`;
}

export function snapshotFile(target: string): string {
  return `pre-upgrade-${target}.snap`;
}

export function snapshotStep(target: string, serverVersion: string, issues: readonly KnownIssue[]): PlanStep {
  if (issues.length === 0) {
    return {
      action: "snapshot",
      to: target,
      components: [SERVER_ID],
      optional: false,
      reason: `Take a snapshot before changing anything: restoring it is the way back (\`waypoint server restore ${snapshotFile(target)}\`).`,
      commands: [`waypoint server snapshot ${snapshotFile(target)}`],
      warnings: [],
    };
  }
  return {
    action: "snapshot",
    to: target,
    components: [SERVER_ID],
    optional: false,
    reason:
      `Back up before changing anything. Snapshots have known issues on server ${serverVersion}, so copy the ` +
      "database file with the server stopped instead (DATA_DIR is the directory of the server's -db file).",
    commands: [
      "# stop the server (e.g. systemctl stop waypoint-server); a stopped server has checkpointed its database",
      "cp -p DATA_DIR/data.db DATA_DIR/data.db.pre-upgrade",
      "# start the server again",
    ],
    warnings: issues.map((i) => i.text),
  };
}

export function serverStep(product: string, to: string, reason: string): PlanStep {
  return {
    action: "upgrade-server",
    to,
    components: [SERVER_ID],
    optional: false,
    reason,
    commands: [
      installCommand(product, to),
      "# restart the server with the same flags, e.g.: waypoint server run -db=DATA_DIR/data.db",
    ],
    warnings: [],
  };
}

export function stopRunnersStep(target: string, ids: readonly string[], reason: string): PlanStep {
  return {
    action: "stop-runners",
    to: target,
    components: ids,
    optional: false,
    reason,
    commands: ["# stop every listed runner agent, e.g.: systemctl stop waypoint-runner"],
    warnings: [],
  };
}

export function moveStep(
  product: string,
  kind: ComponentKind,
  to: string,
  ids: readonly string[],
  opts: { optional: boolean; reason: string; apps?: readonly string[]; warnings?: readonly string[] },
): PlanStep {
  const commands =
    kind === "client"
      ? [installCommand(product, to, "on every machine that runs the listed CLIs or consoles")]
      : kind === "runner"
        ? [
            installCommand(product, to, "on every listed runner's machine"),
            "# restart each runner agent: waypoint runner agent",
          ]
        : [
            installCommand(product, to, "where the apps are built (the CLI carries the new entrypoint)"),
            ...(opts.apps ?? []).map((app) => `waypoint up -app=${app}`),
          ];
  return {
    action: moveAction(kind),
    to,
    components: ids,
    optional: opts.optional,
    reason: opts.reason,
    commands,
    warnings: opts.warnings ?? [],
  };
}

/** `catalogFile`: the catalog the plan was made with, when the commands must name it. */
export function verifyStep(target: string, catalogFile?: string): PlanStep {
  const catalog = catalogFile ? ` -catalog=${catalogFile}` : "";
  return {
    action: "verify",
    to: target,
    components: [SERVER_ID],
    optional: false,
    reason: "Check that every component is where the plan says and that nothing was refused.",
    commands: [
      `waypoint versions -target=${target}${catalog}`,
      `waypoint upgrade plan -to=${target}${catalog} -check`,
    ],
    warnings: [],
  };
}
