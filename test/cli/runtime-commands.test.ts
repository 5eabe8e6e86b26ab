import { PassThrough } from "node:stream";
import test from "ava";
import type { Io } from "../../src/cli/command.js";
import { exec, execTarget, terminalFor } from "../../src/cli/exec.js";
import { parseFlags } from "../../src/cli/flags.js";
import { renderInstances } from "../../src/cli/instances.js";
import { formatLogLine } from "../../src/cli/logs.js";
import type { InstanceInfo } from "../../src/client/runtime.js";
import { cli } from "../helpers/cli-inprocess.js";

/** Nothing listens on port 1: a command that got as far as calling the server would exit 3. */
const NOWHERE = "-server-addr=127.0.0.1:1";

const usage = async (t: import("ava").ExecutionContext, args: string[], message: string) => {
  const r = await cli(t, [...args, NOWHERE]);
  t.is(r.code, 2, r.stderr);
  t.is(r.stdout, "");
  t.is(r.stderr.split("\n")[0], `Error: ${message}`);
};

test("config set with a malformed pair fails before calling the server", async (t) => {
  await usage(t, ["config", "set", "A=1", "B"], '"B" (argument 2) is not KEY=VALUE; nothing was written');
});

test("config unset and get check names before calling the server", async (t) => {
  await usage(
    t,
    ["config", "unset", "OK", "no-dash"],
    `the variable name "no-dash" is not an environment variable name: letters, digits and "_", not starting with a digit (argument 2); nothing was written`,
  );
  await usage(t, ["config", "get", "A", "B"], "waypoint config get takes at most 1 argument ([KEY]), got 2");
});

test("logs takes at most one selector", async (t) => {
  await usage(t, ["logs", "-app=web", "-deployment=web-v1"], "-app and -deployment do not combine; give one");
  await usage(t, ["logs", "-tail=x"], 'invalid value "x" for -tail: want a whole number of lines');
});

test("deployment create needs -app", async (t) => {
  await usage(t, ["deployment", "create"], "-app is required");
});

test("exec needs exactly one of -instance and -app, and a command", async (t) => {
  await usage(t, ["exec", "--", "ls"], "waypoint exec needs -instance=ID or -app=NAME");
  await usage(
    t,
    ["exec", "-app=web", "-instance=i-1", "--", "ls"],
    "-instance and -app do not combine; give one",
  );
  await usage(t, ["exec", "-app=web"], "waypoint exec needs a command to run");
  await usage(t, ["exec", "-app=web", "-tty", "-no-tty", "ls"], "-tty and -no-tty do not combine");
});

test("exec's flags end at the command, so the command keeps its own flags", (t) => {
  const flags = parseFlags(["-app=web", "ls", "-la", "-app=x"], exec.flags, { flagsFirst: true });
  t.deepEqual(flags.args, ["ls", "-la", "-app=x"]);
  t.deepEqual(execTarget(flags), { app: "web" });
  const dashed = parseFlags(["-instance=i-1", "--", "sh", "-c", "exit 3"], exec.flags, { flagsFirst: true });
  t.deepEqual(dashed.args, ["sh", "-c", "exit 3"]);
  t.deepEqual(execTarget(dashed), { instance: "i-1" });
});

const fakeIo = (opts: {
  stdinTty: boolean;
  stdoutTty: boolean;
  rows?: number;
  columns?: number;
  term?: string;
}) => {
  const stdin = Object.assign(new PassThrough(), { isTTY: opts.stdinTty });
  const stdout = Object.assign(new PassThrough(), {
    isTTY: opts.stdoutTty,
    rows: opts.rows,
    columns: opts.columns,
  });
  return {
    stdin,
    stdout,
    stderr: new PassThrough(),
    env: opts.term ? { TERM: opts.term } : {},
  } as unknown as Io;
};
const tty = (argv: string[], io: Io) => terminalFor(parseFlags(argv, exec.flags), io);

