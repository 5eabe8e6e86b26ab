import { Box, Text, useApp, useInput, useStdout } from "ink";
import { useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { Catalog } from "../protocol/catalog.js";
import { isAppError } from "../protocol/errors.js";
import { type ConsoleClient, logTail } from "./console-client.js";
import { consoleReducer, INITIAL_STATE, type TaskStatus, type ViewFacts } from "./console-state.js";
import { bytes } from "./format.js";
import { Header } from "./header.js";
import { HelpOverlay } from "./help-overlay.js";
import { type KeyPress, splitKeys } from "./keymap.js";
import { OverviewScreen } from "./overview-screen.js";
import { type MadePlan, makePlan, planProgress, targetReleases } from "./plan-model.js";
import { PlanScreen } from "./plan-screen.js";
import { RuntimeScreen } from "./runtime-screen.js";
import type { SnapshotDesk } from "./snapshot-desk.js";
import { describeFile, SnapshotsScreen, type Verified } from "./snapshots-screen.js";
import { runTask } from "./task-runner.js";
import { usePoll } from "./use-poll.js";
import { groupVersions } from "./versions-model.js";
import { VersionsScreen } from "./versions-screen.js";

export interface AppProps {
  readonly client: ConsoleClient;
  /** Snapshot files and plan exports: where they go and how they are made. */
  readonly desk: SnapshotDesk;
  /** Shown under the address, e.g. that the server is embedded. */
  readonly note?: string;
  /** The release catalog plans are made from, and the file it was read from. */
  readonly catalog: Catalog;
  readonly catalogPath: string;
  /** How often data is fetched again. */
  readonly pollMs?: number;
  /** The time (Date.now by default; tests fix it so ages are exact). */
  readonly clock?: () => number;
}

/** The console's root: polls the server, keeps input in one reducer, runs tasks, and picks the screen. */
export function App({ client, desk, note, catalog, catalogPath, pollMs = 2000, clock = Date.now }: AppProps) {
  const [state, dispatch] = useReducer(consoleReducer, INITIAL_STATE);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [now, setNow] = useState(clock());
  useEffect(() => {
    const t = setInterval(() => setNow(clock()), 1000);
    return () => clearInterval(t);
  }, [clock]);
  // A resized terminal draws again at once, with the new height and width.
  const [, resized] = useReducer((n: number) => n + 1, 0);
  useEffect(() => {
    stdout.on("resize", resized);
    return () => {
      stdout.off("resize", resized);
    };
  }, [stdout]);
  // Bumped when a task changed what the server or the directory holds: those panels fetch again at once.
  const [changed, setChanged] = useState(0);
  const refresh = state.refresh + changed;
  const server = usePoll(() => client.versionInfo(), pollMs, refresh, "", clock);
  const inventory = usePoll(() => client.inventory(), pollMs, refresh, "", clock);
  const status = usePoll(() => client.serverStatus(), pollMs, refresh, "", clock);
  const staged = usePoll(() => client.stagedRestore(), pollMs * 5, refresh, "", clock);
  const onSnapshots = state.screen === "snapshots";
  const files = usePoll(
    () => (onSnapshots ? desk.list() : Promise.resolve([])),
    pollMs * 2,
    refresh,
    onSnapshots ? "snapshots" : "",
    clock,
  );
  const onRuntime = state.screen === "runtime";
  const instances = usePoll(
    () => (onRuntime ? client.listInstances() : Promise.resolve([])),
    pollMs,
    refresh,
    onRuntime ? "runtime" : "",
    clock,
  );
  const jobs = usePoll(
    () => (onRuntime ? client.listJobs() : Promise.resolve([])),
    pollMs,
    refresh,
    onRuntime ? "runtime" : "",
    clock,
  );
  const deployments = usePoll(
    () => (onRuntime ? client.listDeployments() : Promise.resolve([])),
    pollMs,
    refresh,
    onRuntime ? "runtime" : "",
    clock,
  );
  const logsOf = onRuntime ? state.runtime.logsOf : undefined;
  const logs = usePoll(
    () => (logsOf ? logTail(client, logsOf, 8) : Promise.resolve([])),
    pollMs,
    refresh,
    logsOf ?? "",
    clock,
  );
  const groups = useMemo(
    () => (inventory.data ? groupVersions(inventory.data, state.versions.filter) : []),
    [inventory.data, state.versions.filter],
  );

  // The plan: made from the inventory when the target is picked (or p), then held, so each step's
  // progress can be followed in the live inventory without the steps changing under the operator.
  const serverVersion = inventory.data?.server.version;
  const targets = useMemo(
    () => (serverVersion ? targetReleases(catalog, serverVersion) : []),
    [catalog, serverVersion],
  );
  const target = state.plan.target ?? targets[targets.length - 1];
  const [madeLast, setMade] = useState<MadePlan>();
  // Only the plan for the target on screen: for the frame between a pick and the new plan, none.
  const made = madeLast?.target === target ? madeLast : undefined;
  const haveInventory = inventory.data !== undefined;
  const inventoryRef = useRef(inventory.data);
  inventoryRef.current = inventory.data;
  // The last snapshot when a plan is made; when the status is not read yet, the first one read.
  const snapshotRef = useRef<string | null | undefined>(undefined);
  snapshotRef.current = status.data ? (status.data.lastSnapshot?.id ?? null) : undefined;
  // biome-ignore lint/correctness/useExhaustiveDependencies: made again only when asked (target, p) or first possible
  useEffect(() => {
    const inv = inventoryRef.current;
    if (!inv) return;
    setMade(makePlan(inv, catalog, target, catalogPath, clock(), snapshotRef.current));
  }, [target, state.plan.replan, haveInventory, catalog, catalogPath]);
  const snapshotNow = status.data ? (status.data.lastSnapshot?.id ?? null) : null;
  useEffect(() => {
    if (madeLast && madeLast.snapshotBefore === undefined && status.data)
      setMade({ ...madeLast, snapshotBefore: status.data.lastSnapshot?.id ?? null });
  }, [madeLast, status.data]);
  const progress = useMemo(
    () =>
      made?.plan && inventory.data
        ? planProgress(made.plan, {
            inventory: inventory.data,
            planned: made.inventory,
            snapshotBefore: made.snapshotBefore,
            snapshotNow,
          })
        : [],
    [made, inventory.data, snapshotNow],
  );

  // Tasks: each new request runs once; its progress and outcome come back as events.
  const [verified, setVerified] = useState<ReadonlyMap<string, Verified>>(new Map());
  const ran = useRef(0);
  const planRef = useRef(made?.plan);
  planRef.current = made?.plan;
  useEffect(() => {
    const r = state.request;
    if (!r || r.id === ran.current) return;
    ran.current = r.id;
    let lastProgress = 0;
    runTask(
      r,
      {
        client,
        desk,
        plan: planRef.current,
        onVerified: (file, ok, message) =>
          setVerified((m) => new Map(m).set(file, { ok, at: clock(), message })),
      },
      (p) => {
        const t = Date.now();
        if (t - lastProgress < 100 && p.done < p.total) return;
        lastProgress = t;
        dispatch({ type: "task-progress", id: r.id, progress: p });
      },
    ).then(
      (message) => {
        dispatch({ type: "task-done", id: r.id, ok: true, message });
        setChanged((n) => n + 1);
      },
      (err: unknown) => {
        const e = err as Error;
        const hint = isAppError(e) && e.hint ? ` ${e.hint}` : "";
        dispatch({ type: "task-done", id: r.id, ok: false, message: `${e.message}${hint}` });
        setChanged((n) => n + 1);
      },
    );
  }, [state.request, client, desk, clock]);
  useEffect(() => () => desk.abortAll(), [desk]);

  // What the keys act on, as rendered last: a ref written during render, so a key that arrives before
  // Ink re-registers the input handler still sees the rows on screen, never an older list.
  const view = useRef<ViewFacts>({ versionRows: [], instances: [] });
  const st = status.data;
  view.current = {
    versionRows: groups.map((g) => g.key),
    instances: (instances.data ?? []).map((i) => i.id),
    targets,
    ...(target === undefined ? {} : { target }),
    ...(made?.plan ? { planSteps: made.plan.steps.length } : {}),
    files: (files.data ?? []).map((f) => ({ name: f.name, about: describeFile(f) })),
    serverName: client.address,
    ...(st
      ? {
          serverAbout: `state index ${st.stateIndex}, ${bytes(st.databaseBytes)}, server ${server.data?.version ?? "?"}`,
        }
      : {}),
    ...(staged.data?.staged
      ? { stagedAbout: `${staged.data.meta.id} (state index ${staged.data.meta.index})` }
      : {}),
  };
  // Keys that arrive together wait in a queue and are handed to the reducer one per render, each with the
  // rows that render drew: a pasted "/web⏎jj" moves over the filtered rows, not the ones on screen before.
  const keys = useRef<KeyPress[]>([]);
  const [keyTick, kick] = useReducer((n: number) => n + 1, 0);
  useInput((input, key) => {
    const pressed = splitKeys(input, key);
    // The common case, one key with none waiting, goes straight in: a render of its own just to start
    // the queue would cost a frame, as Ink draws at most one frame per ~33 ms.
    if (keys.current.length === 0) dispatch({ type: "key", key: pressed.shift()!, view: view.current });
    keys.current.push(...pressed);
    if (keys.current.length > 0) kick();
  });
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs after each render that a key asked for
  useEffect(() => {
    const k = keys.current.shift();
    if (!k) return;
    dispatch({ type: "key", key: k, view: view.current });
    if (keys.current.length > 0) kick();
  }, [keyTick]);
  useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);
  const rows = stdout.rows > 0 ? stdout.rows : 24;
  // The header's lines (title, note, error, tabs) and the status line: what the screen may not use.
  const columns = stdout.columns > 0 ? stdout.columns : 80;
  // The note wraps: it says where the data is and what happens to it, which is not to be cut.
  const noteRows = note ? Math.ceil(note.length / columns) : 0;
  const height = rows - 2 - noteRows - (server.error ? 1 : 0) - 2;
  return (
    <Box flexDirection="column">
      <Header
        address={client.address}
        {...(note ? { note } : {})}
        server={server}
        screen={state.screen}
        now={now}
      />
      {state.confirm ? (
        <Box flexDirection="column" borderStyle="round" borderColor="yellow" paddingX={1}>
          {state.confirm.prompt.map((l) => (
            <Text key={l} wrap="wrap">
              {l}
            </Text>
          ))}
          <Text>
            Type <Text bold>{state.confirm.expect}</Text> and enter to go ahead, esc to leave it:{" "}
            <Text color="cyan">{state.confirm.typed}▌</Text>
          </Text>
          {state.confirm.mismatch ? (
            <Text color="red">That is not {state.confirm.expect}: nothing was done.</Text>
          ) : null}
        </Box>
      ) : state.help ? (
        <HelpOverlay screen={state.screen} />
      ) : state.screen === "runtime" ? (
        <RuntimeScreen
          inventory={inventory}
          instances={instances}
          jobs={jobs}
          deployments={deployments}
          logs={logs}
          state={state.runtime}
          now={now}
          height={height}
          width={columns}
        />
      ) : state.screen === "overview" ? (
        <OverviewScreen
          inventory={inventory}
          staged={staged}
          status={status}
          {...(made?.plan ? { plan: made.plan } : {})}
          now={now}
          staleMs={pollMs * 3}
        />
      ) : state.screen === "plan" ? (
        <PlanScreen
          {...(made ? { made } : {})}
          progress={progress}
          targets={targets}
          {...(target === undefined ? {} : { target })}
          catalogPath={catalogPath}
          state={state.plan}
          now={now}
          height={height}
          width={columns}
        />
      ) : state.screen === "snapshots" ? (
        <SnapshotsScreen
          dir={desk.dir}
          files={files}
          staged={staged}
          status={status}
          verified={verified}
          state={state.snapshots}
          now={now}
          height={height}
          width={columns}
        />
      ) : (
        <VersionsScreen
          inventory={inventory}
          groups={groups}
          state={state.versions}
          {...(made?.plan ? { plan: made.plan } : {})}
          {...(target === undefined ? {} : { target })}
          now={now}
          height={height}
        />
      )}
      {inventory.error && !server.error ? (
        <Text color="red" wrap="truncate-end">
          inventory: {inventory.error.message}
        </Text>
      ) : null}
      {state.task ? <TaskLine task={state.task} now={now} /> : null}
    </Box>
  );
}

