import test from "ava";
import { scrubTokens } from "../../src/server/logger.js";

test("scrubTokens takes bearer credentials and token-shaped strings out of free text", (t) => {
  const secret = "wpm_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
  const trace = `Request to /waypoint.v1.Waypoint/GetInventory received headers {"authorization":["Bearer ${secret}"],"client-kind":["cli"]}`;
  t.is(
    scrubTokens(trace),
    'Request to /waypoint.v1.Waypoint/GetInventory received headers {"authorization":["Bearer [redacted]"],"client-kind":["cli"]}',
  );
  t.is(scrubTokens(`bearer   not-our-shape`), "bearer   [redacted]");
  t.is(scrubTokens(`token ${secret} seen`), "token [redacted] seen");
  t.is(scrubTokens("no secrets here: wpm_ short"), "no secrets here: wpm_ short");
});
