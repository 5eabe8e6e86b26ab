import { entrypointEnv, envLines, isLocalOnlyAddress, withPort } from "../protocol/entrypoint-env.js";
import { AppError } from "../protocol/errors.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";
import { ago, table } from "./format.js";

export const deploymentCreate: Command = {
  name: "deployment create",
  summary: "Create a deployment of an app and print the entrypoint's environment",
  help:
    "Prints the variables waypoint-entrypoint needs, as NAME=value lines on stdout (values shell-quoted\n" +
    "when needed): WAYPOINT_SERVER_ADDR, WAYPOINT_SERVER_TLS and WAYPOINT_SERVER_TLS_SKIP_VERIFY (only when\n" +
    "this connection uses them), WAYPOINT_CEB_INVITE_TOKEN and WAYPOINT_DEPLOYMENT_ID. The token is shown\n" +
    "once: keep the output, e.g. `waypoint deployment create -app=web > web.env`, then start the app with\n" +
    "`set -a; . ./web.env; set +a; waypoint-entrypoint ./server` (or systemd EnvironmentFile=web.env).\n" +
    "WAYPOINT_SERVER_ADDR is the address this command used, with the port of the server's entrypoint\n" +
    "listener when it has one (server run -listen-entrypoint), unless -entrypoint-addr says where the app's\n" +
    'hosts reach the server. -json prints {"id", "app", "sequence", "createdAt", "token", "tokenId", "env", "url"}\n' +
    "(url left out when the deployment has none; see the URL service).",
  flags: [
    { name: "app", type: "string", usage: "the app to deploy (required)", placeholder: "NAME" },
    {
      name: "entrypoint-addr",
      type: "string",
      usage:
        "the server address as the app's hosts reach it (default: the one this command uses, with the port of the server's entrypoint listener if it has one)",
      placeholder: "ADDR",
    },
    { name: "json", type: "boolean", usage: "print JSON" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const app = flags.string("app");
    if (!app)
      throw new AppError("USAGE", "-app is required", { hint: "Write -app=NAME (see `waypoint app list`)." });
    const given = flags.string("entrypoint-addr");
    if (given !== undefined && given.trim() === "") {
      throw new AppError("USAGE", "-entrypoint-addr needs an address HOST:PORT");
    }
    const conn = connect(flags, io);
    try {
      const created = await conn.createDeployment(app);
      const d = created.deployment;
      // A server with an entrypoint listener (-listen-entrypoint) wants its entrypoints there.
      const listener = created.entrypointPort
        ? withPort(conn.settings.address, created.entrypointPort)
        : undefined;
      const address = given ?? listener ?? conn.settings.address;
      const env = entrypointEnv({
        address,
        tls: conn.settings.tls,
        tlsSkipVerify: conn.settings.tlsSkipVerify,
        token: created.token,
        deployment: d.id,
      });
      if (flags.bool("json")) {
        const json = {
          id: d.id,
          app: d.app,
          sequence: d.sequence,
          createdAt: d.createdAt,
          token: created.token,
          tokenId: created.tokenId,
          env,
          ...(d.url ? { url: d.url } : {}),
        };
        writeLine(io.stdout, JSON.stringify(json, null, 2));
      } else {
        for (const line of envLines(env)) writeLine(io.stdout, line);
      }
      writeLine(
        io.stderr,
        `Created deployment ${d.id} of app ${d.app}. Its entrypoint token (id ${created.tokenId}) is shown only once: keep this output.`,
      );
      if (d.url) writeLine(io.stderr, `Once an instance connects, it is served at ${d.url}`);
      if (given === undefined && created.entrypointPort && !listener) {
        writeLine(
          io.stderr,
          `Warning: the server serves entrypoints on port ${created.entrypointPort} (-listen-entrypoint), which ${conn.settings.address} does not say how to reach: WAYPOINT_SERVER_ADDR is ${address}. Pass -entrypoint-addr=HOST:${created.entrypointPort}.`,
        );
      }
      if (isLocalOnlyAddress(address)) {
        writeLine(
          io.stderr,
          `Warning: WAYPOINT_SERVER_ADDR=${address} only works on this host; entrypoints on other hosts cannot reach it.` +
            (given === undefined ? " Pass -entrypoint-addr=HOST:PORT with an address they can reach." : ""),
        );
      }
      return 0;
    } finally {
      conn.close();
    }
  },
};

export const deploymentList: Command = {
  name: "deployment list",
  summary: "List deployments, of one app or of all",
  help:
    "URL is the deployment's own URL (http://APP--vN.DOMAIN:PORT; http://APP.DOMAIN:PORT reaches the app's latest\n" +
    'deployment), "-" when it has none: the URL service is off for the server or the app. -json prints\n' +
    '[{"id", "app", "sequence", "createdAt", "connectedInstances", "url"}], "url" left out when there is none.',
  flags: [
    { name: "app", type: "string", usage: "only this app's deployments", placeholder: "NAME" },
    { name: "json", type: "boolean", usage: "print JSON" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const deployments = await conn.listDeployments(flags.string("app") ?? "");
      if (flags.bool("json")) {
        writeLine(io.stdout, JSON.stringify(deployments, null, 2));
        return 0;
      }
      if (deployments.length === 0) {
        const app = flags.string("app");
        writeLine(
          io.stderr,
          `No deployments${app ? ` of app ${app}` : ""} yet. Create one with \`waypoint deployment create -app=${app ?? "NAME"}\`.`,
        );
        return 0;
      }
      const now = Date.now();
      writeLine(
        io.stdout,
        table(
          ["ID", "APP", "CREATED", "CONNECTED INSTANCES", "URL"],
          deployments.map((d) => [
            d.id,
            d.app,
            ago(d.createdAt, now),
            String(d.connectedInstances),
            d.url ?? "-",
          ]),
        ),
      );
      return 0;
    } finally {
      conn.close();
    }
  },
};
