import test from "ava";
import {
  editDistance,
  type FlagSpec,
  type FlagValue,
  formatFlagHelp,
  HelpRequested,
  parseFlags,
} from "../../src/cli/flags.js";
import { AppError } from "../../src/protocol/errors.js";

const SPECS: readonly FlagSpec[] = [
  { name: "db", type: "string", usage: "Database file.", placeholder: "PATH" },
  { name: "json", type: "boolean", usage: "Print JSON." },
  { name: "v", type: "count", usage: "More logging." },
  { name: "label", type: "string-list", usage: "A label." },
  { name: "format", type: "string", usage: "Output format.", default: "text" },
  { name: "color", type: "boolean", usage: "Colour output.", default: true },
  { name: "listen-grpc", type: "string", usage: "gRPC address." },
];

const DEFAULTS: Record<string, FlagValue> = { json: false, v: 0, label: [], format: "text", color: true };

type Accepted = { title: string; argv: string[]; values?: Record<string, FlagValue>; args?: string[] };

const accepted: Accepted[] = [
  { title: "Unset flags take their defaults.", argv: [] },
  { title: "-name=value sets a string flag.", argv: ["-db=a.db"], values: { db: "a.db" } },
  { title: "--name=value sets a string flag.", argv: ["--db=a.db"], values: { db: "a.db" } },
  { title: "-name value sets a string flag.", argv: ["-db", "a.db"], values: { db: "a.db" } },
  { title: "--name value sets a string flag.", argv: ["--db", "a.db"], values: { db: "a.db" } },
  {
    title: "A value keeps everything after the first equals sign.",
    argv: ["-db=a=b"],
    values: { db: "a=b" },
  },
  { title: "An empty value after the equals sign is accepted.", argv: ["-db="], values: { db: "" } },
  {
    title: "The argument after a string flag is its value even when it starts with a dash.",
    argv: ["-db", "-json"],
    values: { db: "-json" },
  },
  {
    title: "A string flag given explicitly replaces its default.",
    argv: ["-format=json"],
    values: { format: "json" },
  },
  {
    title: "Flag names may contain dashes.",
    argv: ["-listen-grpc=:9701"],
    values: { "listen-grpc": ":9701" },
  },
  { title: "A bare boolean flag is true.", argv: ["-json"], values: { json: true } },
  { title: "A double-dash boolean flag is true.", argv: ["--json"], values: { json: true } },
  { title: "-name=true sets a boolean.", argv: ["-json=true"], values: { json: true } },
  {
    title: "-name=false clears a boolean whose default is true.",
    argv: ["-color=false"],
    values: { color: false },
  },
  {
    title: "Go's 1 and 0 spellings work for booleans.",
    argv: ["-json=1", "-color=0"],
    values: { json: true, color: false },
  },
  {
    title: "The last of repeated boolean flags wins.",
    argv: ["-json", "-json=false"],
    values: { json: false },
  },
  {
    title: "A boolean flag does not consume the next argument.",
    argv: ["-json", "false"],
    values: { json: true },
    args: ["false"],
  },
  { title: "-v counts once.", argv: ["-v"], values: { v: 1 } },
  { title: "-vv counts twice.", argv: ["-vv"], values: { v: 2 } },
  { title: "-vvv counts three times.", argv: ["-vvv"], values: { v: 3 } },
  { title: "Repeated -v flags add up.", argv: ["-v", "-v"], values: { v: 2 } },
  { title: "Stacked and repeated -v flags add up.", argv: ["-vv", "--v", "-v=2"], values: { v: 5 } },
  {
    title: "A list flag collects every repetition in order.",
    argv: ["-label=a", "--label", "b"],
    values: { label: ["a", "b"] },
  },
  {
    title: "Flags and positional arguments may interleave.",
    argv: ["app", "-json", "deploy", "-db=x.db", "web"],
    values: { json: true, db: "x.db" },
    args: ["app", "deploy", "web"],
  },
  {
    title: "Everything after a bare -- is positional verbatim.",
    argv: ["-json", "--", "-db=x", "--", "-h", "-"],
    values: { json: true },
    args: ["-db=x", "--", "-h", "-"],
  },
  {
    title: "A lone dash is a positional argument.",
    argv: ["-", "-json"],
    values: { json: true },
    args: ["-"],
  },
];

