import { createServer, type Server } from "node:http";
import type { VersionInfo } from "../protocol/version-info.js";

/**
 * The HTTP listener: `/healthz` for load balancers and supervisors. It answers
 * 200 while the server serves and 503 once shutdown has begun.
 */
export function createHttpServer(deps: {
  versionInfo: VersionInfo;
  stateIndex: () => number;
  draining: () => boolean;
}): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/healthz") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
        return;
      }
      const draining = deps.draining();
      const body = JSON.stringify({
        status: draining ? "shutting-down" : "ok",
        version: deps.versionInfo.version,
        emulated: deps.versionInfo.emulated,
        index: deps.stateIndex(),
      });
      res.writeHead(draining ? 503 : 200, {
        "content-type": "application/json",
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : `${body}\n`);
      return;
    }
    res.writeHead(404, { "content-type": "application/json" });
    res.end(`${JSON.stringify({ error: `no such endpoint ${url.pathname}`, endpoints: ["/healthz"] })}\n`);
  });
}
