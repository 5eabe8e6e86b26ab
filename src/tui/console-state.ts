import { actionOf, type KeyPress, SCREENS, type ScreenName } from "./keymap.js";

/** Everything the console's input changes, in one reducer so fast key sequences act on current state. */
export interface ConsoleState {
  readonly screen: ScreenName;
  readonly help: boolean;
  /** Bumped by `r`: pollers fetch again at once. */
  readonly refresh: number;
  readonly quit: boolean;
  readonly versions: VersionsState;
  readonly runtime: RuntimeState;
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
  runtime: { selected: 0 },
};

/** What the reducer needs to know of the screen on view: its selectable rows' keys. */
export interface ViewFacts {
  readonly versionRows: readonly string[];
  /** The Runtime screen's instance ids, in the order shown. */
  readonly instances: readonly string[];
}

export type ConsoleEvent = { readonly type: "key"; readonly key: KeyPress; readonly view: ViewFacts };

export function consoleReducer(state: ConsoleState, event: ConsoleEvent): ConsoleState {
  const { key, view } = event;
  const v = state.versions;
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
      return state;
    default:
      if (state.help) return state;
      if (state.screen === "versions")
        return { ...state, versions: versionsKey(v, action, view.versionRows) };
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