for (const c of accepted) {
  test(c.title, (t) => {
    const parsed = parseFlags(c.argv, SPECS);
    t.deepEqual(Object.fromEntries(parsed.values), { ...DEFAULTS, ...c.values });
    t.deepEqual(parsed.args, c.args ?? []);
  });
}

type Rejected = { title: string; argv: string[]; message: string; hint?: string };

const rejected: Rejected[] = [
  { title: "An unknown flag is rejected.", argv: ["-foo"], message: "flag provided but not defined: -foo" },
  {
    title: "An unknown flag close to a defined one gets a suggestion.",
    argv: ["-jsn"],
    message: "flag provided but not defined: -jsn (did you mean -json?)",
  },
  {
    title: "A transposed double-dash flag gets a suggestion.",
    argv: ["--fromat=json"],
    message: "flag provided but not defined: -fromat (did you mean -format?)",
  },
  {
    title: "A one-letter unknown flag gets no far-fetched suggestion.",
    argv: ["app", "-x"],
    message: "flag provided but not defined: -x",
  },
  {
    title: "Stacking works only for count flags.",
    argv: ["-vv=2"],
    message: "flag provided but not defined: -vv (did you mean -v?)",
  },
  {
    title: "A string flag at the end without a value is rejected.",
    argv: ["-db"],
    message: "flag needs an argument: -db",
    hint: "Pass a value, as in -db=PATH or -db PATH.",
  },
  {
    title: "A list flag without a value is rejected.",
    argv: ["x", "--label"],
    message: "flag needs an argument: -label",
  },
  {
    title: "A boolean flag with a non-boolean value is rejected.",
    argv: ["-json=yes"],
    message: 'invalid boolean value "yes" for -json: parse error',
    hint: "Write -json or -json=true to turn it on, -json=false to turn it off.",
  },
  {
    title: "A string flag given twice is rejected.",
    argv: ["-db=a", "--db", "b"],
    message: "flag -db given more than once",
    hint: 'Pass -db once; only flags marked "repeatable" in -help may repeat.',
  },
  {
    title: "A count flag with a non-numeric value is rejected.",
    argv: ["-v=lots"],
    message: 'invalid value "lots" for -v: want a number',
  },
  { title: "Three dashes are bad flag syntax.", argv: ["---db=x"], message: "bad flag syntax: ---db=x" },
  { title: "A flag without a name is bad flag syntax.", argv: ["-=x"], message: "bad flag syntax: -=x" },
];

for (const c of rejected) {
  test(c.title, (t) => {
    const err = t.throws(() => parseFlags(c.argv, SPECS), { instanceOf: AppError });
    t.is(err?.code, "USAGE");
    t.is(err?.message, c.message);
    if (c.hint !== undefined) t.is(err?.hint, c.hint);
  });
}

test("Usage errors tell the user how to see the command's flags.", (t) => {
  const err = t.throws(() => parseFlags(["-nope"], SPECS, { command: "server run" }), {
    instanceOf: AppError,
  });
  t.is(err?.hint, 'Run "waypoint server run -help" to see its flags.');
});

for (const argv of [["-h"], ["-help"], ["--help"], ["--h"], ["app", "-db=x", "-help", "-nope"]]) {
  test(`${argv.join(" ")} requests help.`, (t) => {
    const err = t.throws(() => parseFlags(argv, SPECS, { command: "deploy" }), { instanceOf: HelpRequested });
    t.is(err?.command, "deploy");
  });
}

