import { Box, Text } from "ink";
import { KEYMAP, SCREENS, type ScreenName } from "./keymap.js";

export interface HelpOverlayProps {
  readonly screen: ScreenName;
}

/** The keys that work here, generated from the keymap. */
export function HelpOverlay({ screen }: HelpOverlayProps) {
  const title = SCREENS.find((s) => s.name === screen)?.title ?? screen;
  const rows = KEYMAP.filter((k) => k.scope === "global" || k.scope === screen);
  const width = Math.max(...rows.map((r) => r.keys.length));
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>Keys ({title})</Text>
      {rows.map((r) => (
        <Text key={`${r.keys}-${r.description}`}>
          <Text color="cyan">{r.keys.padEnd(width)}</Text> {r.description}
        </Text>
      ))}
      <Text dimColor>esc or ? closes this help</Text>
    </Box>
  );
}
