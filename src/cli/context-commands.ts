import { Connection } from "../client/connection.js";
import {
  contextsDir,
  deleteContext,
  listContexts,
  loadContext,
  saveContext,
  selectContext,
} from "../client/contexts.js";
import { clientIdentity, installationId, resolveVersionInfo } from "../client/identity.js";
import { AppError } from "../protocol/errors.js";
import { formatVersion } from "../protocol/version-info.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { table } from "./format.js";

const oneName = (args: readonly string[], what: string): string => {
  if (args.length !== 1)
    throw new AppError("USAGE", `expected exactly one context NAME (${what}), got ${args.length}`);
  return args[0]!;
};

export const contextCreate: Command = {
  name: "context create",
  summary: "Save a server address and token under a name",
  args: "NAME",
  flags: [
    { name: "server-addr", type: "string", usage: "server gRPC address HOST:PORT", placeholder: "ADDR" },
    { name: "server-token", type: "string", usage: "token to authenticate with", placeholder: "TOKEN" },
    { name: "server-tls", type: "boolean", usage: "connect with TLS" },
    { name: "server-tls-skip-verify", type: "boolean", usage: "with TLS, do not verify the certificate" },
    { name: "set-default", type: "boolean", usage: "make it the current context" },
    { name: "force", type: "boolean", usage: "replace an existing context of that name" },
  ],
  async run(flags, io) {
    const name = oneName(flags.args, "the name to save it as");
    const address = flags.string("server-addr");
    if (!address) throw new AppError("USAGE", "-server-addr is required");
    const dir = contextsDir(io.env);
    saveContext(
      dir,
      {
        name,
        address,
        ...(flags.string("server-token") ? { token: flags.string("server-token") } : {}),
        tls: flags.bool("server-tls"),
        tlsSkipVerify: flags.bool("server-tls-skip-verify"),
        createdAt: new Date().toISOString(),
      },
      {
        setDefault: flags.bool("set-default") || listContexts(dir).current === undefined,
        force: flags.bool("force"),
      },
    );
    writeLine(io.stderr, `Saved context ${name} (${address}).`);
    return 0;
  },
};

export const contextUse: Command = {
  name: "context use",
  summary: "Make a saved context the current one",
  args: "NAME",
  flags: [],
  async run(flags, io) {
    const name = oneName(flags.args, "the context to use");
    selectContext(contextsDir(io.env), name);
    writeLine(io.stderr, `Now using context ${name}.`);
    return 0;
  },
};

export const contextList: Command = {
  name: "context list",
  summary: "List saved contexts",
  flags: [{ name: "json", type: "boolean", usage: "print JSON (tokens are never printed)" }],
  async run(flags, io) {
    const { contexts, current } = listContexts(contextsDir(io.env));
    if (flags.bool("json")) {
      const safe = contexts.map(({ token, ...c }) => ({
        ...c,
        hasToken: token !== undefined,
        current: c.name === current,
      }));
      writeLine(io.stdout, JSON.stringify(safe, null, 2));
      return 0;
    }
    if (contexts.length === 0) {
      writeLine(
        io.stderr,
        "No contexts saved. Create one with `waypoint context create -server-addr=ADDR NAME`.",
      );
      return 0;
    }
    const rows = contexts.map((c) => [
      c.name === current ? `* ${c.name}` : `  ${c.name}`,
      c.address,
      c.tls ? (c.tlsSkipVerify ? "yes (unverified)" : "yes") : "no",
      c.token ? "yes" : "no",
    ]);
    writeLine(io.stdout, table(["  NAME", "ADDRESS", "TLS", "TOKEN"], rows));
    return 0;
  },
};

export const contextDelete: Command = {
  name: "context delete",
  summary: "Delete a saved context",
  args: "NAME",
  flags: [],
  async run(flags, io) {
    const name = oneName(flags.args, "the context to delete");
    deleteContext(contextsDir(io.env), name);
    writeLine(io.stderr, `Deleted context ${name}.`);
    return 0;
  },
};

export const contextVerify: Command = {
  name: "context verify",
  summary: "Check that a context reaches its server and that its token is accepted",
  args: "[NAME]",
  flags: [],
  async run(flags, io) {
    const dir = contextsDir(io.env);
    const listed = listContexts(dir);
    const name = flags.args[0] ?? listed.current;
    if (!name) throw new AppError("USAGE", "no context named and no current context; pass NAME");
    const ctx = loadContext(dir, name);
    const conn = new Connection(
      {
        address: ctx.address,
        ...(ctx.token ? { token: ctx.token } : {}),
        tls: ctx.tls,
        tlsSkipVerify: ctx.tlsSkipVerify,
        source: `context ${name}`,
      },
      clientIdentity("cli", installationId(dir), resolveVersionInfo({}, io.env)),
    );
    try {
      const server = await conn.versionInfo();
      writeLine(io.stdout, `Context ${name}: reached ${ctx.address}, server ${formatVersion(server)}.`);
      if (!ctx.token) {
        writeLine(io.stdout, "No token saved in this context.");
        return 0;
      }
      try {
        await conn.inventory();
        writeLine(io.stdout, "Token accepted (management or readonly).");
      } catch (err) {
        // A valid runner or entrypoint token may not list the inventory: it is still a valid token.
        if (!(err instanceof AppError) || err.code !== "PERMISSION_DENIED") throw err;
        writeLine(io.stdout, "Token accepted (a runner or entrypoint token: it cannot list the inventory).");
      }
      return 0;
    } finally {
      conn.close();
    }
  },
};
