import test from "ava";
import fc from "fast-check";
import { AppError } from "../../src/protocol/errors.js";
import {
  formatRange,
  formatRangeText,
  PROTOCOL_FAMILIES,
  type ProtocolRange,
  parseRangeText,
  rangeProblem,
  rangesOverlap,
} from "../../src/protocol/range.js";

const rangeArb: fc.Arbitrary<ProtocolRange> = fc
  .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }))
  .map(([a, b]) => ({ min: Math.min(a, b), current: Math.max(a, b) }));

const smallRangeArb: fc.Arbitrary<ProtocolRange> = fc
  .tuple(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 5 }))
  .map(([min, width]) => ({ min, current: min + width }));

test("names the two protocol families", (t) => {
  t.deepEqual([...PROTOCOL_FAMILIES], ["api", "entrypoint"]);
});

// --- rangeProblem -------------------------------------------------------------------------------

test("finds no problem in a valid range", (t) => {
  t.is(rangeProblem({ min: 1, current: 1 }), undefined);
  t.is(rangeProblem({ min: 2, current: 9 }), undefined);
  t.is(rangeProblem({ min: 1_000_000, current: 1_000_000 }), undefined);
});

const PROBLEMS: readonly [string, unknown, string][] = [
  ["a number", 1, "must be an object {min, current}"],
  ["null", null, "must be an object {min, current}"],
  ["a string", "1,2", "must be an object {min, current}"],
  ["a range without min", { current: 2 }, "min must be an integer from 1 to 1000000, got undefined"],
  ["a range without current", { min: 1 }, "current must be an integer from 1 to 1000000, got undefined"],
  ["a zero min", { min: 0, current: 1 }, "min must be an integer from 1 to 1000000, got 0"],
  ["a negative current", { min: 1, current: -2 }, "current must be an integer"],
  ["a fractional min", { min: 1.5, current: 2 }, "min must be an integer"],
  ["a numeric string", { min: "1", current: 2 }, 'min must be an integer from 1 to 1000000, got "1"'],
  ["a current above the limit", { min: 1, current: 1_000_001 }, "current must be an integer"],
  ["an infinite current", { min: 1, current: Number.POSITIVE_INFINITY }, "current must be an integer"],
  ["min above current", { min: 3, current: 2 }, "min (3) is greater than current (2)"],
  ["an extra key", { min: 1, current: 2, max: 3 }, 'unknown key "max"'],
];

for (const [what, value, problem] of PROBLEMS) {
  test(`reports ${what} as a malformed range`, (t) => {
    const found = rangeProblem(value);
    t.true(
      found?.startsWith(problem),
      `expected ${JSON.stringify(found)} to start with ${JSON.stringify(problem)}`,
    );
  });
}

// --- the header form ----------------------------------------------------------------------------

test("parses the header form <min>,<current>", (t) => {
  t.deepEqual(parseRangeText("1,3", "x"), { min: 1, current: 3 });
  t.deepEqual(parseRangeText("7,7", "x"), { min: 7, current: 7 });
  t.deepEqual(parseRangeText("1,1000000", "x"), { min: 1, current: 1_000_000 });
});

for (const text of [
  "",
  "1",
  "1,",
  ",1",
  "1,2,3",
  "a,b",
  "1;2",
  "1.0,2",
  "-1,2",
  "2,1",
  "0,1",
  "1,1000001",
  "1,10000000",
]) {
  test(`rejects the malformed header range ${JSON.stringify(text)}, naming the header`, (t) => {
    const err = t.throws(() => parseRangeText(text, "metadata header client-api-protocol"), {
      instanceOf: AppError,
    });
    t.is(err?.code, "INVALID_HEADER");
    t.true(err?.message.startsWith("metadata header client-api-protocol: "), err?.message);
  });
}

test("quotes the offending text when the header form is wrong", (t) => {
  const err = t.throws(() => parseRangeText("one,two", "h"), { instanceOf: AppError });
  t.is(err?.message, 'h: expected "<min>,<current>", got "one,two"');
});

test("formats a range in the header form", (t) => {
  t.is(formatRangeText({ min: 1, current: 3 }), "1,3");
  t.is(formatRangeText({ min: 2, current: 2 }), "2,2");
});

test("parses what it formats in the header form (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(rangeArb, (r) => {
        const back = parseRangeText(formatRangeText(r), "h");
        return back.min === r.min && back.current === r.current;
      }),
    ),
  );
});

test("formats a range for people as a number or a span", (t) => {
  t.is(formatRange({ min: 1, current: 1 }), "1");
  t.is(formatRange({ min: 1, current: 3 }), "1-3");
});

// --- overlap ------------------------------------------------------------------------------------

const OVERLAPS: readonly [ProtocolRange, ProtocolRange, boolean][] = [
  [{ min: 1, current: 1 }, { min: 1, current: 1 }, true],
  [{ min: 1, current: 3 }, { min: 3, current: 5 }, true],
  [{ min: 1, current: 5 }, { min: 2, current: 3 }, true],
  [{ min: 1, current: 2 }, { min: 3, current: 4 }, false],
  [{ min: 4, current: 9 }, { min: 1, current: 3 }, false],
];

for (const [a, b, expected] of OVERLAPS) {
  test(`says ${formatRange(a)} and ${formatRange(b)} ${expected ? "overlap" : "do not overlap"}`, (t) => {
    t.is(rangesOverlap(a, b), expected);
    t.is(rangesOverlap(b, a), expected);
  });
}

test("says two ranges overlap exactly when some protocol lies in both (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(smallRangeArb, smallRangeArb, (a, b) => {
        let shared = false;
        for (let n = a.min; n <= a.current; n++) if (n >= b.min && n <= b.current) shared = true;
        return rangesOverlap(a, b) === shared;
      }),
      { numRuns: 1000 },
    ),
  );
});
