import test from "ava";
import { AppError } from "../../src/protocol/errors.js";
import { headerSafe, toStatus } from "../../src/server/grpc-errors.js";
import { createLogger } from "../../src/server/logger.js";
import { LogSink } from "../helpers/server.js";

test("a hint with line breaks or non-ASCII text still makes a valid status", (t) => {
  const status = toStatus(
    new AppError("NOT_FOUND", "no such thing", { hint: "Try “this”\nthen that — twice" }),
    createLogger("error", new LogSink()),
    "/x",
  );
  t.is(status.metadata?.get("waypoint-hint")[0], "Try ?this? then that ? twice");
  t.is(headerSafe("plain"), "plain");
});

test("an unexpected error reaches the client only as a reference, and the log has it in full", (t) => {
  const sink = new LogSink();
  const status = toStatus(
    new Error("SQLITE_CORRUPT: database disk image is malformed"),
    createLogger("error", sink),
    "/x",
  );
  t.regex(String(status.details), /^internal error \(ref [0-9a-f]{12}\)$/);
  t.true(sink.raw.some((l) => l.includes("SQLITE_CORRUPT")));
});
