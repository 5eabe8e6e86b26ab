import test, { type ExecutionContext } from "ava";
import fc from "fast-check";
import { AppError, ERROR_CODES, type ErrorCode } from "../../src/protocol/errors.js";
import { negotiate, type Party } from "../../src/protocol/negotiate.js";
import { formatRange, type ProtocolRange, rangesOverlap } from "../../src/protocol/range.js";

function party(label: string, version: string, min: number, current: number): Party {
  return { label, version, range: { min, current } };
}

/** Negotiates and returns the error of a failed negotiation, failing the test if it succeeded. */
function failure(
  t: ExecutionContext,
  client: Party,
  server: Party,
  family: "api" | "entrypoint" = "api",
): { outdated: "client" | "server"; error: AppError } | undefined {
  const result = negotiate(family, client, server);
  if (result.ok) {
    t.fail(`expected negotiation to fail, it agreed on ${result.agreed}`);
    return undefined;
  }
  t.true(result.error instanceof AppError);
  return result;
}

function assertIncludes(t: ExecutionContext, text: string, fragment: string): void {
  t.true(text.includes(fragment), `expected ${JSON.stringify(text)} to contain ${JSON.stringify(fragment)}`);
}

const rangeArb: fc.Arbitrary<ProtocolRange> = fc
  .tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 6 }))
  .map(([min, width]) => ({ min, current: min + width }));

const wideRangeArb: fc.Arbitrary<ProtocolRange> = fc
  .tuple(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 1, max: 1_000_000 }))
  .map(([a, b]) => ({ min: Math.min(a, b), current: Math.max(a, b) }));

// --- agreement -------------------------------------------------------------------------------

test("agrees on the client's current protocol when the server is newer", (t) => {
  const result = negotiate("api", party("cli", "0.1.0", 1, 2), party("server", "0.2.0", 1, 3));
  t.deepEqual(result, { ok: true, agreed: 2 });
});

test("agrees on the server's current protocol when the client is newer", (t) => {
  const result = negotiate("api", party("cli", "0.3.0", 2, 5), party("server", "0.2.0", 1, 3));
  t.deepEqual(result, { ok: true, agreed: 3 });
});

test("agrees on the shared current protocol when both sides speak the same range", (t) => {
  const result = negotiate("entrypoint", party("entrypoint", "0.1.0", 1, 1), party("server", "0.1.0", 1, 1));
  t.deepEqual(result, { ok: true, agreed: 1 });
});

test("agrees when the client's current protocol is exactly the server's minimum", (t) => {
  const result = negotiate("api", party("runner", "0.1.0", 1, 3), party("server", "0.5.0", 3, 7));
  t.deepEqual(result, { ok: true, agreed: 3 });
});

test("agrees when the server's current protocol is exactly the client's minimum", (t) => {
  const result = negotiate("api", party("runner", "0.5.0", 3, 7), party("server", "0.1.0", 1, 3));
  t.deepEqual(result, { ok: true, agreed: 3 });
});

// --- client outdated -------------------------------------------------------------------------

test("reports the client as outdated when its current protocol is below the server's minimum", (t) => {
  const result = failure(t, party("cli", "0.1.0", 1, 2), party("server", "0.9.0", 3, 4));
  t.is(result?.outdated, "client");
  t.is(result?.error.code, "CLIENT_OUTDATED");
});

test("maps an outdated client to gRPC FAILED_PRECONDITION", (t) => {
  const result = failure(t, party("cli", "0.1.0", 1, 2), party("server", "0.9.0", 3, 4));
  t.is(result?.error.grpcStatus, "FAILED_PRECONDITION");
  t.is(ERROR_CODES.CLIENT_OUTDATED.grpc, "FAILED_PRECONDITION");
});

test("names both ranges, both versions and the family when the client is outdated", (t) => {
  const result = failure(t, party("runner", "0.1.0", 1, 2), party("server", "0.9.0", 3, 4), "entrypoint");
  const message = result?.error.message ?? "";
  assertIncludes(t, message, "runner 0.1.0 speaks entrypoint protocol 1-2");
  assertIncludes(t, message, "server 0.9.0 speaks 3-4");
});

test("tells the outdated client to upgrade to the server's minimum protocol", (t) => {
  const result = failure(t, party("runner", "0.1.0", 1, 2), party("server", "0.9.0", 3, 4));
  const message = result?.error.message ?? "";
  assertIncludes(t, message, "runner is outdated");
  assertIncludes(t, message, "upgrade the runner to a release speaking api protocol 3 or newer");
  t.false(message.includes("upgrade the server"), message);
});

