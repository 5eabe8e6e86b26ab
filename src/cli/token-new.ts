import { AppError } from "../protocol/errors.js";
import { TOKEN_KINDS } from "../protocol/tokens.js";
import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";

export const tokenNew: Command = {
  name: "token new",
  summary: "Create a token (management token required)",
  help:
    "Kinds: management (everything), readonly (list and inspect, no changes, no snapshots), runner (runner\n" +
    "RPCs), entrypoint (only the entrypoint RPCs, only for one deployment: needs -app and -deployment).\n" +
    "The token is printed alone on the last line of stdout, once; the server keeps only its hash.",
  flags: [
    { name: "kind", type: "string", usage: `one of ${TOKEN_KINDS.join(", ")}`, placeholder: "KIND" },
    { name: "app", type: "string", usage: "entrypoint tokens: the app", placeholder: "NAME" },
    { name: "deployment", type: "string", usage: "entrypoint tokens: the deployment id", placeholder: "ID" },
    { name: "description", type: "string", usage: "a note shown in listings", placeholder: "TEXT" },
    ...CONNECTION_FLAGS,
    ...EMULATION_FLAGS,
  ],
  async run(flags, io) {
    const kind = flags.string("kind");
    if (!kind) throw new AppError("USAGE", `-kind is required (one of ${TOKEN_KINDS.join(", ")})`);
    const conn = connect(flags, io);
    try {
      const token = await conn.createToken({
        kind,
        app: flags.string("app") ?? "",
        deployment: flags.string("deployment") ?? "",
        description: flags.string("description") ?? "",
      });
      writeLine(io.stderr, `Created a ${token.kind} token (id ${token.id}). It is shown only once:`);
      writeLine(io.stdout, token.token);
      return 0;
    } finally {
      conn.close();
    }
  },
};
