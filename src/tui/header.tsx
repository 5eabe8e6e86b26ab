import { Box, Text } from "ink";
import type { VersionInfo } from "../protocol/version-info.js";
import { age, range } from "./format.js";
import { SCREENS, type ScreenName } from "./keymap.js";
import type { Polled } from "./use-poll.js";

export interface HeaderProps {
  /** Where the console is connected. */
  readonly address: string;
  /** What the header says about where the server came from, e.g. "embedded server, started by this console". */
  readonly note?: string;
  readonly server: Polled<VersionInfo>;
  readonly screen: ScreenName;
  readonly now: number;
}

/** Where the console is connected, the server's version, the connection's state and the screens' tabs. */
export function Header({ address, note, server, screen, now }: HeaderProps) {
  const v = server.data;
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>waypoint</Text> {address}
        {v ? (
          <Text>
            {" "}
            server {v.version}
            {v.emulated ? <Text color="yellow"> (emulated)</Text> : null} · api {range(v.api)} · entrypoint{" "}
            {range(v.entrypoint)}
          </Text>
        ) : null}
        {server.at ? <Text dimColor> · checked {age(server.at, now)} ago</Text> : null}
      </Text>
      {note ? (
        <Text dimColor wrap="wrap">
          {note}
        </Text>
      ) : null}
      {server.error ? (
        <Text color="red" wrap="truncate-end">
          ✖ {server.error.message}
          {server.retryAt ? ` · retrying in ${Math.max(0, Math.ceil((server.retryAt - now) / 1000))}s` : ""}
          {v ? " · last data kept (stale)" : ""}
        </Text>
      ) : null}
      <Box>
        {SCREENS.map((s, i) => (
          <Text key={s.name} inverse={s.name === screen}>
            {` ${i + 1} ${s.title} `}
          </Text>
        ))}
        <Text dimColor> ? help · q quit</Text>
      </Box>
    </Box>
  );
}