const TASK_TITLE: Record<TaskStatus["kind"], string> = {
  take: "taking a snapshot",
  verify: "verifying",
  stage: "staging a restore",
  live: "restoring live",
  "cancel-staged": "cancelling the staged restore",
  "export-markdown": "exporting the plan",
  "export-json": "exporting the plan",
};

/** The running task with a progress bar, or the last one's outcome. */
function TaskLine({ task }: { task: TaskStatus; now: number }) {
  if (task.state === "running") {
    const p = task.progress;
    const width = 24;
    const share = p && p.total > 0 ? Math.min(1, p.done / p.total) : 0;
    const filled = Math.round(share * width);
    return (
      <Text wrap="truncate-end" color="cyan">
        {TASK_TITLE[task.kind]}
        {task.file ? ` ${task.file}` : ""}
        {p ? `: ${p.phase} ` : "…"}
        {p && p.total > 0
          ? `${"█".repeat(filled)}${"░".repeat(width - filled)} ${Math.floor(share * 100)}%`
          : ""}
      </Text>
    );
  }
  return (
    <Text wrap="truncate-end" color={task.state === "done" ? "green" : "red"}>
      {task.state === "done" ? "✓ " : `✖ ${TASK_TITLE[task.kind]} failed: `}
      {task.message}
    </Text>
  );
}
