import { actionOf, type KeyPress, SCREENS, type ScreenName } from "./keymap.js";
import type { DeskProgress } from "./snapshot-desk.js";

/** Everything the console's input changes, in one reducer so fast key sequences act on current state. */
export interface ConsoleState {
  readonly screen: ScreenName;
  readonly help: boolean;
  /** Bumped by `r`: pollers fetch again at once. */
  readonly refresh: number;
  readonly quit: boolean;
  readonly versions: VersionsState;
  readonly plan: PlanState;
  readonly snapshots: SnapshotsState;
  readonly runtime: RuntimeState;
  /** A destructive action waiting for its confirmation: keys are its text until enter or esc. */
  readonly confirm?: Confirm;
  /** The latest task asked for; the app runs each new id once. */
  readonly request?: TaskRequest;
  /** The task running or last run, with its outcome. */
  readonly task?: TaskStatus;
  readonly nextTask: number;
}

export interface PlanState {
  /** The release picked; undefined for the catalog's newest. */
  readonly target?: string;
  /** Index into the plan's steps. */
  readonly selected: number;
  /** Bumped by `p`: the plan is made again from the inventory as it is now. */
  readonly replan: number;
}

export interface SnapshotsState {
  /** Index into the files listed, where `file` is no longer listed. */
  readonly selected: number;
  /** The file selected: it stays selected when files are added or removed around it. */
  readonly file?: string;
  /** The file whose meta is shown in full (enter). */
  readonly inspecting?: string;
}

export const TASK_KINDS = [
  "take",
  "verify",
  "stage",
  "live",
  "cancel-staged",
  "export-markdown",
  "export-json",
] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export interface TaskRequest {
  readonly id: number;
  readonly kind: TaskKind;
  /** The snapshot file it acts on. */
  readonly file?: string;
}

export interface TaskStatus extends TaskRequest {
  readonly state: "running" | "done" | "failed";
  readonly progress?: DeskProgress;
  /** What it did, or why it failed. */
  readonly message?: string;
}

export interface Confirm {
  readonly task: Omit<TaskRequest, "id">;
  /** What the action replaces, line by line. */
  readonly prompt: readonly string[];
  /** The text to type ("y", or the server's address for a live restore). */
  readonly expect: string;
  readonly typed: string;
  /** Enter was pressed with other text. */
  readonly mismatch: boolean;
}

export interface RuntimeState {
  /** Index into the instances. */
  readonly selected: number;
  /** The instance whose log tail is shown. */
  readonly logsOf?: string;
}

export interface VersionsState {
  /** Index into the visible rows. */
  readonly selected: number;
  /** Keys ("kind version") of the expanded groups. */
  readonly expanded: readonly string[];
  readonly filter: string;
  /** Typing a filter: keys are text until enter or esc. */
  readonly editing: boolean;
}

export const INITIAL_STATE: ConsoleState = {
  screen: "overview",
  help: false,
  refresh: 0,
  quit: false,
  versions: { selected: 0, expanded: [], filter: "", editing: false },
  plan: { selected: 0, replan: 0 },
  snapshots: { selected: 0 },
  runtime: { selected: 0 },
  nextTask: 1,
};

/** What the reducer needs to know of the screens on view: their selectable rows and what actions name. */
export interface ViewFacts {
  readonly versionRows: readonly string[];
  /** The Runtime screen's instance ids, in the order shown. */
  readonly instances: readonly string[];
  /** Releases the target can be, oldest first, and the one the plan is for. */
  readonly targets?: readonly string[];
  readonly target?: string;
  readonly planSteps?: number;
  /** The Snapshots screen's files, in the order shown, with a line saying what each holds. */
  readonly files?: readonly { readonly name: string; readonly about: string }[];
  /** What a restore replaces: "state index 120, 2.0 MiB, server 0.4.0". */
  readonly serverAbout?: string;
  /** What a live restore asks to type: the server's address. */
  readonly serverName?: string;
  readonly stagedAbout?: string;
}

export type ConsoleEvent =
  | { readonly type: "key"; readonly key: KeyPress; readonly view: ViewFacts }
  | { readonly type: "task-progress"; readonly id: number; readonly progress: DeskProgress }
  | { readonly type: "task-done"; readonly id: number; readonly ok: boolean; readonly message: string };

