import { render } from "ink";
import { createElement } from "react";
import { AppError } from "../protocol/errors.js";
import { App } from "../tui/app.js";
import type { Command } from "./command.js";
import { CONNECTION_FLAGS, connect, EMULATION_FLAGS } from "./common-flags.js";

export const ui: Command = {
  name: "ui",
  summary: "The operations console (needs a terminal)",
  help: `An interactive console on the server: what talks to it and with which versions, and what needs attention.
Keys: ? help, q quit, tab or 1-9 screens, j/k move, enter expand, / filter, esc back, r refresh.
It connects like every command (flags, WAYPOINT_SERVER_ADDR, the current context). For scripts and pipes use
\`waypoint versions\` and \`waypoint upgrade plan\`, which print the same facts as text or JSON.`,
  flags: [...CONNECTION_FLAGS, ...EMULATION_FLAGS],
  async run(flags, io) {
    if (!io.stdout.isTTY || !io.stdin.isTTY)
      throw new AppError("USAGE", "the console needs a terminal on stdin and stdout", {
        hint: "For scripts and pipes use `waypoint versions [-json]` and `waypoint upgrade plan`.",
      });
    const conn = connect(flags, io, "ui");
    try {
      const app = render(createElement(App, { client: conn }), {
        stdout: io.stdout as NodeJS.WriteStream,
        stdin: io.stdin as NodeJS.ReadStream,
        exitOnCtrlC: false,
        patchConsole: true,
      });
      await app.waitUntilExit();
      return 0;
    } finally {
      conn.close();
    }
  },
};