test("exec runs on a terminal of the caller's size when stdin and stdout are terminals", (t) => {
  const terminal = fakeIo({
    stdinTty: true,
    stdoutTty: true,
    rows: 40,
    columns: 120,
    term: "xterm-256color",
  });
  t.deepEqual(tty([], terminal), { rows: 40, cols: 120, term: "xterm-256color" });
  t.is(tty(["-no-tty"], terminal), undefined);
  t.is(tty([], fakeIo({ stdinTty: false, stdoutTty: true })), undefined, "stdin from a pipe");
  t.is(tty([], fakeIo({ stdinTty: true, stdoutTty: false })), undefined, "stdout to a pipe");
  t.deepEqual(tty(["-tty"], fakeIo({ stdinTty: false, stdoutTty: false })), { rows: 24, cols: 80 });
});

const line = (source: string, text: string) => ({
  instance: "web-1a2b",
  source,
  line: text,
  at: "2026-01-01T00:00:00.000Z",
});

test("log lines: raw text, the instance as prefix when several may appear, waypoint's own marked", (t) => {
  t.is(formatLogLine(line("stdout", "GET / 200"), false), "GET / 200");
  t.is(formatLogLine(line("stderr", "warning: x"), false), "warning: x");
  t.is(formatLogLine(line("stdout", "GET / 200"), true), "web-1a2b | GET / 200");
  t.is(formatLogLine(line("waypoint", "12 lines dropped"), false), "[waypoint] 12 lines dropped");
  t.is(formatLogLine(line("waypoint", "12 lines dropped"), true), "web-1a2b | [waypoint] 12 lines dropped");
});

const instance = (over: Partial<InstanceInfo>): InstanceInfo => ({
  id: "i-1",
  app: "web",
  deployment: "web-v1",
  version: "0.1.0",
  entrypoint: { min: 1, current: 1 },
  emulated: false,
  hostname: "host-a",
  pid: 42,
  startedAt: "2026-01-01T00:00:00Z",
  firstSeen: "2026-01-01T00:00:00Z",
  lastSeen: "2026-01-01T00:00:00Z",
  connected: true,
  execDisabled: false,
  ...over,
});

test("the instances table shows who is connected and when the others were last seen", (t) => {
  const now = Date.parse("2026-01-01T00:05:00Z");
  t.is(
    renderInstances(
      [
        instance({}),
        instance({
          id: "i-22",
          deployment: "web-v2",
          connected: false,
          hostname: "",
          emulated: true,
          version: "0.0.9",
        }),
      ],
      now,
    ),
    [
      "ID    APP  DEPLOYMENT  VERSION           HOST    CONNECTED",
      "i-1   web  web-v1      0.1.0             host-a  yes",
      "i-22  web  web-v2      0.0.9 (emulated)  -       no (seen 5m ago)",
    ].join("\n"),
  );
});

test("every runtime command gets as far as calling the server (exit 3 when none listens)", async (t) => {
  const lines: [words: string[], rest: string[]][] = [
    [["app", "create"], ["web"]],
    [["app", "list"], []],
    [["deployment", "create"], ["-app=web"]],
    [["deployment", "list"], []],
    [["config", "set"], ["A=1"]],
    [["config", "get"], []],
    [["config", "unset"], ["A"]],
    [["instances"], []],
    [["logs"], []],
    [["exec"], ["-app=web", "--", "true"]],
  ];
  for (const [words, rest] of lines) {
    const args = [...words, ...rest];
    // NOWHERE before the rest: exec's flags end at its command.
    const r = await cli(t, [...words, NOWHERE, ...rest]);
    t.is(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
    t.regex(r.stderr, /^Error: cannot reach the server at 127\.0\.0\.1:1/, args.join(" "));
  }
});

test("exec's usage puts the flags before the command", async (t) => {
  const r = await cli(t, ["exec", "-help"]);
  t.is(r.code, 0);
  t.is(r.stdout.split("\n")[0], "Usage: waypoint exec [flags] -- CMD ARGS…");
});
