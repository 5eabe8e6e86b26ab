/** The console's keys as data: input handling (console-state.ts) and the help overlay both read this table. */

export const SCREENS = [
  { name: "overview", title: "Overview" },
  { name: "versions", title: "Versions" },
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
  | "filter";

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
  { keys: "esc", action: "back", description: "close help, the filter or the log tail", scope: "global" },
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
  if (k.ctrl) return k.input === "c" ? "quit" : undefined;
  if (/^[1-9]$/.test(k.input)) return { screen: Number(k.input) - 1 };
  const byInput: Record<string, KeyAction> = {
    "?": "help",
    q: "quit",
    r: "refresh",
    j: "down",
    k: "up",
    "/": "filter",
  };
  return byInput[k.input];
}

/**
 * One key press per character: a terminal delivers keys typed or pasted faster than it is read as
 * one chunk ("jjk", "node-2"), which Ink hands over as one input. Special keys come alone.
 */
export function splitKeys(input: string, key: Omit<KeyPress, "input">): KeyPress[] {
  const special = key.tab || key.escape || key.upArrow || key.downArrow || key.ctrl;
  if (special || input.length <= 1) return [{ ...key, input }];
  return [...input].map((ch) =>
    ch === "\r"
      ? { input: "", return: true }
      : ch === "\u007f"
        ? { input: "", backspace: true }
        : { input: ch },
  );
}
