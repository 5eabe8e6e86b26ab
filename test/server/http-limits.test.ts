import { request } from "node:http";
import { connect } from "node:net";
import test from "ava";
import { startTestServer } from "../helpers/server.js";

function hostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(":");
  return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) };
}

/** Sends `head` and nothing more; resolves with what the server answered once it closed, and when. */
function trickleHead(address: string, head: string): Promise<{ reply: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket = connect(hostPort(address), () => socket.write(head));
    const chunks: Buffer[] = [];
    socket.on("data", (c) => chunks.push(c));
    socket.on("close", () =>
      resolve({ reply: Buffer.concat(chunks).toString("latin1"), ms: Date.now() - started }),
    );
    socket.on("error", reject);
  });
}

test("a request head that does not arrive in time is answered 408 and its connection closed (HTTP listener and URL service)", async (t) => {
  const s = await startTestServer(t, { config: { httpHeadersTimeoutMs: 400 } });
  for (const address of [s.server.httpAddress, s.server.urlAddress!]) {
    const { reply, ms } = await trickleHead(address, "GET /healthz HTTP/1.1\r\nHost: web.localhost\r\n");
    t.regex(reply, /^HTTP\/1\.1 408/, address);
    t.true(ms < 3000, `closed after ${ms} ms`);
  }
});

test("a request head over 16 KiB is refused with 431 (HTTP listener and URL service)", async (t) => {
  const s = await startTestServer(t);
  for (const address of [s.server.httpAddress, s.server.urlAddress!]) {
    const { reply } = await trickleHead(
      address,
      `GET /healthz HTTP/1.1\r\nHost: web.localhost\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`,
    );
    t.regex(reply, /^HTTP\/1\.1 431/, address);
  }
});

test("a snapshot upload slower than the head timeout is not cut: bodies have no time limit", async (t) => {
  const s = await startTestServer(t, { config: { httpHeadersTimeoutMs: 300 } });
  const http = hostPort(s.server.httpAddress);
  const archive = Buffer.from(
    await (
      await fetch(`http://${s.server.httpAddress}/v1/snapshot`, {
        headers: { authorization: `Bearer ${s.token}` },
      })
    ).arrayBuffer(),
  );
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(
      { ...http, method: "PUT", path: "/v1/snapshot?stage", headers: { authorization: `Bearer ${s.token}` } },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    // Ten pieces, 150 ms apart: the upload takes five times the head timeout.
    const piece = Math.ceil(archive.length / 10);
    let at = 0;
    const next = () => {
      req.write(archive.subarray(at, at + piece));
      at += piece;
      if (at >= archive.length) req.end();
      else setTimeout(next, 150);
    };
    next();
  });
  t.is(answer.status, 200, answer.body);
  t.regex(answer.body, /"mode":"stage"/);
});
