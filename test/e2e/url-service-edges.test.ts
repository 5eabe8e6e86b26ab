/**
 * The URL service at its edges, with the same real parts as url-service.test.ts: malformed answers
 * from the app, abuse by clients (upgrade floods, abandoned uploads, smuggling, duplicate hosts),
 * half-closed upgrades, bodiless statuses, 100-continue and the timeouts.
 */
import { connect, type Socket } from "node:net";
import test from "ava";
import { webV1 } from "../helpers/entrypoint-rpc.js";
import { startTestServer } from "../helpers/server.js";
import { call, heldBack, hostPort, MB, open, readAll, rssOf, sha256, startApp } from "../helpers/url.js";
import { waitFor } from "../helpers/wait.js";

/** A raw connection to the URL service: what it received so far, and whether the server ended it. */
function rawClient(address: string): { socket: Socket; received: () => string; ended: Promise<void> } {
  const socket = connect({ ...hostPort(address), allowHalfOpen: true });
  let text = "";
  socket.setEncoding("latin1").on("data", (c: string) => (text += c));
  socket.on("error", () => {});
  const ended = new Promise<void>((resolve) => {
    socket.on("end", resolve);
    socket.on("close", resolve);
  });
  return { socket, received: () => text, ended };
}

async function setup(t: import("ava").ExecutionContext, env: NodeJS.ProcessEnv = {}, server = {}) {
  const s = await startTestServer(t, server);
  const admin = s.connect();
  const { token } = await webV1(admin);
  const app = await startApp(t, s, admin, token, env);
  return { s, admin, url: s.server.urlAddress!, ...app };
}

test("a malformed status from the app is a 502, and the server carries on", async (t) => {
  const { url } = await setup(t);
  const odd = await call(url, "web.localhost", "GET", "/status099");
  t.is(odd.status, 502);
  t.regex(odd.body.toString(), /the app answered with status 99/);
  t.is((await call(url, "web.localhost", "GET", "/echo")).status, 200, "the server is still serving");
});

test("HEAD, 204 and 304 pass through without a body", async (t) => {
  const { url } = await setup(t);
  const head = await call(url, "web.localhost", "HEAD", "/echo");
  t.is(head.status, 200);
  t.is(head.body.length, 0);
  for (const code of [204, 304]) {
    const r = await call(url, "web.localhost", "GET", `/status?code=${code}`);
    t.is(r.status, code);
    t.is(r.body.length, 0);
  }
  t.is((await call(url, "web.localhost", "GET", "/echo")).status, 200);
});

test("a chunked body on a GET reaches the app framed, not as a second request", async (t) => {
  const { url } = await setup(t);
  const smuggled = "GET /smuggled HTTP/1.1\r\nHost: web.localhost\r\nX-Forwarded-Proto: https\r\n\r\n";
  const res = await open(url, "web.localhost", "GET", "/echo", (req) => {
    req.setHeader("transfer-encoding", "chunked");
    req.end(smuggled);
  });
  t.is((await readAll(res)).toString(), `GET /echo ${smuggled.length} ${sha256(Buffer.from(smuggled))}`);
});

test("more than one Host header is refused; an absolute target is routed by its own host", async (t) => {
  const { url } = await setup(t);
  const twice = rawClient(url);
  twice.socket.write("GET /echo HTTP/1.1\r\nHost: web.localhost\r\nHost: other.localhost\r\n\r\n");
  await waitFor(() => twice.received().includes("\r\n\r\n"), "an answer");
  t.regex(twice.received(), /^HTTP\/1\.1 400 /);
  twice.socket.destroy();

  const absolute = rawClient(url);
  absolute.socket.write(
    "GET http://web.localhost/echo?a=1 HTTP/1.1\r\nHost: nope.localhost\r\nConnection: close\r\n\r\n",
  );
  await absolute.ended;
  t.regex(absolute.received(), /^HTTP\/1\.1 200 /);
  t.regex(absolute.received(), /GET \/echo\?a=1 0 /, "the app sees the path, not the absolute URI");
});

test("Expect: 100-continue: the client is told to go on once the request has a tunnel", async (t) => {
  const { url } = await setup(t);
  const body = Buffer.alloc(100_000, 3);
  let continued = false;
  const res = await open(url, "web.localhost", "POST", "/echo", (req) => {
    req.setHeader("expect", "100-continue");
    req.setHeader("content-length", String(body.length));
    req.on("continue", () => {
      continued = true;
      req.end(body);
    });
    req.flushHeaders();
  });
  t.true(continued);
  t.is((await readAll(res)).toString(), `POST /echo ${body.length} ${sha256(body)}`);

  // An unknown host is answered at once: no 100, and no body is asked for.
  const refused = await open(url, "nope.localhost", "POST", "/echo", (req) => {
    req.setHeader("expect", "100-continue");
    req.setHeader("content-length", "10");
    req.on("continue", () => t.fail("100 Continue for a host that is not served"));
    req.flushHeaders();
  });
  t.is(refused.statusCode, 404);
  refused.resume();
});

