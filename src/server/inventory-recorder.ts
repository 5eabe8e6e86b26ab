import type { ClientIdentity } from "../protocol/headers.js";
import {
  componentKindOf,
  formatGoDuration,
  type InventoryComponent,
  type InventoryJson,
  type InventoryRejected,
} from "../protocol/inventory.js";
import type { VersionInfo } from "../protocol/version-info.js";
import { encodeComponentField } from "./inventory-wire.js";
import type { ServerLogger } from "./logger.js";
import type { ComponentRecord, RejectedRecord, Store } from "./store/store.js";

/** Extra facts about an entrypoint caller, from its token scope and registration. */
export interface EntrypointFacts {
  readonly app?: string;
  readonly deployment?: string;
  readonly instance?: string;
  readonly hostname?: string;
}

/**
 * Records who talks to the server (DESIGN §5) without putting SQLite on the
 * hot path: calls update an in-memory map, and a timer flushes what changed
 * in one transaction every `flushMs`. Connected-ness (open streams) lives only
 * in memory: after a restart nothing is connected until it reconnects.
 *
 * Lifecycle: start() arms the timer; stop() flushes and disarms. Reads
 * (inventory()) flush first, so they always see every recorded call.
 */
export class InventoryRecorder {
  private readonly pending = new Map<string, ComponentRecord>();
  private readonly pendingRejections = new Map<string, RejectedRecord>();
  /** Last fields flushed per key, to skip rewrites of unchanged components. */
  private readonly lastFlushed = new Map<string, { sig: string; at: number }>();
  private readonly open = new Map<string, number>();
  /** What each connected component last told us, to write it again into a restored database. */
  private readonly live = new Map<string, { who: ClientIdentity; facts?: EntrypointFacts }>();
  /**
   * The components table, kept in memory so that reading the inventory (`waypoint versions`, the
   * console) is not a read and a conversion of every row each time: with 10,000 entrypoints that
   * took hundreds of milliseconds per read. Loaded from the store at the first read; each
   * successful flush merges its batch the way the store's upsert does (first seen kept, the later
   * last seen); resync() drops it. Keyed by the table's key (kind + id). Sound because the
   * recorder is the only writer of components.
   */
  private table: Map<string, CachedComponent> | undefined;
  /** `table` in the store's order (kind, version, id); undefined when that order may have changed. */
  private ordered: CachedComponent[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly opts: {
      readonly server: VersionInfo;
      readonly activeWindowMs: number;
      readonly flushMs: number;
      readonly logger: ServerLogger;
      readonly now?: () => number;
    },
  ) {}

