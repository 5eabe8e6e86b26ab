import test from "ava";
import {
  AppError,
  ERROR_CODES,
  type ErrorCode,
  type GrpcStatusName,
  isAppError,
} from "../../src/protocol/errors.js";

test("carries its code, message, catalogue hint, exit code and gRPC status", (t) => {
  const err = new AppError("NOT_FOUND", "no app named web");
  t.is(err.code, "NOT_FOUND");
  t.is(err.message, "no app named web");
  t.is(err.name, "AppError");
  t.is(err.hint, ERROR_CODES.NOT_FOUND.hint);
  t.is(err.exitCode, 1);
  t.is(err.grpcStatus, "NOT_FOUND");
  t.true(err instanceof Error);
});

test("lets a caller replace the hint and attach a cause", (t) => {
  const cause = new Error("disk full");
  const err = new AppError("INTERNAL", "write failed", { hint: "Free some space.", cause });
  t.is(err.hint, "Free some space.");
  t.is(err.cause, cause);
});

test("leaves cause unset when none is given", (t) => {
  t.false("cause" in new AppError("INTERNAL", "x"));
});

test("recognises only its own errors", (t) => {
  t.true(isAppError(new AppError("USAGE", "x")));
  t.false(isAppError(new Error("x")));
  t.false(isAppError({ code: "USAGE", message: "x" }));
  t.false(isAppError(undefined));
});

test("gives every code a hint, a positive exit code and a gRPC status", (t) => {
  const statuses = new Set([
    "INVALID_ARGUMENT",
    "FAILED_PRECONDITION",
    "UNAUTHENTICATED",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "UNAVAILABLE",
    "RESOURCE_EXHAUSTED",
    "INTERNAL",
  ]);
  for (const [code, entry] of Object.entries(ERROR_CODES)) {
    t.true(entry.hint.length > 0, code);
    t.true(Number.isInteger(entry.exit) && entry.exit > 0, code);
    t.true(statuses.has(entry.grpc), code);
  }
});

test("maps the protocol codes to the statuses and exit codes scripts rely on", (t) => {
  const expected: Record<string, [GrpcStatusName, number]> = {
    USAGE: ["INVALID_ARGUMENT", 2],
    INVALID_HEADER: ["INVALID_ARGUMENT", 1],
    CLIENT_OUTDATED: ["FAILED_PRECONDITION", 5],
    SERVER_OUTDATED: ["FAILED_PRECONDITION", 5],
    UNAUTHENTICATED: ["UNAUTHENTICATED", 4],
    PERMISSION_DENIED: ["PERMISSION_DENIED", 4],
    UNAVAILABLE: ["UNAVAILABLE", 3],
    CATALOG_INVALID: ["INVALID_ARGUMENT", 1],
    EMULATION_INVALID: ["INVALID_ARGUMENT", 1],
    DB_NEWER_SCHEMA: ["FAILED_PRECONDITION", 10],
  };
  for (const [code, [grpc, exit]] of Object.entries(expected)) {
    const err = new AppError(code as ErrorCode, "x");
    t.is(err.grpcStatus, grpc, code);
    t.is(err.exitCode, exit, code);
  }
});