test("A spec named h takes precedence over the help request.", (t) => {
  const parsed = parseFlags(["-h"], [{ name: "h", type: "boolean", usage: "Human-readable sizes." }]);
  t.true(parsed.bool("h"));
});

test("The typed accessors return values and defaults.", (t) => {
  const parsed = parseFlags(["-db=x", "-vv", "-label=a", "-label=b", "run"], SPECS);
  t.is(parsed.string("db"), "x");
  t.is(parsed.string("listen-grpc"), undefined);
  t.is(parsed.string("format"), "text");
  t.false(parsed.bool("json"));
  t.true(parsed.bool("color"));
  t.is(parsed.count("v"), 2);
  t.deepEqual(parsed.list("label"), ["a", "b"]);
  t.deepEqual(parsed.args, ["run"]);
});

test("has() tells flags given on the command line from defaults.", (t) => {
  const parsed = parseFlags(["-format=text", "-json=false"], SPECS);
  t.true(parsed.has("format"));
  t.true(parsed.has("json"));
  t.false(parsed.has("color"));
  t.false(parsed.has("db"));
});

test("Asking for an undefined flag or the wrong type is a programming error.", (t) => {
  const parsed = parseFlags([], SPECS);
  t.is(t.throws(() => parsed.string("nope"), { instanceOf: AppError })?.code, "INTERNAL");
  t.is(t.throws(() => parsed.bool("db"), { instanceOf: AppError })?.code, "INTERNAL");
  t.is(t.throws(() => parsed.has("nope"), { instanceOf: AppError })?.code, "INTERNAL");
});

test("Duplicate or ill-typed specs are programming errors.", (t) => {
  const dup: FlagSpec[] = [
    { name: "db", type: "string", usage: "" },
    { name: "db", type: "boolean", usage: "" },
  ];
  t.is(t.throws(() => parseFlags([], dup), { instanceOf: AppError })?.code, "INTERNAL");
  const badDefault: FlagSpec[] = [{ name: "json", type: "boolean", usage: "", default: "yes" }];
  t.is(t.throws(() => parseFlags([], badDefault), { instanceOf: AppError })?.code, "INTERNAL");
});

test("The list accessor returns a copy callers cannot use to change the parse.", (t) => {
  const parsed = parseFlags(["-label=a"], SPECS);
  parsed.list("label").push("b");
  t.deepEqual(parsed.list("label"), ["a"]);
});

test("Help lines are aligned and show placeholders, defaults, repetition and env.", (t) => {
  const help = formatFlagHelp([
    ...SPECS,
    { name: "server-addr", type: "string", usage: "Server address.", env: "WAYPOINT_SERVER_ADDR" },
  ]);
  t.is(
    help,
    [
      "  -db=PATH             Database file.",
      "  -json                Print JSON.",
      "  -v                   More logging. (repeatable: -vv, -vvv)",
      "  -label=VALUE         A label. (repeatable)",
      '  -format=VALUE        Output format. (default "text")',
      "  -color               Colour output. (default true)",
      "  -listen-grpc=VALUE   gRPC address.",
      "  -server-addr=VALUE   Server address. (env WAYPOINT_SERVER_ADDR)",
    ].join("\n"),
  );
});

test("Multi-line usage text is indented under the usage column.", (t) => {
  const help = formatFlagHelp([
    { name: "to", type: "string", usage: "Target version.\nDefaults to latest." },
  ]);
  t.is(help, "  -to=VALUE   Target version.\n              Defaults to latest.");
});

const distances: [string, string, number][] = [
  ["", "", 0],
  ["json", "json", 0],
  ["jsn", "json", 1],
  ["fromat", "format", 2],
  ["", "abc", 3],
  ["kitten", "sitting", 3],
];

for (const [a, b, d] of distances) {
  test(`The edit distance from "${a}" to "${b}" is ${d}.`, (t) => {
    t.is(editDistance(a, b), d);
    t.is(editDistance(b, a), d);
  });
}
