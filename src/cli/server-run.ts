import { SERVER_DEFAULTS } from "../server/offline.js";
import type { Command } from "./command.js";
import { EMULATION_FLAGS, versionInfoFrom } from "./common-flags.js";

export const serverRun: Command = {
  name: "server run",
  summary: "Run the server (headless; logs to stderr)",
  help:
    "Serves gRPC and HTTP (/healthz, /v1/snapshot) until SIGINT or SIGTERM, then stops accepting calls, lets calls\n" +
    "in flight finish, checkpoints the database and exits 0; a copy of the -db file taken afterwards is a complete\n" +
    "offline backup. After a client staged a restore with -exit it stops the same way and exits 75, for a\n" +
    "supervisor to restart it into the restored data. Logs are JSON lines on stderr: -v info, -vv debug,\n" +
    "-vvv trace, or WAYPOINT_LOG_LEVEL.",
  flags: [
    {
      name: "db",
      type: "string",
      usage: `path to the database file (default ${SERVER_DEFAULTS.db}, with a warning)`,
      placeholder: "PATH",
    },
    {
      name: "listen-grpc",
      type: "string",
      usage: "gRPC listen address",
      default: SERVER_DEFAULTS.listenGrpc,
      placeholder: "ADDR",
    },
    {
      name: "listen-http",
      type: "string",
      usage: "HTTP listen address",
      default: SERVER_DEFAULTS.listenHttp,
      placeholder: "ADDR",
    },
    {
      name: "listen-url",
      type: "string",
      usage: "the URL service's listen address (off: no URL service)",
      default: SERVER_DEFAULTS.listenUrl,
      placeholder: "ADDR",
    },
    {
      name: "listen-entrypoint",
      type: "string",
      usage:
        "a listener for entrypoints only, served by a thread of its own so that a fleet's traffic does not slow operators' calls (off: entrypoints use -listen-grpc)",
      default: "off",
      placeholder: "ADDR",
    },
    {
      name: "url-domain",
      type: "string",
      usage: "the domain of the URL service's hostnames (<app>.DOMAIN, <app>--<deployment>.DOMAIN)",
      default: SERVER_DEFAULTS.urlDomain,
      placeholder: "DOMAIN",
    },
    {
      name: "tls-cert-file",
      type: "string",
      usage: "serve TLS (gRPC, HTTP and the URL service) with this PEM certificate",
      placeholder: "FILE",
    },
    {
      name: "tls-key-file",
      type: "string",
      usage: "PEM private key for -tls-cert-file",
      placeholder: "FILE",
    },
    {
      name: "tls-self-signed",
      type: "boolean",
      usage:
        "serve TLS with a self-signed certificate made on first start and kept in the data dir (tls-cert.pem, tls-key.pem); clients trust it with NODE_EXTRA_CA_CERTS",
    },
    {
      name: "tls-san",
      type: "string-list",
      usage:
        "more DNS names or IP addresses for the -tls-self-signed certificate, comma-separated (e.g. wp.example.com,10.0.0.5)",
      placeholder: "NAME,…",
    },
    {
      name: "insecure-plaintext",
      type: "boolean",
      usage:
        "allow plain text (no TLS) on a non-loopback listen address, e.g. behind a TLS-terminating proxy; tokens then travel in clear text",
    },
    {
      name: "active-window",
      type: "string",
      usage: "components seen within this duration count as in use",
      default: SERVER_DEFAULTS.activeWindow,
      placeholder: "DURATION",
    },
    {
      name: "log-buffer-bytes",
      type: "string",
      usage: "app log output kept in memory per instance, oldest dropped first (e.g. 512KiB, 2MiB)",
      default: SERVER_DEFAULTS.logBufferBytes,
      placeholder: "SIZE",
    },
    {
      name: "log-buffer-total",
      type: "string",
      usage:
        "app log output kept in memory for all instances together, at least -log-buffer-bytes (the default rises to it) and at most half of Node's heap limit; over it the largest buffers drop their oldest lines first",
      default: SERVER_DEFAULTS.logBufferTotal,
      placeholder: "SIZE",
    },
    {
      name: "job-lease-timeout",
      type: "string",
      usage:
        "a job whose runner sends nothing about it for this long is taken back: requeued, or failed if it was a running deploy or release",
      default: SERVER_DEFAULTS.jobLeaseTimeout,
      placeholder: "DURATION",
    },
    {
      name: "url-response-timeout",
      type: "string",
      usage:
        "how long the URL service waits for an app's response head, from the end of the request, before it answers 504",
      default: SERVER_DEFAULTS.urlResponseTimeout,
      placeholder: "DURATION",
    },
    {
      name: "max-message-size",
      type: "string",
      usage: "the largest gRPC message the server receives or sends, 2MiB to 16MiB",
      default: SERVER_DEFAULTS.maxMessageSize,
      placeholder: "SIZE",
    },
    {
      name: "max-streams-per-token",
      type: "string",
      usage: "streaming calls open at once under one token (every instance of a deployment shares its token)",
      default: String(SERVER_DEFAULTS.maxStreamsPerToken),
      placeholder: "N",
    },
    {
      name: "max-streams-per-connection",
      type: "string",
      usage: "streaming calls open at once on one client connection (one process)",
      default: String(SERVER_DEFAULTS.maxStreamsPerConnection),
      placeholder: "N",
    },
    {
      name: "auth-failure-limit",
      type: "string",
      usage:
        "failed authentications from one address within a minute before it is refused for a minute (0: no limit)",
      default: String(SERVER_DEFAULTS.authFailureLimit),
      placeholder: "N",
    },
    {
      name: "v",
      type: "count",
      usage: "log more: -v info, -vv debug, -vvv trace",
      env: "WAYPOINT_LOG_LEVEL",
    },
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    // Loaded here: the server's code is needed only by the commands that run one.
    const { createLogger, levelFrom, runServer, serverConfig } = await import("../server/main.js");
    const logger = createLogger(levelFrom(flags.count("v"), io.env.WAYPOINT_LOG_LEVEL), io.stderr);
    const db = flags.string("db");
    if (!db) {
      logger.warn(
        { db: SERVER_DEFAULTS.db },
        `no -db flag given: using ${SERVER_DEFAULTS.db} in the current directory; pass -db=PATH to choose where the data lives`,
      );
    }
    const config = serverConfig({
      ...(db ? { dbPath: db } : {}),
      listenGrpc: flags.string("listen-grpc")!,
      listenHttp: flags.string("listen-http")!,
      listenUrl: flags.string("listen-url")!,
      listenEntrypoint: flags.string("listen-entrypoint")!,
      urlDomain: flags.string("url-domain")!,
      ...(flags.string("tls-cert-file") ? { tlsCertFile: flags.string("tls-cert-file") } : {}),
      ...(flags.string("tls-key-file") ? { tlsKeyFile: flags.string("tls-key-file") } : {}),
      tlsSelfSigned: flags.bool("tls-self-signed"),
      tlsSans: flags.list("tls-san"),
      insecurePlaintext: flags.bool("insecure-plaintext"),
      activeWindow: flags.string("active-window")!,
      logBufferBytes: flags.string("log-buffer-bytes")!,
      // Not given: the config raises the default to -log-buffer-bytes when that is larger.
      ...(flags.has("log-buffer-total") ? { logBufferTotal: flags.string("log-buffer-total")! } : {}),
      jobLeaseTimeout: flags.string("job-lease-timeout")!,
      urlResponseTimeout: flags.string("url-response-timeout")!,
      maxMessageSize: flags.string("max-message-size")!,
      maxStreamsPerToken: flags.string("max-streams-per-token")!,
      maxStreamsPerConnection: flags.string("max-streams-per-connection")!,
      authFailureLimit: flags.string("auth-failure-limit")!,
      logLevel: levelFrom(flags.count("v"), io.env.WAYPOINT_LOG_LEVEL),
      versionInfo: versionInfoFrom(flags, io),
      ...(io.env.WAYPOINT_SNAPSHOT_PASSPHRASE
        ? { restorePassphrase: io.env.WAYPOINT_SNAPSHOT_PASSPHRASE }
        : {}),
    });
    return runServer(config, logger);
  },
};
