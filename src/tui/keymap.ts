/** The console's keys as data: input handling (console-state.ts) and the help overlay both read this table. */

export const SCREENS = [
  { name: "overview", title: "Overview" },
  { name: "versions", title: "Versions" },
  { name: "plan", title: "Plan" },
  { name: "snapshots", title: "Snapshots" },
  { name: "runtime", title: "Runtime" },
] as const;
export type ScreenName = (typeof SCREENS)[number]["name"];

export type KeyAction =
  | "help"
  | "quit"
  | "next-screen"
  | "prev-screen"
  | "refresh"
  | "down"
  | "up"
  | "open"
  | "back"
  | "filter"
  | "left"
  | "right"
  | "replan"
  | "take"
  | "verify"
  | "stage"
  | "live"
  | "cancel-staged"
  | "export-markdown"
  | "export-json";

export interface KeyBinding {
  /** How the help overlay writes the key. */
  readonly keys: string;
  readonly action: KeyAction;
  readonly description: string;
  /** Where it applies: everywhere, or on one screen. */
  readonly scope: "global" | ScreenName;
}

export const KEYMAP: readonly KeyBinding[] = [
  { keys: "?", action: "help", description: "show or hide this help", scope: "global" },
  { keys: "q", action: "quit", description: "quit", scope: "global" },
  { keys: "tab / shift-tab", action: "next-screen", description: "next / previous screen", scope: "global" },
  {
    keys: `1-${SCREENS.length}`,
    action: "next-screen",
    description: "go to a screen by number",
    scope: "global",
  },
  { keys: "r", action: "refresh", description: "refresh now", scope: "global" },
  { keys: "j / ↓", action: "down", description: "move down", scope: "versions" },
  { keys: "k / ↑", action: "up", description: "move up", scope: "versions" },
  { keys: "j / ↓", action: "down", description: "next instance", scope: "runtime" },
  { keys: "k / ↑", action: "up", description: "previous instance", scope: "runtime" },
  { keys: "enter", action: "open", description: "show or hide the instance's log tail", scope: "runtime" },
  {
    keys: "enter",
    action: "open",
    description: "expand or collapse a version's components",
    scope: "versions",
  },
  { keys: "/", action: "filter", description: "filter by kind, version, id, app or host", scope: "versions" },
  {
    keys: "h / l / ← / →",
    action: "right",
    description: "pick the target release (marks each version fine, must move first or optional)",
    scope: "versions",
  },
  { keys: "h / l / ← / →", action: "right", description: "pick the target release", scope: "plan" },
  {
    keys: "j / k / ↓ / ↑",
    action: "down",
    description: "select a step (its reason and commands below)",
    scope: "plan",
  },
  { keys: "p", action: "replan", description: "plan again from the inventory as it is now", scope: "plan" },
  { keys: "s", action: "take", description: "take a snapshot now (the plan's snapshot step)", scope: "plan" },
  {
    keys: "e",
    action: "export-markdown",
    description: "export the plan as Markdown to a file",
    scope: "plan",
  },
  { keys: "E", action: "export-json", description: "export the plan as JSON to a file", scope: "plan" },
  { keys: "j / k / ↓ / ↑", action: "down", description: "select a snapshot file", scope: "snapshots" },
  { keys: "s", action: "take", description: "take a snapshot into the directory", scope: "snapshots" },
  { keys: "enter", action: "open", description: "inspect the file's meta and tables", scope: "snapshots" },
  {
    keys: "v",
    action: "verify",
    description: "verify the file fully (the dry run of a restore)",
    scope: "snapshots",
  },
  {
    keys: "g",
    action: "stage",
    description: "stage a restore of the file for the server's next start (asks y)",
    scope: "snapshots",
  },
  {
    keys: "L",
    action: "live",
    description: "restore the file live (asks you to type the server's address)",
    scope: "snapshots",
  },
  {
    keys: "x",
    action: "cancel-staged",
    description: "cancel the staged restore (asks y)",
    scope: "snapshots",
  },
  {
    keys: "esc",
    action: "back",
    description: "close help, the filter, a confirmation, the log tail or the inspected file",
    scope: "global",
  },
];

/** The key as Ink reports it, reduced to what the keymap needs. */
export interface KeyPress {
  readonly input: string;
  readonly tab?: boolean;
  readonly shift?: boolean;
  readonly return?: boolean;
  readonly escape?: boolean;
  readonly upArrow?: boolean;
  readonly downArrow?: boolean;
  readonly leftArrow?: boolean;
  readonly rightArrow?: boolean;
  readonly backspace?: boolean;
  readonly delete?: boolean;
  readonly ctrl?: boolean;
}

/** The action a key press means outside text entry; a screen number for digit keys; undefined for none. */
export function actionOf(k: KeyPress): KeyAction | { screen: number } | undefined {
  if (k.tab) return k.shift ? "prev-screen" : "next-screen";
  if (k.escape) return "back";
  if (k.return) return "open";
  if (k.upArrow) return "up";
  if (k.downArrow) return "down";
  if (k.leftArrow) return "left";
  if (k.rightArrow) return "right";
  if (k.ctrl) return k.input === "c" ? "quit" : undefined;
  if (/^[1-9]$/.test(k.input)) return { screen: Number(k.input) - 1 };
  const byInput: Record<string, KeyAction> = {
    "?": "help",
    q: "quit",
    r: "refresh",
    j: "down",
    k: "up",
    h: "left",
    l: "right",
    "/": "filter",
    p: "replan",
    s: "take",
    v: "verify",
    g: "stage",
    L: "live",
    x: "cancel-staged",
    e: "export-markdown",
    E: "export-json",
  };
  return byInput[k.input];
}

/**
 * One key press per character: a terminal delivers keys typed or pasted faster than it is read as
 * one chunk ("jjk", "node-2"), which Ink hands over as one input. Special keys come alone.
 */
export function splitKeys(input: string, key: Omit<KeyPress, "input">): KeyPress[] {
  const special =
    key.tab || key.escape || key.upArrow || key.downArrow || key.leftArrow || key.rightArrow || key.ctrl;
  if (special || input.length <= 1) return [{ ...key, input }];
  return [...input].map((ch) =>
    ch === "\r"
      ? { input: "", return: true }
      : ch === "\u007f"
        ? { input: "", backspace: true }
        : { input: ch },
  );
}
