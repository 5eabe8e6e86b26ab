/**
 * The console in a real terminal (tmux), as an operator starts it: with nothing configured it starts
 * an embedded server, saves a context other commands use meanwhile, shows its screens, and quits
 * cleanly, stopping the server. Ink draws nothing when CI is set, so the console runs without it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import test from "ava";
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

function tmux(socket: string, ...args: string[]): string {
  return execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8" });
}

(hasTmux ? test : test.skip)("with NO_COLOR the console draws without colour codes", async (t) => {
  const home = tempDir(t);
  const socket = join(home, "tmux.sock");
  const script = join(home, "run.sh");
  writeFileSync(
    script,
    [
      "unset CI $(env | grep -o '^WAYPOINT_[A-Z_]*')",
      `export HOME=${home} XDG_CONFIG_HOME=${home}/config XDG_DATA_HOME=${home}/data NO_COLOR=1`,
      `cd ${REPO_ROOT}`,
      `${process.execPath} --import=${TSX_LOADER} src/bin/waypoint.ts ui`,
    ].join("\n"),
  );
  tmux(socket, "new-session", "-d", "-x", "80", "-y", "24", `bash ${script}`);
  t.teardown(() => {
    try {
      execFileSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      // Already gone with the console.
    }
  });
  await waitFor(() => tmux(socket, "capture-pane", "-p").includes("Warnings"), "the overview", 45_000);
  // -e keeps the escape sequences: none for colour (SGR 30-37, 90-97) or inverse (7).
  const raw = tmux(socket, "capture-pane", "-p", "-e");
  const sgr = new RegExp(`${String.fromCharCode(27)}\\[(?:\\d+;)*(?:3\\d|9\\d|7)m`);
  t.notRegex(raw, sgr);
  tmux(socket, "send-keys", "2");
  await waitFor(() => tmux(socket, "capture-pane", "-p").includes("Versions in use"), "the versions screen");
  t.regex(tmux(socket, "capture-pane", "-p"), /›▸ client/, "the selection still shows");
  tmux(socket, "send-keys", "q");
});

(hasTmux ? test : test.skip)(
  "with nothing configured `waypoint ui` starts an embedded server, shows its screens and quits cleanly",
  async (t) => {
    const home = tempDir(t);
    const socket = join(home, "tmux.sock");
    const script = join(home, "run.sh");
    const env = {
      HOME: home,
      XDG_CONFIG_HOME: join(home, "config"),
      XDG_DATA_HOME: join(home, "data"),
    };
    writeFileSync(
      script,
      [
        "unset CI $(env | grep -o '^WAYPOINT_[A-Z_]*')",
        `export ${Object.entries(env)
          .map(([k, v]) => `${k}=${v}`)
          .join(" ")}`,
        `cd ${REPO_ROOT}`,
        `${process.execPath} --import=${TSX_LOADER} src/bin/waypoint.ts ui`,
        `echo "exit=$?" > ${join(home, "exit")}`,
      ].join("\n"),
    );
    tmux(socket, "new-session", "-d", "-x", "80", "-y", "24", `bash ${script}`);
    t.teardown(() => {
      try {
        execFileSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
      } catch {
        // Already gone with the console.
      }
    });
    const screen = () => tmux(socket, "capture-pane", "-p");
    await waitFor(() => screen().includes("Warnings"), "the overview", 45_000);
    const overview = screen();
    t.regex(overview, /^waypoint 127\.0\.0\.1:\d+ server \d+\.\d+\.\d+ · api \d/);
    t.regex(overview, new RegExp(`embedded server on ${join(home, "data", "waypoint", "data.db")}`));
    t.regex(overview, / 1 Overview {2}2 Versions {2}3 Runtime {2}\? help · q quit/);
    if (/context "embedded" reaches it/.test(overview)) {
      // Another command, in another process, reaches the embedded server through the saved context.
      const versions = await runCli(t, ["versions", "-json"], { env });
      t.is(versions.code, 0, versions.stderr);
      t.true(readFileSync(join(env.XDG_CONFIG_HOME, "waypoint", "current"), "utf8").startsWith("embedded"));
    }
    tmux(socket, "send-keys", "2");
    await waitFor(() => screen().includes("Versions in use"), "the versions screen");
    t.regex(screen(), /›▸ client +\d+\.\d+\.\d+ +api \d/);
    tmux(socket, "send-keys", "?");
    await waitFor(() => screen().includes("Keys (Versions)"), "the help");
    tmux(socket, "send-keys", "q");
    await waitFor(() => existsSync(join(home, "exit")), "the console to exit", 20_000);
    t.is(readFileSync(join(home, "exit"), "utf8").trim(), "exit=0");
    // The server stopped with it: the database is closed and complete.
    t.regex(
      readFileSync(join(home, "data", "waypoint", "server.log"), "utf8"),
      /database checkpointed and closed/,
    );
  },
);

(hasTmux ? test : test.skip)("SIGTERM to the console closes its embedded server cleanly", async (t) => {
  const home = tempDir(t);
  const socket = join(home, "tmux.sock");
  const script = join(home, "run.sh");
  writeFileSync(
    script,
    [
      "unset CI $(env | grep -o '^WAYPOINT_[A-Z_]*')",
      `export HOME=${home} XDG_CONFIG_HOME=${home}/config XDG_DATA_HOME=${home}/data`,
      `cd ${REPO_ROOT}`,
      `exec ${process.execPath} --import=${TSX_LOADER} src/bin/waypoint.ts ui`,
    ].join("\n"),
  );
  tmux(socket, "new-session", "-d", "-x", "80", "-y", "24", `bash ${script}`);
  t.teardown(() => {
    try {
      execFileSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
    } catch {
      // Already gone with the console.
    }
  });
  await waitFor(() => tmux(socket, "capture-pane", "-p").includes("Warnings"), "the overview", 45_000);
  const pid = Number(tmux(socket, "display-message", "-p", "#{pane_pid}").trim());
  process.kill(pid, "SIGTERM");
  const log = join(home, "data", "waypoint", "server.log");
  await waitFor(
    () => readFileSync(log, "utf8").includes("database checkpointed and closed"),
    "the embedded server closed",
    20_000,
  );
  // The token is kept beside the data (0600) and used again next time.
  t.regex(readFileSync(join(home, "data", "waypoint", "console-token"), "utf8"), /^wpm_/);
});

test("not on a terminal, the console says what to use instead", async (t) => {
  const r = await runCli(t, ["ui"]);
  t.is(r.code, 2);
  t.is(
    r.stderr,
    "Error: the console needs a terminal on stdin and stdout\nHint: For scripts and pipes use `waypoint versions [-json]` and `waypoint upgrade plan`.\n",
  );
});
