import test from "ava";
import fc from "fast-check";
import {
  COMPONENT_KINDS,
  componentKindOf,
  formatGoDuration,
  parseGoDuration,
} from "../../src/protocol/inventory.js";

const HOUR = 3_600_000;
const MINUTE = 60_000;

// --- parseGoDuration ----------------------------------------------------------------------------

const PARSED: readonly [string, number][] = [
  ["168h", 168 * HOUR],
  ["90m", 90 * MINUTE],
  ["1h30m", HOUR + 30 * MINUTE],
  ["45s", 45_000],
  ["500ms", 500],
  ["1m30s500ms", MINUTE + 30_000 + 500],
  ["1.5h", 1.5 * HOUR],
  ["0.5s", 500],
  ["1.5ms", 2],
  ["0s", 0],
  ["0", 0],
];

for (const [text, ms] of PARSED) {
  test(`parses the Go duration ${JSON.stringify(text)}`, (t) => {
    t.is(parseGoDuration(text), ms);
  });
}

const REJECTED = [
  "7d",
  "",
  "h",
  "1",
  "12",
  "-1h",
  "+1h",
  "1h ",
  " 1h",
  "1H",
  "1.h",
  ".5h",
  "1 h",
  "1hour",
  "h1",
  "1e3s",
  `${"9".repeat(400)}h`,
];

for (const text of REJECTED) {
  test(`rejects ${JSON.stringify(text.length > 20 ? `${text.slice(0, 20)}…` : text)} as a Go duration`, (t) => {
    t.is(parseGoDuration(text), undefined);
  });
}

// --- formatGoDuration ---------------------------------------------------------------------------

const FORMATTED: readonly [number, string][] = [
  [7 * 24 * HOUR, "168h"],
  [HOUR, "1h"],
  [90 * MINUTE, "90m"],
  [30_000, "30s"],
  [1500, "1500ms"],
  [1, "1ms"],
];

for (const [ms, text] of FORMATTED) {
  test(`formats ${ms} ms as ${JSON.stringify(text)}`, (t) => {
    t.is(formatGoDuration(ms), text);
  });
}

test("parses what it formats for any whole number of milliseconds (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.oneof(
          fc.nat({ max: 10 * 365 * 24 * HOUR }),
          fc.nat({ max: 100_000 }).map((h) => h * HOUR),
          fc.nat({ max: 100_000 }).map((m) => m * MINUTE),
          fc.nat({ max: 100_000 }).map((s) => s * 1000),
        ),
        (ms) => parseGoDuration(formatGoDuration(ms)) === ms,
      ),
      { numRuns: 2000 },
    ),
  );
});

test("formats a parsed duration into an equal one (property)", (t) => {
  const part = fc.tuple(fc.nat({ max: 500 }), fc.constantFrom("h", "m", "s", "ms"));
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(part, { minLength: 1, maxLength: 4 }), (parts) => {
        const text = parts.map(([n, unit]) => `${n}${unit}`).join("");
        const ms = parseGoDuration(text);
        return ms !== undefined && parseGoDuration(formatGoDuration(ms)) === ms;
      }),
      { numRuns: 1000 },
    ),
  );
});

// --- componentKindOf ----------------------------------------------------------------------------

test("names the three inventory kinds", (t) => {
  t.deepEqual([...COMPONENT_KINDS], ["client", "runner", "entrypoint"]);
});

test("files the CLI and the console as clients, with via", (t) => {
  t.deepEqual(componentKindOf("cli"), { kind: "client", via: "cli" });
  t.deepEqual(componentKindOf("ui"), { kind: "client", via: "ui" });
});

test("files runners and entrypoints under their own kind, without via", (t) => {
  t.deepEqual(componentKindOf("runner"), { kind: "runner" });
  t.deepEqual(componentKindOf("entrypoint"), { kind: "entrypoint" });
  t.false("via" in componentKindOf("runner"));
  t.false("via" in componentKindOf("entrypoint"));
});