  start(): void {
    // The table is read now rather than by the first `waypoint versions`, which would wait for it.
    try {
      this.components();
    } catch (err) {
      this.opts.logger.warn({ err }, "could not read the inventory yet; its first read will try again");
    }
    this.timer ??= setInterval(() => this.flushSafely(), this.opts.flushMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }

  /** An accepted call. Cheap: one map write. */
  seen(who: ClientIdentity, facts?: EntrypointFacts): void {
    const now = this.now();
    const key = `${who.kind}\u0000${who.id}`;
    const sig = `${who.version}|${who.api.min},${who.api.current}|${who.entrypoint.min},${who.entrypoint.current}|${who.emulated}|${facts?.app}|${facts?.deployment}|${facts?.instance}|${facts?.hostname}`;
    const flushed = this.lastFlushed.get(key);
    // Unchanged and flushed less than a second ago: lastSeen is fresh enough.
    if (flushed && flushed.sig === sig && now - flushed.at < 1000 && !this.pending.has(key)) return;
    const iso = new Date(now).toISOString();
    this.pending.set(key, {
      ...identityFields(who),
      ...stripEmpty(facts),
      firstSeen: iso,
      lastSeen: iso,
    });
    this.lastFlushed.set(key, { sig, at: flushed?.sig === sig ? flushed.at : 0 });
  }

  /** A refused call. */
  rejected(who: ClientIdentity, reason: string): void {
    const iso = new Date(this.now()).toISOString();
    const key = `${who.kind}\u0000${who.id}`;
    const prev = this.pendingRejections.get(key);
    this.pendingRejections.set(key, {
      ...identityFields(who),
      reason,
      count: (prev?.count ?? 0) + 1,
      firstSeen: prev?.firstSeen ?? iso,
      lastSeen: iso,
    });
  }

  /** A stream opened by `who`; returns the function to call when it closes. */
  connected(who: ClientIdentity, facts?: EntrypointFacts): () => void {
    const key = `${who.kind}\u0000${who.id}`;
    this.open.set(key, (this.open.get(key) ?? 0) + 1);
    this.live.set(key, facts ? { who, facts } : { who });
    this.seen(who, facts);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.open.get(key) ?? 1) - 1;
      if (n <= 0) {
        this.open.delete(key);
        this.live.delete(key);
      } else this.open.set(key, n);
      this.lastFlushed.delete(key);
      this.seen(who, facts);
    };
  }

  /**
   * After the database was replaced (live restore): everything recorded
   * about the old one is moot, and components connected now are written into
   * the new one, so the inventory shows them without waiting for their next call.
   */
  resync(): void {
    this.table = undefined;
    this.ordered = undefined;
    this.pending.clear();
    this.pendingRejections.clear();
    this.lastFlushed.clear();
    for (const { who, facts } of this.live.values()) this.seen(who, facts);
  }

  flush(): void {
    if (this.pending.size > 0) {
      const batch = [...this.pending.values()];
      // Cleared only after the write succeeded: a failed flush is retried.
      this.store.upsertComponents(batch);
      this.pending.clear();
      this.remember(batch);
      const at = this.now();
      for (const c of batch) {
        const key = `${clientKindKey(c)}\u0000${c.id}`;
        const entry = this.lastFlushed.get(key);
        if (entry) entry.at = at;
      }
    }
    if (this.pendingRejections.size > 0) {
      this.store.recordRejections([...this.pendingRejections.values()]);
      this.pendingRejections.clear();
    }
    this.forgetStale();
  }

  /**
   * lastFlushed only saves rewrites within the coalescing second; entries for
   * components not heard from for a minute are dropped so the map does not
   * grow with every entrypoint process that ever ran.
   */
  private forgetStale(): void {
    const before = this.now() - 60_000;
    for (const [key, entry] of this.lastFlushed) {
      if (entry.at < before && !this.pending.has(key)) this.lastFlushed.delete(key);
    }
  }

  /** Entries kept to coalesce writes (for tests of the bound). */
  get trackedCount(): number {
    return this.lastFlushed.size;
  }

  /** The inventory in the DESIGN §5 shape; inactive components only with `includeInactive`. */
  inventory(includeInactive = false): InventoryJson {
    const { head, components } = this.read(includeInactive, (c, connected) => c.view(connected));
    return { ...head, components };
  }

  /**
   * The inventory with its components as GetInventory's answer bytes (inventory-wire.ts), each
   * encoded once per change of the component rather than on every read.
   */
  encodedInventory(includeInactive = false): {
    head: Omit<InventoryJson, "components">;
    components: Buffer[];
  } {
    return this.read(includeInactive, (c, connected) => c.wire(connected));
  }

  private read<T>(
    includeInactive: boolean,
    pick: (c: CachedComponent, connected: boolean) => T,
  ): { head: Omit<InventoryJson, "components">; components: T[] } {
    // A flush that fails (a full disk) leaves the calls pending and answers with what is stored: the
    // inventory is a read, and reads go on while writes cannot.
    this.flushSafely();
    const since = new Date(this.now() - this.opts.activeWindowMs).toISOString();
    const components: T[] = [];
    for (const c of this.components()) {
      const connected = this.open.has(c.openKey);
      if (!includeInactive && !connected && c.record.lastSeen < since) continue;
      components.push(pick(c, connected));
    }
    const rejected: InventoryRejected[] = this.store
      .listRejected()
      .filter((r) => includeInactive || r.lastSeen >= since)
      .map((r) => ({
        kind: r.kind,
        ...(r.via ? { via: r.via } : {}),
        id: r.id,
        version: r.version,
        ...(r.kind === "entrypoint" ? { entrypoint: r.entrypoint } : { api: r.api }),
        reason: r.reason,
        count: r.count,
        lastSeen: r.lastSeen,
        firstSeen: r.firstSeen,
        ...(r.emulated ? { emulated: true as const } : {}),
      }));
    const s = this.opts.server;
    return {
      head: {
        server: {
          version: s.version,
          api: s.api,
          entrypoint: s.entrypoint,
          ...(s.emulated ? { emulated: true } : {}),
        },
        activeWindow: formatGoDuration(this.opts.activeWindowMs),
        rejected,
      },
      components,
    };
  }

  /** The components table in the store's order, from memory (read from the store the first time). */
  private components(): CachedComponent[] {
    if (!this.table) {
      this.table = new Map();
      for (const c of this.store.listComponents()) this.table.set(tableKey(c), new CachedComponent(c));
      this.ordered = undefined;
    }
    this.ordered ??= [...this.table.values()].sort(storeOrder);
    return this.ordered;
  }

  /** A batch the store took: merged into the table in memory as the store's upsert merged it. */
  private remember(batch: readonly ComponentRecord[]): void {
    if (!this.table) return;
    for (const c of batch) {
      const key = tableKey(c);
      const old = this.table.get(key)?.record;
      const merged = old
        ? { ...c, firstSeen: old.firstSeen, lastSeen: old.lastSeen > c.lastSeen ? old.lastSeen : c.lastSeen }
        : c;
      const cached = new CachedComponent(merged);
      // Encoded here, on the flush timer, rather than all at once by the next read.
      cached.wire(this.open.has(cached.openKey));
      this.table.set(key, cached);
      if (!old || old.version !== c.version) this.ordered = undefined;
    }
  }

  private flushSafely(): void {
    try {
      this.flush();
    } catch (err) {
      this.opts.logger.error({ err }, "inventory flush failed; will retry");
    }
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }
}