test("an upgrade the app never answers holds the client's bytes back, not in the entrypoint", async (t) => {
  const { url, ep } = await setup(t);
  const c = rawClient(url);
  c.socket.write("GET /never HTTP/1.1\r\nHost: web.localhost\r\nConnection: Upgrade\r\nUpgrade: raw\r\n\r\n");
  let written = 0;
  const piece = Buffer.alloc(MB, 9);
  const pump = () => {
    while (written < 100 * MB) {
      written += piece.length;
      if (!c.socket.write(piece)) return void c.socket.once("drain", pump);
    }
  };
  pump();
  await heldBack(() => written, "the client to be held back");
  t.true(written < 40 * MB, `the client wrote ${written / MB} MB before it was held back`);
  t.true(rssOf(ep.pid) < 200 * MB, `the entrypoint holds ${Math.round(rssOf(ep.pid) / MB)} MB`);
  c.socket.destroy();
  t.is((await call(url, "web.localhost", "GET", "/echo")).status, 200);
});

test("an abandoned upload frees the entrypoint's request slot: at once when its going is seen, at the latest after the response timeout", async (t) => {
  // The server sees the client go only when it reads its socket, which it does not while the upload is
  // held back (the client's FIN waits behind unread bytes): then the response timeout frees the slot.
  const { url } = await setup(t, { WAYPOINT_CEB_URL_MAX_REQUESTS: "1" }, { urlResponseTimeout: "3s" });
  // The app reads nothing of this upload; its client writes until held back, then goes away.
  let req: import("node:http").ClientRequest | undefined;
  void open(url, "web.localhost", "POST", "/stall", (r) => {
    req = r;
    r.on("error", () => {});
    r.write(Buffer.alloc(8 * MB, 1));
  }).catch(() => {});
  await waitFor(
    async () => (await call(url, "web.localhost", "GET", "/echo")).status === 503,
    "the slot to be taken",
  );
  req!.destroy();
  await waitFor(
    async () => (await call(url, "web.localhost", "GET", "/echo")).status === 200,
    // Seconds, not the head timeout: a stalled upload's head timer never starts, so without the cancel
    // the slot would stay taken for as long as the client is connected. 20 s leaves room for a loaded CI.
    "the slot to be free again",
    20_000,
  );
  t.pass();
});

test("a request body the app does not take is answered 504 after the response timeout, and its slot freed", async (t) => {
  const { url } = await setup(t, { WAYPOINT_CEB_URL_MAX_REQUESTS: "1" }, { urlResponseTimeout: "2s" });
  const res = await open(url, "web.localhost", "POST", "/stall", (req) => {
    req.on("error", () => {});
    req.write(Buffer.alloc(8 * MB, 1));
  });
  t.is(res.statusCode, 504);
  t.regex((await readAll(res)).toString(), /did not take the request(&#39;|')s body for 2 s/);
  res.socket?.destroy();
  await waitFor(
    async () => (await call(url, "web.localhost", "GET", "/echo")).status === 200,
    "the slot to be free again",
  );
  t.pass();
});

test("an upload slower than the response timeout is not cut: the timeout counts from the request's end", async (t) => {
  const { url } = await setup(
    t,
    { WAYPOINT_CEB_URL_RESPONSE_TIMEOUT_MS: "1000" },
    { urlResponseTimeout: "1s" },
  );
  const chunk = Buffer.alloc(1000, 5);
  const res = await open(url, "web.localhost", "POST", "/echo", (req) => {
    let sent = 0;
    const tick = setInterval(() => {
      req.write(chunk);
      if (++sent === 5) {
        clearInterval(tick);
        req.end();
      }
    }, 500);
  });
  t.is(res.statusCode, 200);
  t.regex((await readAll(res)).toString(), /^POST \/echo 5000 /);
});

test("the server's own timeout answers 504 when the entrypoint's is longer", async (t) => {
  const { url } = await setup(t, {}, { urlResponseTimeout: "1s" });
  const slow = await call(url, "web.localhost", "GET", "/slow");
  t.is(slow.status, 504);
  t.regex(slow.body.toString(), /did not answer within 1 s/);
});

test("an upgraded connection half-closes: the app's end reaches the client, which can still send", async (t) => {
  const { url, ep } = await setup(t);
  const c = rawClient(url);
  c.socket.write("GET /raw HTTP/1.1\r\nHost: web.localhost\r\nConnection: Upgrade\r\nUpgrade: raw\r\n\r\n");
  await c.ended;
  t.regex(c.received(), /^HTTP\/1\.1 101 /);
  t.true(c.received().endsWith("\r\n\r\nbye"), "the app's bytes, then its end");
  c.socket.end("hello");
  await ep.waitForStdout("raw got 5");
  t.pass();
});

test("an upgrade request with a body is refused", async (t) => {
  const { url } = await setup(t);
  const c = rawClient(url);
  c.socket.write(
    "POST / HTTP/1.1\r\nHost: web.localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 3\r\n\r\nabc",
  );
  await c.ended;
  t.regex(c.received(), /^HTTP\/1\.1 400 /);
  t.regex(c.received(), /An upgrade request with a body is not carried/);
});
