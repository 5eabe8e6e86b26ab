/**
 * The console in a real terminal (tmux), as an operator starts it: with nothing configured it starts
 * an embedded server, saves a context other commands use meanwhile, shows its screens, and quits
 * cleanly, stopping the server. Ink draws nothing when CI is set, so the console runs without it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test, { type ExecutionContext } from "ava";
import { REPO_ROOT, runCli } from "../helpers/process.js";
import { tempDir } from "../helpers/temp.js";
import { waitFor } from "../helpers/wait.js";

const TSX_LOADER = import.meta.resolve("tsx");
const hasTmux = (() => {
  try {
    execFileSync("tmux", ["-V"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
const tmuxTest = hasTmux ? test : test.skip;

interface Console {
  /** HOME of the console; its XDG dirs are config/ and data/ in it. */
  readonly home: string;
  /** The env that reaches the same config and data, for other commands. */
  readonly env: NodeJS.ProcessEnv;
  /** The screen as text (`escapes`: with its escape sequences). */
  screen(escapes?: boolean): string;
  keys(keys: string): void;
  /** The pid of the console process (the pane's, as the script execs it). */
  pid(): number;
  /** Resolves with the exit code once the console exited. */
  exitFile: string;
}

/**
 * `waypoint ui` in a new 80×24 tmux session with a HOME of its own, nothing configured and no CI
 * variable, once its overview is drawn. The session is killed when the test ends.
 */
async function openConsole(t: ExecutionContext, extraEnv = ""): Promise<Console> {
  const home = tempDir(t);
  const socket = join(home, "tmux.sock");
  const script = join(home, "run.sh");
  const exitFile = join(home, "exit");
  const env = { HOME: home, XDG_CONFIG_HOME: join(home, "config"), XDG_DATA_HOME: join(home, "data") };
  writeFileSync(
    script,
    [
      "unset CI $(env | grep -o '^WAYPOINT_[A-Z_]*')",
      `export HOME=${env.HOME} XDG_CONFIG_HOME=${env.XDG_CONFIG_HOME} XDG_DATA_HOME=${env.XDG_DATA_HOME} ${extraEnv}`,
      `cd ${REPO_ROOT}`,
      `${process.execPath} --import=${TSX_LOADER} src/bin/waypoint.ts ui`,
      `echo "exit=$?" > ${exitFile}`,
    ].join("\n"),
  );
  const tmux = (...args: string[]) => execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8" });
  tmux("new-session", "-d", "-x", "80", "-y", "24", `bash ${script}`);
  t.teardown(() => {
    try {
      execFileSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      // Already gone with the console.
    }
  });
  const c: Console = {
    home,
    env,
    exitFile,
    screen: (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : [])),
    keys: (keys) => void tmux("send-keys", keys),
    pid: () => {
      // The pane runs bash, which runs the console: its one child.
      const bash = tmux("display-message", "-p", "#{pane_pid}").trim();
      return Number(readFileSync(`/proc/${bash}/task/${bash}/children`, "utf8").trim().split(" ")[0]);
    },
  };
  await waitFor(() => c.screen().includes("Warnings"), "the overview", 45_000);
  return c;
}

tmuxTest(
  "with nothing configured `waypoint ui` starts an embedded server, shows its screens and quits cleanly",
  async (t) => {
    const c = await openConsole(t);
    const overview = c.screen();
    t.regex(overview, /^waypoint 127\.0\.0\.1:\d+ server \d+\.\d+\.\d+ · api \d/);
    t.regex(overview, new RegExp(`embedded server on ${join(c.home, "data", "waypoint", "data.db")}`));
    t.regex(overview, / 1 Overview {2}2 Versions {2}3 Runtime {2}\? help · q quit/);
    if (/context "embedded" reaches it/.test(overview)) {
      // Another command, in another process, reaches the embedded server through the saved context.
      const versions = await runCli(t, ["versions", "-json"], { env: c.env });
      t.is(versions.code, 0, versions.stderr);
      t.true(readFileSync(join(c.home, "config", "waypoint", "current"), "utf8").startsWith("embedded"));
    }
    c.keys("2");
    await waitFor(() => c.screen().includes("Versions in use"), "the versions screen");
    t.regex(c.screen(), /›▸ client +\d+\.\d+\.\d+ +api \d/);
    c.keys("?");
    await waitFor(() => c.screen().includes("Keys (Versions)"), "the help");
    c.keys("q");
    await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
    t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
    // The server stopped with it: the database is closed and complete.
    t.regex(
      readFileSync(join(c.home, "data", "waypoint", "server.log"), "utf8"),
      /database checkpointed and closed/,
    );
    // The context saved for it went with it: other commands do not name a server that is gone.
    t.false(existsSync(join(c.home, "config", "waypoint", "contexts", "embedded.json")));
    t.false(existsSync(join(c.home, "config", "waypoint", "current")));
  },
);

tmuxTest("with NO_COLOR the console draws without colour codes", async (t) => {
  const c = await openConsole(t, "NO_COLOR=1");
  // -e keeps the escape sequences: none for colour (SGR 30-37, 90-97) or inverse (7).
  const sgr = new RegExp(`${String.fromCharCode(27)}\\[(?:\\d+;)*(?:3\\d|9\\d|7)m`);
  t.notRegex(c.screen(true), sgr);
  c.keys("2");
  await waitFor(() => c.screen().includes("Versions in use"), "the versions screen");
  t.regex(c.screen(), /›▸ client/, "the selection still shows");
  c.keys("q");
});

tmuxTest("SIGTERM to the console closes its embedded server cleanly", async (t) => {
  const c = await openConsole(t);
  process.kill(c.pid(), "SIGTERM");
  await waitFor(() => existsSync(c.exitFile), "the console to exit", 20_000);
  t.is(readFileSync(c.exitFile, "utf8").trim(), "exit=0");
  t.regex(
    readFileSync(join(c.home, "data", "waypoint", "server.log"), "utf8"),
    /database checkpointed and closed/,
  );
  // The token is kept beside the data (0600) and used again next time.
  t.regex(readFileSync(join(c.home, "data", "waypoint", "console-token"), "utf8"), /^wpm_/);
});

test("not on a terminal, the console says what to use instead", async (t) => {
  const r = await runCli(t, ["ui"]);
  t.is(r.code, 2);
  t.is(
    r.stderr,
    "Error: the console needs a terminal on stdin and stdout\nHint: For scripts and pipes use `waypoint versions [-json]` and `waypoint upgrade plan`.\n",
  );
});
