import type { ProtocolRange } from "./range.js";

/**
 * The inventory of protocol versions in use, in the JSON shape of DESIGN §5:
 * printed by `waypoint versions -json` and read by the planner
 * (`waypoint upgrade plan -inventory FILE`). Fields marked "addition" are not
 * in DESIGN §5; they are optional and only present when meaningful.
 */
export interface InventoryJson {
  readonly server: InventoryServer;
  /** Go duration, e.g. "168h". */
  readonly activeWindow: string;
  readonly components: readonly InventoryComponent[];
  readonly rejected: readonly InventoryRejected[];
}

export interface InventoryServer {
  readonly version: string;
  readonly api: ProtocolRange;
  readonly entrypoint: ProtocolRange;
  /** Addition: present (true) when the server emulates a catalog release. */
  readonly emulated?: true;
}

export const COMPONENT_KINDS = ["client", "runner", "entrypoint"] as const;
export type ComponentKind = (typeof COMPONENT_KINDS)[number];

/** Fields shared by accepted and rejected components. */
interface InventoryEntry {
  readonly kind: ComponentKind;
  /** Clients only: "cli" or "ui". */
  readonly via?: "cli" | "ui";
  readonly id: string;
  readonly version: string;
  /** Clients and runners (for rejected ones: the range offered). */
  readonly api?: ProtocolRange;
  /** Entrypoints (for rejected ones: the range offered). */
  readonly entrypoint?: ProtocolRange;
  /** RFC 3339. */
  readonly lastSeen: string;
  /** Addition: RFC 3339. */
  readonly firstSeen?: string;
  /** Addition: present (true) when the component emulates a catalog release. */
  readonly emulated?: true;
}

export interface InventoryComponent extends InventoryEntry {
  /** Entrypoints. */
  readonly app?: string;
  readonly deployment?: string;
  /** Addition: entrypoints' instance id and host. */
  readonly instance?: string;
  readonly hostname?: string;
  readonly connected: boolean;
}

export interface InventoryRejected extends InventoryEntry {
  readonly reason: string;
  readonly count: number;
}

/** Maps a client-kind header value to the inventory kind (and `via` for clients). */
export function componentKindOf(clientKind: "cli" | "ui" | "runner" | "entrypoint"): {
  kind: ComponentKind;
  via?: "cli" | "ui";
} {
  return clientKind === "cli" || clientKind === "ui"
    ? { kind: "client", via: clientKind }
    : { kind: clientKind };
}

/** Formats milliseconds as a Go duration the way `time.Duration.String` would for whole hours/minutes/seconds. */
export function formatGoDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** Parses a Go-style duration such as "168h", "90m", "1h30m", "500ms", "7d" is not Go and is rejected. */
export function parseGoDuration(text: string): number | undefined {
  // Go accepts a bare "0" (and only that number) without a unit.
  if (text === "0") return 0;
  if (!/^(\d+(\.\d+)?(h|m|s|ms))+$/.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    const n = Number(m[1]);
    total += n * { h: 3_600_000, m: 60_000, s: 1000, ms: 1 }[m[2] as "h" | "m" | "s" | "ms"];
  }
  const ms = Math.round(total);
  // Absurdly long values ("9999…9h") would turn into Infinity or lose precision.
  return Number.isSafeInteger(ms) ? ms : undefined;
}
