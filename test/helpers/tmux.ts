/**
 * `waypoint` in a real terminal: a tmux session of its own (its own socket), as an operator runs the
 * console. Ink draws nothing when CI is set, so the command runs without it (and without any WAYPOINT_*
 * variable of the shell or CI). Tests that need tmux use `tmuxTest`, skipped where tmux is missing.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { REPO_ROOT } from "./process.js";
import { tempDir } from "./temp.js";
import { waitFor } from "./wait.js";

const TSX_LOADER = import.meta.resolve("tsx");

export const hasTmux = (() => {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

/** `test` where tmux is installed, `test.skip` elsewhere. */
export const tmuxTest = hasTmux ? test : test.skip;

export interface Terminal {
  /** HOME of the command; its XDG dirs are config/ and data/ in it. */
  readonly home: string;
  /** The env that reaches the same config and data, for other commands. */
  readonly env: NodeJS.ProcessEnv;
  /** The screen as text (`escapes`: with its escape sequences). */
  screen(escapes?: boolean): string;
  keys(keys: string): void;
  /** Resizes the terminal, as a user dragging its window. */
  resize(columns: number, rows: number): void;
  /** The pid of the command's process (the pane's, as the script execs it). */
  pid(): number;
  /** Holds "exit=N" once the command exited with code N. */
  exitFile: string;
}

export interface TerminalOptions {
  /** The arguments after `waypoint`. */
  readonly args: readonly string[];
  /** Shell words added to the command's `export` line, e.g. "NO_COLOR=1". */
  readonly extraEnv?: string;
  /** Text on screen that means the command is ready, and what that is (for the timeout message). */
  readonly ready: string;
  readonly readyWhat: string;
  readonly readyTimeoutMs?: number;
  /** Runs before the command starts, with the env its HOME and XDG dirs are in (e.g. to save a context). */
  readonly prepare?: (env: NodeJS.ProcessEnv) => void;
}

/**
 * `waypoint ARGS…` from source in a new 80×24 tmux session with a HOME of its own, nothing configured
 * and no CI variable, once `ready` is on screen. The session is killed when the test ends.
 */
export async function openTerminal(t: ExecutionContext, opts: TerminalOptions): Promise<Terminal> {
  const home = tempDir(t);
  const socket = join(home, "tmux.sock");
  const script = join(home, "run.sh");
  const exitFile = join(home, "exit");
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
  writeFileSync(
    script,
    [
      "unset CI $(env | grep -o '^WAYPOINT_[A-Z_]*')",
      `export HOME=${env.HOME} XDG_CONFIG_HOME=${env.XDG_CONFIG_HOME} XDG_DATA_HOME=${env.XDG_DATA_HOME} ${opts.extraEnv ?? ""}`,
      `cd ${REPO_ROOT}`,
      `${process.execPath} --import=${TSX_LOADER} src/bin/waypoint.ts ${opts.args.join(" ")}`,
      `echo "exit=$?" > ${exitFile}`,
    ].join("\n"),
  );
  const tmux = (...args: string[]) => execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8" });
  opts.prepare?.(env);
  tmux("new-session", "-d", "-x", "80", "-y", "24", `bash ${script}`);
  t.teardown(() => {
    try {
      execFileSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      // Already gone with the command.
    }
  });
  const c: Terminal = {
    home,
    env,
    exitFile,
    screen: (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : [])),
    keys: (keys) => void tmux("send-keys", keys),
    resize: (columns, rows) => void tmux("resize-window", "-x", String(columns), "-y", String(rows)),
    pid: () => {
      // The pane runs bash, which runs the command: its one child.
      const bash = tmux("display-message", "-p", "#{pane_pid}").trim();
      return Number(readFileSync(`/proc/${bash}/task/${bash}/children`, "utf8").trim().split(" ")[0]);
    },
  };
  await waitFor(() => c.screen().includes(opts.ready), opts.readyWhat, opts.readyTimeoutMs ?? 45_000);
  return c;
}