// --- server outdated -------------------------------------------------------------------------

test("reports the server as outdated when its current protocol is below the client's minimum", (t) => {
  const result = failure(t, party("cli", "0.9.0", 5, 6), party("server", "0.2.0", 2, 4));
  t.is(result?.outdated, "server");
  t.is(result?.error.code, "SERVER_OUTDATED");
});

test("maps an outdated server to gRPC FAILED_PRECONDITION", (t) => {
  const result = failure(t, party("cli", "0.9.0", 5, 6), party("server", "0.2.0", 2, 4));
  t.is(result?.error.grpcStatus, "FAILED_PRECONDITION");
  t.is(ERROR_CODES.SERVER_OUTDATED.grpc, "FAILED_PRECONDITION");
});

test("names both ranges and versions when the server is outdated", (t) => {
  const result = failure(t, party("cli", "0.9.0", 5, 6), party("server", "0.2.0", 2, 4));
  const message = result?.error.message ?? "";
  assertIncludes(t, message, "cli 0.9.0 speaks api protocol 5-6");
  assertIncludes(t, message, "server 0.2.0 speaks 2-4");
});

test("tells the operator to upgrade the server to the client's minimum protocol", (t) => {
  const result = failure(t, party("cli", "0.9.0", 5, 6), party("server", "0.2.0", 2, 4));
  const message = result?.error.message ?? "";
  assertIncludes(t, message, "server is outdated");
  assertIncludes(t, message, "upgrade the server to a release speaking api protocol 5 or newer");
  t.false(message.includes("upgrade the cli"), message);
});

test("writes a single-number range without a dash in the error message", (t) => {
  const result = failure(t, party("cli", "0.1.0", 1, 1), party("server", "0.9.0", 2, 2));
  const message = result?.error.message ?? "";
  assertIncludes(t, message, "speaks api protocol 1,");
  assertIncludes(t, message, "speaks 2;");
});

test("gives the outdated errors the hint and exit code of their catalogue entries", (t) => {
  for (const [code, client, server] of [
    ["CLIENT_OUTDATED", party("cli", "0.1.0", 1, 1), party("server", "0.9.0", 2, 2)],
    ["SERVER_OUTDATED", party("cli", "0.9.0", 2, 2), party("server", "0.1.0", 1, 1)],
  ] as const) {
    const result = failure(t, client, server);
    t.is(result?.error.code, code as ErrorCode);
    t.is(result?.error.hint, ERROR_CODES[code].hint);
    t.is(result?.error.exitCode, 5);
  }
});

// --- properties ------------------------------------------------------------------------------

test("succeeds exactly when the two ranges overlap (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(rangeArb, rangeArb, (client, server) => {
        const result = negotiate("api", party("cli", "1.0.0", client.min, client.current), {
          label: "server",
          version: "1.0.0",
          range: server,
        });
        return result.ok === rangesOverlap(client, server);
      }),
      { numRuns: 2000 },
    ),
  );
});

test("agrees on a protocol inside both ranges, the smaller current one (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.oneof(rangeArb, wideRangeArb), fc.oneof(rangeArb, wideRangeArb), (client, server) => {
        const result = negotiate(
          "entrypoint",
          { label: "entrypoint", version: "1.0.0", range: client },
          { label: "server", version: "1.0.0", range: server },
        );
        if (!result.ok) return true;
        const inside = (r: ProtocolRange) => result.agreed >= r.min && result.agreed <= r.current;
        return inside(client) && inside(server) && result.agreed === Math.min(client.current, server.current);
      }),
      { numRuns: 2000 },
    ),
  );
});

test("blames the side whose current protocol is too old, and names both ranges (property)", (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(rangeArb, rangeArb, (client, server) => {
        const result = negotiate(
          "api",
          { label: "runner", version: "1.0.0", range: client },
          { label: "server", version: "2.0.0", range: server },
        );
        if (result.ok) return true;
        const expected = client.current < server.min ? "client" : "server";
        const message = result.error.message;
        return (
          result.outdated === expected &&
          result.error.code === (expected === "client" ? "CLIENT_OUTDATED" : "SERVER_OUTDATED") &&
          result.error.grpcStatus === "FAILED_PRECONDITION" &&
          message.includes(`runner 1.0.0 speaks api protocol ${formatRange(client)},`) &&
          message.includes(`server 2.0.0 speaks ${formatRange(server)};`) &&
          message.includes(`upgrade the ${expected === "client" ? "runner" : "server"} to`)
        );
      }),
      { numRuns: 2000 },
    ),
  );
});
