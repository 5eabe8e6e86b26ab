import { Box, Text } from "ink";
import type { DeploymentInfo, InstanceInfo, JobInfo, LogLineInfo } from "../client/runtime.js";
import type { InventoryJson } from "../protocol/inventory.js";
import type { RuntimeState } from "./console-state.js";
import { age, cell } from "./format.js";
import type { Polled } from "./use-poll.js";

export interface RuntimeScreenProps {
  readonly inventory: Polled<InventoryJson>;
  readonly instances: Polled<InstanceInfo[]>;
  readonly jobs: Polled<JobInfo[]>;
  readonly deployments: Polled<DeploymentInfo[]>;
  readonly logs: Polled<LogLineInfo[]>;
  readonly state: RuntimeState;
  readonly now: number;
  /** Rows the screen may use: the log tail gets what the lists leave. */
  readonly height: number;
  /** Columns of the terminal: a deployment's URL gets what its other columns leave. */
  readonly width?: number;
}

/** " · 3s old", the age of a panel's data; nothing before the first answer. */
function since(at: number | undefined, now: number): string {
  return at === undefined ? "" : ` · ${age(at, now)} old`;
}

/** Instance rows shown at once. */
const ROWS = 4;

const JOB_COLOR: Record<string, string | undefined> = {
  success: "green",
  error: "red",
  cancelled: "yellow",
  running: "cyan",
};

/** Columns of a deployment row before its URL: "  " id, app, connected count, each with a space after. */
const DEPLOYMENT_COLUMNS = 2 + 15 + 11 + 13;

/** Newest first: by creation, then by sequence. */
function latestFirst(a: DeploymentInfo, b: DeploymentInfo): number {
  return b.createdAt.localeCompare(a.createdAt) || b.sequence - a.sequence || a.id.localeCompare(b.id);
}

/**
 * Runners, the latest jobs, the latest deployments with their URLs, the instances, and the log tail of
 * the instance picked with enter.
 */
