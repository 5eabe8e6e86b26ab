import { Box, Text } from "ink";
import type { ServerStatusInfo, StagedRestore } from "../client/connection.js";
import type { Plan } from "../planner/types.js";
import { COMPONENT_KINDS, type InventoryJson } from "../protocol/inventory.js";
import { age, bytes } from "./format.js";
import type { Polled } from "./use-poll.js";

export interface OverviewScreenProps {
  readonly inventory: Polled<InventoryJson>;
  readonly staged: Polled<StagedRestore>;
  readonly status: Polled<ServerStatusInfo>;
  /** The plan made for the picked target: what must move is a warning here. */
  readonly plan?: Plan;
  readonly now: number;
  /** Data older than this is marked stale. */
  readonly staleMs: number;
}

/** Counts of what talks to the server, the staged restore, and what needs attention. */
export function OverviewScreen({ inventory, staged, status, plan, now, staleMs }: OverviewScreenProps) {
  const inv = inventory.data;
  if (!inv) return <Text dimColor>{inventory.error ? "No data yet." : "Loading the inventory…"}</Text>;
  const stale = inventory.at !== undefined && now - inventory.at > staleMs;
  const warnings: string[] = [];
  if (inv.rejected.length > 0) {
    const latest = [...inv.rejected].sort((a, b) => b.lastSeen.localeCompare(a.lastSeen))[0]!;
    warnings.push(
      `${inv.rejected.length} component${inv.rejected.length === 1 ? " was" : "s were"} refused; latest ${latest.kind} ${latest.id} ${latest.version}: ${latest.reason}`,
    );
  }
  if (plan?.kind === "impossible")
    warnings.push(`no safe upgrade plan to ${plan.target}: ${plan.blockers.length} blocker(s) (3 Plan)`);
  else if (plan?.kind === "incompatible") {
    const moving = plan.summary.filter((g) => g.status === "must-move" && g.kind !== "server");
    const count = moving.reduce((n, g) => n + g.count, 0);
    warnings.push(
      `${count} component${count === 1 ? "" : "s"} must move before the server can reach ${plan.target} (3 Plan)`,
    );
  }
  if (stale) warnings.push(`the data is stale: the inventory was last read ${age(inventory.at!, now)} ago`);
  const s = staged.data;
  const st = status.data;
  const last = st?.lastSnapshot;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>Server</Text>{" "}
        {st ? (
          <Text>
            up {age(Date.parse(st.startedAt), now)} · database {bytes(st.databaseBytes)} · state index{" "}
            {st.stateIndex} · last snapshot{" "}
            {last ? (
              <Text color={now - Date.parse(last.takenAt) > 86_400_000 ? "yellow" : undefined}>
                {age(Date.parse(last.takenAt), now)} ago
              </Text>
            ) : (
              <Text color="yellow">never</Text>
            )}
          </Text>
        ) : (
          <Text dimColor>{status.error ? `status unavailable: ${status.error.message}` : "…"}</Text>
        )}
      </Text>
      <Text bold>
        In use <Text dimColor>(connected, or seen within {inv.activeWindow})</Text>
        {inventory.at !== undefined ? (
          <Text dimColor={!stale} color={stale ? "yellow" : undefined}>
            {" "}
            · {age(inventory.at, now)} old{stale ? " (stale)" : ""}
          </Text>
        ) : null}
      </Text>
      {COMPONENT_KINDS.map((kind) => {
        const of = inv.components.filter((c) => c.kind === kind);
        const versions = new Set(of.map((c) => c.version));
        return (
          <Text key={kind}>
            {"  "}
            {kind.padEnd(11)}
            {String(of.length).padStart(6)}{" "}
            <Text dimColor>({of.filter((c) => c.connected).length} connected)</Text>
            {of.length > 0 ? ` on ${versions.size} version${versions.size === 1 ? "" : "s"}` : ""}
          </Text>
        );
      })}
      <Text> </Text>
      <Text bold>Staged restore</Text>
      <Text>
        {"  "}
        {s === undefined ? (
          <Text dimColor>unknown</Text>
        ) : s.staged ? (
          <Text color="yellow">
            {s.meta.id} (taken {s.meta.createdAt}): the server applies it at its next start
          </Text>
        ) : (
          <Text color="green">none</Text>
        )}
      </Text>
      <Text> </Text>
      <Text bold>Warnings</Text>
      {warnings.length === 0 ? (
        <Text color="green">{"  "}none</Text>
      ) : (
        warnings.map((w) => (
          <Text key={w} color="yellow" wrap="truncate-end">
            {"  "}! {w}
          </Text>
        ))
      )}
    </Box>
  );
}
