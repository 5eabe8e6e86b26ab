import { Box, Text } from "ink";
import type { ServerStatusInfo, StagedRestore } from "../client/connection.js";
import { type SnapshotsState, snapshotIndex } from "./console-state.js";
import { age, bytes, cell } from "./format.js";
import type { SnapshotFileInfo } from "./snapshot-desk.js";
import type { Polled } from "./use-poll.js";

/** What the console learnt of a file by verifying it. */
export interface Verified {
  readonly ok: boolean;
  readonly at: number;
  readonly message: string;
}

export interface SnapshotsScreenProps {
  readonly dir: string;
  readonly files: Polled<SnapshotFileInfo[]>;
  readonly staged: Polled<StagedRestore>;
  readonly status: Polled<ServerStatusInfo>;
  readonly verified: ReadonlyMap<string, Verified>;
  readonly state: SnapshotsState;
  readonly now: number;
  readonly height: number;
  readonly width: number;
}

/** "2026-12-05 04:01:00" from an RFC 3339 time, as stored (UTC). */
function when(iso: string): string {
  return iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "");
}

/** One line about what a file holds, for lists and confirmations. */
export function describeFile(f: SnapshotFileInfo): string {
  if (f.meta)
    return `${f.name}: ${f.meta.id}, created ${when(f.meta.createdAt)}, state index ${f.meta.index}, server ${f.meta.server.version}`;
  return `${f.name}: ${f.encrypted ? "encrypted (its meta needs the key)" : (f.problem ?? "unread")}, ${bytes(f.bytes)}`;
}

/** The snapshot files in the directory, the staged restore, and the selected file's meta. */
export function SnapshotsScreen({
  dir,
  files,
  staged,
  status,
  verified,
  state,
  now,
  height,
  width,
}: SnapshotsScreenProps) {
  const list = files.data ?? [];
  const selected = snapshotIndex(
    state,
    list.map((f) => f.name),
  );
  const inspecting = list.find((f) => f.name === state.inspecting);
  const last = status.data?.lastSnapshot;
  const s = staged.data;
  const detailRows = inspecting ? 7 : 0;
  const room = Math.max(2, height - 5 - detailRows);
  const first = Math.max(0, Math.min(selected - Math.floor(room / 2), list.length - room));
  // The creation time only where there is room (it is in the details and the confirmations too).
  const showCreated = width >= 100;
  const nameWidth = Math.max(20, Math.min(48, width - 33 - (showCreated ? 20 : 0)));
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>Snapshots</Text> in {dir}
        <Text dimColor>
          {files.data ? ` · ${list.length} file${list.length === 1 ? "" : "s"}` : ""}
          {files.at !== undefined ? ` · listed ${age(files.at, now)} ago` : ""}
        </Text>
      </Text>
      <Text wrap="truncate-end">
        {"  "}last taken:{" "}
        {last ? (
          <Text>
            {age(Date.parse(last.takenAt), now)} ago{" "}
            <Text dimColor>
              ({last.id}, state index {last.index})
            </Text>
          </Text>
        ) : status.data ? (
          <Text color="yellow">never on this server · s takes one</Text>
        ) : (
          <Text dimColor>unknown</Text>
        )}
      </Text>
      {files.error ? (
        <Text color="red" wrap="truncate-end">
          ✖ {files.error.message}
        </Text>
      ) : null}
      <Text dimColor>
        {"   "}
        {cell("FILE", nameWidth)} {cell("SIZE", 9)} {showCreated ? `${cell("CREATED", 19)} ` : ""}
        {cell("INDEX", 6)} VERIFIED
      </Text>
      {files.data === undefined ? (
        <Text dimColor>{files.error ? "" : "Reading the directory…"}</Text>
      ) : list.length === 0 ? (
        <Text dimColor>{"   "}No snapshot files here yet: s takes one.</Text>
      ) : (
        list.slice(first, first + room).map((f, i) => {
          const at = first + i;
          const v = verified.get(f.name);
          return (
            <Text key={f.name} inverse={at === selected} wrap="truncate-end">
              {at === selected ? "› " : "  "} {cell(f.name, nameWidth)} {cell(bytes(f.bytes), 9)}{" "}
              {showCreated
                ? `${cell(f.meta ? when(f.meta.createdAt) : f.encrypted ? "encrypted" : "?", 19)} `
                : ""}
              {cell(f.meta ? String(f.meta.index) : f.encrypted ? "(enc)" : "", 6)}{" "}
              {v ? (
                <Text color={v.ok ? "green" : "red"}>{v.ok ? `✓ ${age(v.at, now)} ago` : "✖ failed"}</Text>
              ) : f.problem ? (
                <Text color="red">✖ {f.problem}</Text>
              ) : (
                <Text dimColor>not yet (v)</Text>
              )}
            </Text>
          );
        })
      )}
      <Text wrap="truncate-end">
        {"  "}staged restore:{" "}
        {s === undefined ? (
          <Text dimColor>unknown</Text>
        ) : s.staged ? (
          <Text color="yellow">
            {s.meta.id} (index {s.meta.index}) · x cancels
          </Text>
        ) : (
          <Text color="green">none</Text>
        )}
      </Text>
      {s?.staged ? (
        <Text dimColor>
          {"  "}staged {age(Date.parse(s.stagedAt), now)} ago; the server applies it at its next start
        </Text>
      ) : null}
      {inspecting ? <FileDetails file={inspecting} verified={verified.get(inspecting.name)} /> : null}
    </Box>
  );
}

function FileDetails({ file, verified }: { file: SnapshotFileInfo; verified: Verified | undefined }) {
  const m = file.meta;
  const tables = m
    ? Object.entries(m.tables)
        .map(([name, rows]) => `${name} ${rows}`)
        .join(", ")
    : "";
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold wrap="truncate-end">
        {file.name} <Text dimColor>{bytes(file.bytes)}</Text>
      </Text>
      {m ? (
        <>
          <Text wrap="truncate-end">
            {m.id} · created {when(m.createdAt)} · state index {m.index} · schema {m.schemaVersion} · format{" "}
            {m.format}
          </Text>
          <Text wrap="truncate-end">
            server {m.server.version}
            {m.server.emulated ? " (emulated)" : ""} · rows: {tables}
          </Text>
        </>
      ) : (
        <Text wrap="truncate-end">{describeFile(file)}</Text>
      )}
      <Text
        wrap="truncate-end"
        color={verified ? (verified.ok ? "green" : "red") : undefined}
        dimColor={!verified}
      >
        {verified ? verified.message : "not verified in this console yet: v runs the full verification"}
      </Text>
    </Box>
  );
}
