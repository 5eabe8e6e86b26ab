import { connect } from "node:net";
import test from "ava";
import { startTestServer } from "../helpers/server.js";

function rawHttp(address: string, request: string): Promise<string> {
  const [host, port] = [
    address.slice(0, address.lastIndexOf(":")),
    Number(address.slice(address.lastIndexOf(":") + 1)),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port }, () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
    socket.on("error", reject);
  });
}

test("a malformed HTTP request target gets a 400 and the server keeps serving", async (t) => {
  const s = await startTestServer(t);
  const reply = await rawHttp(
    s.server.httpAddress,
    "GET http://[::1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  t.regex(reply, /^HTTP\/1\.1 400/);
  const health = await fetch(`http://${s.server.httpAddress}/healthz`);
  t.is(health.status, 200);
});

test("callers of BootstrapToken, which needs no token, are not recorded in the inventory", async (t) => {
  const s = await startTestServer(t);
  for (let i = 0; i < 3; i++) {
    await t.throwsAsync(s.connect({ id: `fake-${i}`, token: null }).bootstrap(), {
      message: /already bootstrapped/,
    });
  }
  const inv = await s.connect({ id: "admin" }).inventory();
  t.deepEqual(
    inv.components.filter((c) => c.id.startsWith("fake-")),
    [],
    "an unauthenticated caller cannot put components into the inventory",
  );
});
