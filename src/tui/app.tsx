import { Box, Text, useApp, useInput, useStdout } from "ink";
import { useEffect, useMemo, useReducer, useRef, useState } from "react";
import type { Catalog } from "../protocol/catalog.js";
import { type ConsoleClient, logTail } from "./console-client.js";
import { consoleReducer, INITIAL_STATE, type ViewFacts } from "./console-state.js";
import { Header } from "./header.js";
import { HelpOverlay } from "./help-overlay.js";
import { splitKeys } from "./keymap.js";
import { OverviewScreen } from "./overview-screen.js";
import { RuntimeScreen } from "./runtime-screen.js";
import { usePoll } from "./use-poll.js";
import { groupVersions } from "./versions-model.js";
import { VersionsScreen } from "./versions-screen.js";

export interface AppProps {
  readonly client: ConsoleClient;
  /** Shown under the address, e.g. that the server is embedded. */
  readonly note?: string;
  /** The release catalog plans are made from, and the file it was read from. */
  readonly catalog: Catalog;
  readonly catalogPath: string;
  /** How often data is fetched again. */
  readonly pollMs?: number;
}

/** The console's root: polls the server, keeps input in one reducer, and picks the screen. */
export function App({ client, note, catalog: _catalog, catalogPath: _catalogPath, pollMs = 2000 }: AppProps) {
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
  const onRuntime = state.screen === "runtime";
  const instances = usePoll(
    () => (onRuntime ? client.listInstances() : Promise.resolve([])),
    pollMs,
    state.refresh,
    onRuntime ? "runtime" : "",
  );
  const jobs = usePoll(
    () => (onRuntime ? client.listJobs() : Promise.resolve([])),
    pollMs,
    state.refresh,
    onRuntime ? "runtime" : "",
  );
  const logsOf = onRuntime ? state.runtime.logsOf : undefined;
  const logs = usePoll(
    () => (logsOf ? logTail(client, logsOf, 8) : Promise.resolve([])),
    pollMs,
    state.refresh,
    logsOf ?? "",
  );
  const groups = useMemo(
    () => (inventory.data ? groupVersions(inventory.data, state.versions.filter) : []),
    [inventory.data, state.versions.filter],
  );
  // What the keys act on, as rendered last: a ref written during render, so a key that arrives before
  // Ink re-registers the input handler still sees the rows on screen, never an older list.
  const view = useRef<ViewFacts>({ versionRows: [], instances: [] });
  view.current = {
    versionRows: groups.map((g) => g.key),
    instances: (instances.data ?? []).map((i) => i.id),
  };
  useInput((input, key) => {
    for (const k of splitKeys(input, key)) dispatch({ type: "key", key: k, view: view.current });
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
      ) : state.screen === "runtime" ? (
        <RuntimeScreen
          inventory={inventory}
          instances={instances}
          jobs={jobs}
          logs={logs}
          state={state.runtime}
          now={now}
        />
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
