import { Box, Text } from "ink";
import type { StagedRestore } from "../client/connection.js";
import { COMPONENT_KINDS, type InventoryJson } from "../protocol/inventory.js";
import { age } from "./format.js";
import type { Polled } from "./use-poll.js";

export interface OverviewScreenProps {
  readonly inventory: Polled<InventoryJson>;
  readonly staged: Polled<StagedRestore>;
  readonly now: number;
  /** Data older than this is marked stale. */
  readonly staleMs: number;
}

/** Counts of what talks to the server, the staged restore, and what needs attention. */
export function OverviewScreen({ inventory, staged, now, staleMs }: OverviewScreenProps) {
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
  const s = staged.data;
  return (
    <Box flexDirection="column">
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