export function RuntimeScreen({
  inventory,
  instances,
  jobs,
  deployments,
  logs,
  state,
  now,
  height,
  width = 80,
}: RuntimeScreenProps) {
  const runners = (inventory.data?.components ?? []).filter((c) => c.kind === "runner");
  const busy = new Map(
    (jobs.data ?? [])
      .filter((j) => j.state === "running" || j.state === "assigned")
      .map((j) => [j.runner, j]),
  );
  // With a log tail open the job and deployment lists shrink to make room for it.
  const recent = [...(jobs.data ?? [])].reverse().slice(0, state.logsOf !== undefined ? 2 : 5);
  const latest = [...(deployments.data ?? [])].sort(latestFirst).slice(0, state.logsOf !== undefined ? 2 : 3);
  const list = instances.data ?? [];
  const selected = Math.min(state.selected, Math.max(0, list.length - 1));
  // Lines of another instance (still shown while the new tail loads) are not shown as this one's.
  const used =
    3 +
    Math.max(1, Math.min(3, runners.length)) +
    Math.max(1, recent.length) +
    1 +
    Math.max(1, latest.length) +
    Math.max(1, Math.min(ROWS, list.length)) +
    (list.length > ROWS ? 1 : 0) +
    1 +
    (logs.error ? 1 : 0);
  const tail = (logs.data ?? [])
    .filter((l) => l.instance === state.logsOf)
    .slice(-Math.max(2, height - used));
  // A window of the instances that keeps the selected one on screen.
  const first = Math.max(0, Math.min(selected - 1, list.length - ROWS));
  return (
    <Box flexDirection="column">
      <Text bold>
        Runners{" "}
        <Text dimColor>
          ({runners.filter((r) => r.connected).length} connected){since(inventory.at, now)}
        </Text>
      </Text>
      {runners.length === 0 ? (
        <Text dimColor>{"  "}none; jobs wait queued (start one: waypoint runner agent)</Text>
      ) : (
        runners.slice(0, 3).map((r) => {
          const job = busy.get(r.id);
          return (
            <Text key={r.id} wrap="truncate-end">
              {"  "}
              {cell(r.id, 24)} {cell(r.version, 10)}{" "}
              <Text color={r.connected ? "green" : undefined} dimColor={!r.connected}>
                {cell(r.connected ? "connected" : `seen ${age(Date.parse(r.lastSeen), now)} ago`, 14)}
              </Text>{" "}
              {job ? `${job.id} ${job.operation} of ${job.app}` : r.connected ? "idle" : ""}
            </Text>
          );
        })
      )}
      <Text bold>
        Jobs{" "}
        <Text dimColor>
          (latest {recent.length}){since(jobs.at, now)}
        </Text>
      </Text>
      {recent.length === 0 ? (
        <Text dimColor>{"  "}none yet (waypoint up -app=NAME)</Text>
      ) : (
        recent.map((j) => (
          <Text key={j.id} wrap="truncate-end">
            {"  "}
            {cell(j.id, 9)}
            {cell(j.app, 12)}
            {cell(j.operation, 8)}
            <Text color={JOB_COLOR[j.state]}>{cell(j.state, 10)}</Text>
            {cell(j.runner ?? "-", 20)} {age(Date.parse(j.queuedAt), now)}
          </Text>
        ))
      )}
      <Text bold>
        Deployments{" "}
        <Text dimColor>
          (latest {latest.length}){since(deployments.at, now)}
        </Text>
      </Text>
      {latest.length === 0 ? (
        <Text dimColor>{"  "}none yet (waypoint deployment create -app=NAME)</Text>
      ) : (
        latest.map((d) => (
          <Text key={d.id} wrap="truncate-end">
            {"  "}
            {cell(d.id, 14)} {cell(d.app, 10)}{" "}
            <Text
              color={d.connectedInstances > 0 ? "green" : undefined}
              dimColor={d.connectedInstances === 0}
            >
              {cell(`${d.connectedInstances} connected`, 12)}
            </Text>{" "}
            {d.url ? cell(d.url, width - DEPLOYMENT_COLUMNS).trimEnd() : <Text dimColor>no URL</Text>}
          </Text>
        ))
      )}
      <Text bold>
        Instances{" "}
        <Text dimColor>
          ({list.filter((i) => i.connected).length} connected · enter: log tail){since(instances.at, now)}
        </Text>
      </Text>
      {list.length === 0 ? (
        <Text dimColor>{"  "}none (a deploy that runs waypoint-entrypoint registers one)</Text>
      ) : (
        list.slice(first, first + ROWS).map((i, k) => {
          const n = first + k;
          return (
            <Text key={i.id} inverse={n === selected} wrap="truncate-end">
              {n === selected ? "›" : " "} {cell(i.id, 22)} {cell(i.app, 10)} {cell(i.deployment, 12)}{" "}
              {cell(i.version, 8)}
              <Text color={i.connected ? "green" : undefined} dimColor={!i.connected}>
                {i.connected ? "connected" : "gone"}
              </Text>
            </Text>
          );
        })
      )}
      {list.length > ROWS ? (
        <Text dimColor>
          {"  "}
          {first + 1}-{Math.min(list.length, first + ROWS)} of {list.length}
        </Text>
      ) : null}
      {state.logsOf !== undefined ? (
        <Box flexDirection="column">
          <Text bold>
            Log tail of {state.logsOf}
            {logs.at !== undefined ? <Text dimColor> · {age(logs.at, now)} old · esc closes</Text> : null}
          </Text>
          {logs.error ? (
            <Text color="red">
              {"  "}
              {logs.error.message}
            </Text>
          ) : null}
          {logs.at === undefined ? (
            <Text dimColor>{"  "}loading…</Text>
          ) : tail.length === 0 ? (
            <Text dimColor>{"  "}no output kept for it</Text>
          ) : (
            tail.map((l, n) => (
              <Text
                // Log lines have no identity of their own, and the tail is replaced whole at each refresh.
                // biome-ignore lint/suspicious/noArrayIndexKey: see above
                key={`${l.at}-${n}`}
                wrap="truncate-end"
                color={l.source === "stderr" ? "yellow" : undefined}
              >
                {"  "}
                {l.source === "waypoint" ? "[waypoint] " : ""}
                {l.line}
              </Text>
            ))
          )}
        </Box>
      ) : null}
    </Box>
  );
}