/** One row of the components table and its inventory entries, built once per change. */
class CachedComponent {
  /** The key of `open` (client kind + id) under which its streams are counted. */
  readonly openKey: string;
  private readonly views: [InventoryComponent | undefined, InventoryComponent | undefined] = [
    undefined,
    undefined,
  ];
  private readonly wires: [Buffer | undefined, Buffer | undefined] = [undefined, undefined];

  constructor(readonly record: ComponentRecord) {
    this.openKey = `${clientKindKey(record)}\u0000${record.id}`;
  }

  /** The inventory entry; shared between reads, so callers must not change it (they copy it). */
  view(connected: boolean): InventoryComponent {
    const i = connected ? 1 : 0;
    const c = this.record;
    this.views[i] ??= Object.freeze({
      kind: c.kind,
      ...(c.via ? { via: c.via } : {}),
      id: c.id,
      version: c.version,
      ...(c.kind === "entrypoint" ? { entrypoint: c.entrypoint } : { api: c.api }),
      ...(c.app ? { app: c.app } : {}),
      ...(c.deployment ? { deployment: c.deployment } : {}),
      ...(c.instance ? { instance: c.instance } : {}),
      ...(c.hostname ? { hostname: c.hostname } : {}),
      connected,
      lastSeen: c.lastSeen,
      firstSeen: c.firstSeen,
      ...(c.emulated ? { emulated: true as const } : {}),
    });
    return this.views[i];
  }

  /** The entry as GetInventory's answer bytes, made once (inventory-wire.ts). */
  wire(connected: boolean): Buffer {
    const i = connected ? 1 : 0;
    this.wires[i] ??= encodeComponentField(this.view(connected));
    return this.wires[i];
  }
}

/** The components table's key. */
function tableKey(c: { kind: string; id: string }): string {
  return `${c.kind}\u0000${c.id}`;
}

/** `ORDER BY kind, version, id` as SQLite compares these ASCII columns. */
function storeOrder(a: CachedComponent, b: CachedComponent): number {
  const x = a.record;
  const y = b.record;
  if (x.kind !== y.kind) return x.kind < y.kind ? -1 : 1;
  if (x.version !== y.version) return x.version < y.version ? -1 : 1;
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

/** The client-kind key a stored component was recorded under. */
function clientKindKey(c: { kind: string; via?: string }): string {
  return c.kind === "client" ? (c.via ?? "cli") : c.kind;
}

/** What a caller's headers say about it, as stored for accepted and refused components alike. */
function identityFields(who: ClientIdentity) {
  const { kind, via } = componentKindOf(who.kind);
  return {
    kind,
    ...(via ? { via } : {}),
    id: who.id,
    version: who.version,
    api: who.api,
    entrypoint: who.entrypoint,
    emulated: who.emulated,
  };
}

function stripEmpty(facts: EntrypointFacts | undefined): EntrypointFacts {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(facts ?? {})) if (v) out[k] = v;
  return out;
}
