import { Box, Text, useApp, useInput, useStdout } from "ink";
import { useEffect, useMemo, useReducer, useState } from "react";
import type { ConsoleClient } from "./console-client.js";
import { consoleReducer, INITIAL_STATE } from "./console-state.js";
import { Header } from "./header.js";
import { HelpOverlay } from "./help-overlay.js";
import { splitKeys } from "./keymap.js";
import { OverviewScreen } from "./overview-screen.js";
import { usePoll } from "./use-poll.js";
import { groupVersions } from "./versions-model.js";
import { VersionsScreen } from "./versions-screen.js";

export interface AppProps {
  readonly client: ConsoleClient;
  /** Shown under the address, e.g. that the server is embedded. */
  readonly note?: string;
  /** How often data is fetched again. */
  readonly pollMs?: number;
}

/** The console's root: polls the server, keeps input in one reducer, and picks the screen. */
export function App({ client, note, pollMs = 2000 }: AppProps) {
  const [state, dispatch] = useReducer(consoleReducer, INITIAL_STATE);
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  const server = usePoll(() => client.versionInfo(), pollMs, state.refresh);
  const inventory = usePoll(() => client.inventory(), pollMs, state.refresh);
  const staged = usePoll(() => client.stagedRestore(), pollMs * 5, state.refresh);
  const groups = useMemo(
    () => (inventory.data ? groupVersions(inventory.data, state.versions.filter) : []),
    [inventory.data, state.versions.filter],
  );
  useInput((input, key) => {
    const view = { versionRows: groups.map((g) => g.key) };
    for (const k of splitKeys(input, key)) dispatch({ type: "key", key: k, view });
  });
  useEffect(() => {
    if (state.quit) exit();
  }, [state.quit, exit]);
  const rows = stdout.rows > 0 ? stdout.rows : 24;
  return (
    <Box flexDirection="column">
      <Header
        address={client.address}
        {...(note ? { note } : {})}
        server={server}
        screen={state.screen}
        now={now}
      />
      {state.help ? (
        <HelpOverlay screen={state.screen} />
      ) : state.screen === "overview" ? (
        <OverviewScreen inventory={inventory} staged={staged} now={now} staleMs={pollMs * 3} />
      ) : (
        <VersionsScreen
          inventory={inventory}
          groups={groups}
          state={state.versions}
          now={now}
          height={rows - 5}
        />
      )}
      {inventory.error && !server.error ? (
        <Text color="red">inventory: {inventory.error.message}</Text>
      ) : null}
    </Box>
  );
}
