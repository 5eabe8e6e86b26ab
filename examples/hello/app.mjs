// hello: a small HTTP app for the waypoint walkthrough (README "Try it: deploy an app").
// It answers every request with a greeting that names its deployment and the GREETING config value.
import { createServer } from "node:http";

const port = Number(process.env.PORT ?? 8080);
const deployment = process.env.WAYPOINT_DEPLOYMENT_ID ?? "(no deployment)";

const server = createServer((req, res) => {
  console.log(`${req.method} ${req.url}`);
  res.end(`${process.env.GREETING ?? "hello"} from ${deployment}\n`);
});

process.on("SIGTERM", () => {
  console.log("SIGTERM: closing");
  server.close(() => process.exit(0));
});

server.listen(port, "127.0.0.1", () => console.log(`hello listening on 127.0.0.1:${port} (${deployment})`));