export function consoleReducer(state: ConsoleState, event: ConsoleEvent): ConsoleState {
  if (event.type !== "key") return taskEvent(state, event);
  const { key, view } = event;
  const v = state.versions;
  if (state.confirm) return confirmKey(state, state.confirm, key);
  if (state.screen === "versions" && v.editing) return { ...state, versions: editFilter(v, key) };
  const action = actionOf(key);
  if (action === undefined) return state;
  if (typeof action === "object") {
    const target = SCREENS[action.screen];
    return target ? { ...state, screen: target.name, help: false } : state;
  }
  const at = SCREENS.findIndex((s) => s.name === state.screen);
  switch (action) {
    case "help":
      return { ...state, help: !state.help };
    case "quit":
      return { ...state, quit: true };
    case "next-screen":
      return { ...state, help: false, screen: SCREENS[(at + 1) % SCREENS.length]!.name };
    case "prev-screen":
      return { ...state, help: false, screen: SCREENS[(at - 1 + SCREENS.length) % SCREENS.length]!.name };
    case "refresh":
      return { ...state, refresh: state.refresh + 1 };
    case "back":
      if (state.help) return { ...state, help: false };
      if (state.screen === "versions" && v.filter !== "")
        return { ...state, versions: { ...v, filter: "", selected: 0 } };
      if (state.screen === "runtime" && state.runtime.logsOf !== undefined)
        return { ...state, runtime: { selected: state.runtime.selected } };
      if (state.screen === "snapshots" && state.snapshots.inspecting !== undefined)
        return { ...state, snapshots: { ...state.snapshots, inspecting: undefined } };
      return state;
    default:
      if (state.help) return state;
      if (
        (action === "left" || action === "right") &&
        (state.screen === "plan" || state.screen === "versions")
      )
        return pickTarget(state, action, view);
      if (state.screen === "versions")
        return { ...state, versions: versionsKey(v, action, view.versionRows) };
      if (state.screen === "plan") return planKey(state, action, view);
      if (state.screen === "snapshots") return snapshotsKey(state, action, view);
      if (state.screen === "runtime")
        return { ...state, runtime: runtimeKey(state.runtime, action, view.instances) };
      return state;
  }
}

/** The selection over `count` rows: clamped (the rows may have shrunk since), then moved by down / up. */
function moved(selected: number, action: string, count: number): number {
  const last = Math.max(0, count - 1);
  const at = Math.min(selected, last);
  if (action === "down") return Math.min(last, at + 1);
  if (action === "up") return Math.max(0, at - 1);
  return at;
}

function versionsKey(v: VersionsState, action: string, rows: readonly string[]): VersionsState {
  const selected = moved(v.selected, action, rows.length);
  switch (action) {
    case "down":
    case "up":
      return { ...v, selected };
    case "filter":
      return { ...v, editing: true };
    case "open": {
      const row = rows[selected];
      if (row === undefined) return v;
      const expanded = v.expanded.includes(row) ? v.expanded.filter((r) => r !== row) : [...v.expanded, row];
      return { ...v, selected, expanded };
    }
    default:
      return v;
  }
}

function editFilter(v: VersionsState, key: KeyPress): VersionsState {
  if (key.return) return { ...v, editing: false, selected: 0 };
  if (key.escape) return { ...v, editing: false, filter: "", selected: 0 };
  if (key.backspace || key.delete) return { ...v, filter: v.filter.slice(0, -1), selected: 0 };
  if (key.ctrl || key.tab || key.upArrow || key.downArrow) return v;
  return { ...v, filter: v.filter + key.input, selected: 0 };
}

function runtimeKey(r: RuntimeState, action: string, instances: readonly string[]): RuntimeState {
  const selected = moved(r.selected, action, instances.length);
  switch (action) {
    case "down":
    case "up":
      return { ...r, selected };
    case "open": {
      const id = instances[selected];
      if (id === undefined) return r;
      return r.logsOf === id ? { selected } : { selected, logsOf: id };
    }
    default:
      return r;
  }
}

function pickTarget(state: ConsoleState, action: "left" | "right", view: ViewFacts): ConsoleState {
  const targets = view.targets ?? [];
  if (targets.length === 0) return state;
  const at = Math.max(0, targets.indexOf(view.target ?? targets[targets.length - 1]!));
  const next = targets[Math.max(0, Math.min(targets.length - 1, at + (action === "right" ? 1 : -1)))]!;
  if (next === view.target) return state;
  return { ...state, plan: { ...state.plan, target: next, selected: 0 } };
}

