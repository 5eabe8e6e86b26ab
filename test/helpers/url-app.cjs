// An HTTP app for the URL service's tests, run under a real waypoint-entrypoint. It listens on
// 127.0.0.1:$PORT and answers:
//   GET|POST /echo…       its method, path, the number of body bytes and their sha256
//   GET /download?n=N     N bytes of a fixed pattern, written with backpressure
//   GET /events           server-sent events: "one" at once, "two" and the end after GET /release
//   GET /headers          the request's headers as JSON
//   GET /slow             nothing, ever
//   POST /stall           reads nothing of the body; answers after GET /release
//   GET /hold             a head and one chunk, the end after GET /release
//   GET /status?code=N    an empty response with status N
//   GET /status099        a raw, malformed response: status 099
//   upgrade /never        never answered
//   upgrade /raw          101, "bye", then the app ends its side; on the client's end it prints
//                         "raw got N" (the bytes it read after its own end) and closes
//   other upgrades        WebSocket: echoes every message
// Every response has x-port (which instance answered). It prints "listening" once it listens and
// "tick N" every 100 ms.
const http = require("node:http");
const { createHash } = require("node:crypto");
const { WebSocketServer } = require("ws");

const port = Number(process.env.PORT);
const released = [];
const release = () => {
  for (const f of released.splice(0)) f();
};

const server = http.createServer((req, res) => {
  res.setHeader("x-port", String(port));
  const url = new URL(req.url, "http://app");
  if (url.pathname === "/download") {
    const n = Number(url.searchParams.get("n"));
    const chunk = Buffer.alloc(64 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = i % 251;
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(n) });
    let left = n;
    const pump = () => {
      while (left > 0) {
        const b = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= b.length;
        if (!res.write(b)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
    return;
  }
  if (url.pathname === "/events") {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write("data: one\n\n");
    released.push(() => {
      res.write("data: two\n\n");
      res.end();
    });
    return;
  }
  if (url.pathname === "/hold") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first\n");
    released.push(() => res.end("last\n"));
    return;
  }
  if (url.pathname === "/release") {
    const n = released.length;
    release();
    res.end(`released ${n}`);
    return;
  }
  if (url.pathname === "/slow") return;
  if (url.pathname === "/status") {
    res.writeHead(Number(url.searchParams.get("code")));
    res.end();
    return;
  }
  if (url.pathname === "/status099") {
    req.socket.end("HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n");
    return;
  }
  if (url.pathname === "/headers") {
    res.end(JSON.stringify(req.headers));
    return;
  }
  if (url.pathname === "/stall") {
    req.pause();
    released.push(() => res.end("stalled"));
    return;
  }
  const hash = createHash("sha256");
  let n = 0;
  req.on("data", (c) => {
    n += c.length;
    hash.update(c);
  });
  req.on("end", () => {
    res.writeHead(200, { "x-app": "yes", "content-type": "text/plain" });
    res.end(`${req.method} ${req.url} ${n} ${hash.digest("hex")}`);
  });
});

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
server.on("upgrade", (req, socket, head) => {
  socket.on("error", () => {});
  if (req.url === "/never") return;
  if (req.url === "/raw") {
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: raw\r\nConnection: Upgrade\r\n\r\nbye");
    socket.end();
    let n = head.length;
    socket.on("data", (c) => (n += c.length));
    socket.on("end", () => {
      console.log(`raw got ${n}`);
      socket.destroy();
    });
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
});
wss.on("connection", (ws, req) => {
  ws.send(`hello ${req.headers["x-forwarded-host"] ?? ""}`);
  ws.on("message", (data, isBinary) => ws.send(data, { binary: isBinary }));
});

server.listen(port, "127.0.0.1", () => console.log("listening"));
let ticks = 0;
setInterval(() => console.log(`tick ${++ticks}`), 100);
process.on("SIGTERM", () => process.exit(0));
