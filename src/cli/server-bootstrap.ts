import type { Command } from "./command.js";
import { writeLine } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";

export const serverBootstrap: Command = {
  name: "server bootstrap",
  summary: "Get the first management token (works once per server)",
  help: "Prints the token alone on the last line of stdout and guidance on stderr, so scripts can capture it:\n  TOKEN=$(waypoint server bootstrap -server-addr=127.0.0.1:9701)",
  flags: [...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    const conn = connect(flags, io);
    try {
      const token = await conn.bootstrap();
      writeLine(
        io.stderr,
        `Bootstrapped the server at ${conn.address}. This management token is shown only once;`,
      );
      writeLine(
        io.stderr,
        "store it somewhere safe. To save it in a context, with TOKEN holding this command's",
      );
      writeLine(io.stderr, `output (e.g. TOKEN=$(waypoint server bootstrap -server-addr=${conn.address})):`);
      writeLine(
        io.stderr,
        `  waypoint context create -server-addr=${conn.address} -server-token="$TOKEN" -set-default NAME`,
      );
      writeLine(io.stdout, token.token);
      return 0;
    } finally {
      conn.close();
    }
  },
};
