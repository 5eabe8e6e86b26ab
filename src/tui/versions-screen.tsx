import { Box, Text } from "ink";
import type { Plan } from "../planner/types.js";
import type { InventoryJson } from "../protocol/inventory.js";
import type { VersionsState } from "./console-state.js";
import { age, cell, range } from "./format.js";
import { STATUS_MARK, statusOf } from "./plan-model.js";
import type { Polled } from "./use-poll.js";
import { filterRejected, type VersionGroup } from "./versions-model.js";

export interface VersionsScreenProps {
  readonly inventory: Polled<InventoryJson>;
  readonly groups: readonly VersionGroup[];
  readonly state: VersionsState;
  /** The plan for the picked target: each group is marked fine, must move first or optional. */
  readonly plan?: Plan;
  readonly target?: string;
  readonly now: number;
  /** Rows the list may use (the terminal's height less the header). */
  readonly height: number;
}

/** The inventory grouped kind → version, expandable to the components; rejected components below. */
const MARK_COLOR: Record<string, string | undefined> = {
  fine: "green",
  "must-move": "yellow",
  blocked: "red",
};

export function VersionsScreen({ inventory, groups, state, plan, target, now, height }: VersionsScreenProps) {
  const inv = inventory.data;
  if (!inv) return <Text dimColor>{inventory.error ? "No data yet." : "Loading the inventory…"}</Text>;
  // Rows as plain entries first (a group, or one of an expanded group's components); only the window on
  // screen is turned into elements, so a key press costs the same with ten components or ten thousand.
  const entries: { group: number; component?: number }[] = [];
  const selectedGroup = Math.min(state.selected, groups.length - 1);
  let selectedLine = 0;
  groups.forEach((g, i) => {
    if (i === selectedGroup) selectedLine = entries.length;
    entries.push({ group: i });
    if (state.expanded.includes(g.key))
      for (let c = 0; c < g.components.length; c++) entries.push({ group: i, component: c });
  });
  const rejected = filterRejected(inv, state.filter);
  // Keep the selected row on screen: scroll the list by whole rows.
  const room = Math.max(3, height - (rejected.length > 0 ? Math.min(rejected.length, 3) + 3 : 2));
  const first = Math.max(0, Math.min(selectedLine - Math.floor(room / 2), entries.length - room));
  const shown = entries.slice(first, first + room).map(({ group, component }) => {
    const g = groups[group]!;
    if (component === undefined) {
      const selected = group === selectedGroup;
      const mark = statusOf(plan, g.kind, g.version);
      return {
        key: g.key,
        node: (
          <Text inverse={selected} wrap="truncate-end">
            {/* The marker keeps the selection visible without colour (NO_COLOR, monochrome terminals). */}
            {selected ? "›" : " "}
            {state.expanded.includes(g.key) ? "▾ " : "▸ "}
            {cell(g.kind, 11)}
            {cell(g.version, 12)}
            {cell(`api ${range(g.api)}`, 9)}
            {cell(g.entrypoint ? `ep ${range(g.entrypoint)}` : "", 8)}
            {String(g.components.length).padStart(6)}{" "}
            <Text dimColor>{cell(`(${g.connected} connected)`, 14)}</Text>
            {mark ? <Text color={MARK_COLOR[mark]}>{STATUS_MARK[mark]}</Text> : null}
          </Text>
        ),
      };
    }
    const c = g.components[component]!;
    const where = [c.app, c.deployment, c.hostname].filter(Boolean).join(" ");
    return {
      key: `${g.key}/${c.id}`,
      node: (
        <Text wrap="truncate-end">
          {"     "}
          {cell(c.id, 26)} {cell(where, 28)} {c.emulated ? <Text color="magenta">emulated </Text> : null}
          <Text color={c.connected ? "green" : undefined} dimColor={!c.connected}>
            {c.connected ? "connected" : `seen ${age(Date.parse(c.lastSeen), now)} ago`}
          </Text>
        </Text>
      ),
    };
  });
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>Versions in use</Text>
        {state.editing || state.filter ? (
          <Text color="cyan">
            {" "}
            filter: {state.filter}
            {state.editing ? "▌" : ""}
          </Text>
        ) : (
          <Text dimColor> / filter · enter expand</Text>
        )}
        <Text dimColor>
          {" "}
          · {groups.length} group{groups.length === 1 ? "" : "s"}
          {plan ? ` · marks for ${plan.target} (h/l)` : target ? ` · planning for ${target}…` : ""}
          {inventory.at !== undefined ? ` · ${age(inventory.at, now)} old` : ""}
        </Text>
      </Text>
      {groups.length === 0 ? (
        <Text dimColor>
          {state.filter ? `Nothing matches "${state.filter}".` : "No components recorded yet."}
        </Text>
      ) : (
        shown.map((l) => <Box key={l.key}>{l.node}</Box>)
      )}
      {entries.length > room ? (
        <Text dimColor>
          rows {first + 1}-{first + shown.length} of {entries.length}
        </Text>
      ) : null}
      {rejected.length > 0 ? (
        <Box flexDirection="column">
          <Text bold color="red">
            Refused ({rejected.length})
          </Text>
          {rejected.slice(0, 3).map((r) => (
            <Text key={`${r.kind}/${r.id}`} color="red" wrap="truncate-end">
              {"  "}
              {cell(`${r.kind} ${r.id} ${r.version}`, 36)} ×{r.count} {r.reason}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>
  );
}