function planKey(state: ConsoleState, action: string, view: ViewFacts): ConsoleState {
  const p = state.plan;
  switch (action) {
    case "down":
    case "up":
      return { ...state, plan: { ...p, selected: moved(p.selected, action, view.planSteps ?? 0) } };
    case "replan":
      return { ...state, plan: { ...p, replan: p.replan + 1 } };
    case "take":
      return requestTask(state, { kind: "take" });
    case "export-markdown":
    case "export-json":
      return view.planSteps === undefined ? state : requestTask(state, { kind: action });
    default:
      return state;
  }
}

/** The row of the selected file: found by name, else the index kept (clamped to the list). */
export function snapshotIndex(sn: SnapshotsState, names: readonly string[]): number {
  const byName = sn.file === undefined ? -1 : names.indexOf(sn.file);
  return byName >= 0 ? byName : Math.min(sn.selected, Math.max(0, names.length - 1));
}

function snapshotsKey(state: ConsoleState, action: string, view: ViewFacts): ConsoleState {
  const sn = state.snapshots;
  const files = view.files ?? [];
  const selected = moved(
    snapshotIndex(
      sn,
      files.map((f) => f.name),
    ),
    action,
    files.length,
  );
  const file = files[selected];
  const at = { selected, ...(file ? { file: file.name } : {}) };
  switch (action) {
    case "down":
    case "up":
      return { ...state, snapshots: { ...sn, ...at } };
    case "open":
      if (!file) return state;
      return {
        ...state,
        snapshots: sn.inspecting === file.name ? at : { ...at, inspecting: file.name },
      };
    case "take":
      return requestTask(state, { kind: "take" });
    case "verify":
      return file ? requestTask(state, { kind: "verify", file: file.name }) : state;
    case "stage":
    case "live": {
      if (!file) return state;
      const live = action === "live";
      const name = view.serverName ?? "";
      return ask(state, {
        task: { kind: action, file: file.name },
        prompt: [
          live
            ? `Live restore of ${file.name}: the server swaps its data for the snapshot's while it serves.`
            : `Stage ${file.name}: the server replaces its data with the snapshot's at its next start.`,
          `  replaced: everything the server holds now (${view.serverAbout ?? "its current data"}), every token included`,
          `  with:     ${file.about}`,
          live
            ? "  The previous database is kept beside the restored one. Components reconnect and are checked again."
            : "  Until then nothing changes; the stage can be cancelled (x).",
          ...(view.stagedAbout === undefined
            ? []
            : [
                live
                  ? `  A restore is staged (${view.stagedAbout}): the next start still applies it over this one.`
                  : `  It replaces the restore staged now (${view.stagedAbout}).`,
              ]),
        ],
        expect: live ? name : "y",
      });
    }
    case "cancel-staged":
      if (view.stagedAbout === undefined) return state;
      return ask(state, {
        task: { kind: "cancel-staged" },
        prompt: [
          `Cancel the staged restore of ${view.stagedAbout}? The server then starts on its current data.`,
        ],
        expect: "y",
      });
    default:
      return state;
  }
}

function ask(state: ConsoleState, c: Omit<Confirm, "typed" | "mismatch">): ConsoleState {
  if (state.task?.state === "running") return state; // one thing at a time; the status line says what runs
  return { ...state, confirm: { ...c, typed: "", mismatch: false } };
}

function confirmKey(state: ConsoleState, c: Confirm, key: KeyPress): ConsoleState {
  if (key.escape || (key.ctrl && key.input === "c")) return { ...state, confirm: undefined };
  if (key.return) {
    if (c.typed !== c.expect) return { ...state, confirm: { ...c, mismatch: true } };
    return requestTask({ ...state, confirm: undefined }, c.task);
  }
  if (key.backspace || key.delete)
    return { ...state, confirm: { ...c, typed: c.typed.slice(0, -1), mismatch: false } };
  if (key.ctrl || key.tab || key.upArrow || key.downArrow) return state;
  return { ...state, confirm: { ...c, typed: c.typed + key.input, mismatch: false } };
}

function requestTask(state: ConsoleState, task: Omit<TaskRequest, "id">): ConsoleState {
  if (state.task?.state === "running") return state;
  const request: TaskRequest = { ...task, id: state.nextTask };
  return { ...state, request, task: { ...request, state: "running" }, nextTask: state.nextTask + 1 };
}

function taskEvent(state: ConsoleState, event: Exclude<ConsoleEvent, { type: "key" }>): ConsoleState {
  const t = state.task;
  if (!t || t.id !== event.id) return state;
  if (event.type === "task-progress") return { ...state, task: { ...t, progress: event.progress } };
  const { progress: _done, ...rest } = t;
  return { ...state, task: { ...rest, state: event.ok ? "done" : "failed", message: event.message } };
}
