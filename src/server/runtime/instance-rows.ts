import { AppError } from "../../protocol/errors.js";
import type { ServerLogger } from "../logger.js";
import type { InstanceRecord, InstanceWrite, Store } from "../store/store.js";

/**
 * Instance rows written behind, in group commits. Each registration wrote its row in a transaction
 * of its own, and each disconnection again: one fsync each (a few milliseconds here), on the loop
 * every call shares, so a fleet registering at once waited on the disk. Writes are queued and
 * written together `delayMs` after the first of them, in order, in one transaction. Reads go
 * through here: `get` sees a queued registration, and `list` writes what is queued first, so no
 * caller sees the delay.
 *
 * A write that fails (a full disk) is kept, in order, and tried again every `retryMs`, with one
 * error logged per episode: the entrypoints are connected all the same, and their rows appear once
 * there is room. A restore of the database drops what is queued (`clear`): the instances reconnect
 * and register against the restored data.
 */
export class InstanceRows {
  private queue: InstanceWrite[] = [];
  /** The latest queued registration of each instance. */
  private readonly queued = new Map<string, InstanceRecord>();
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private closed = false;

  constructor(
    private readonly store: Store,
    private readonly logger: ServerLogger,
    private readonly opts: { readonly delayMs?: number; readonly retryMs?: number } = {},
  ) {}

  /** The instance's row, queued or stored. */
  get(id: string): InstanceRecord | undefined {
    return this.queued.get(id) ?? this.store.getInstance(id);
  }

  /** Every stored row, after writing what is queued (if it cannot be written, what is stored). */
  list(): InstanceRecord[] {
    this.flush();
    return this.store.listInstances();
  }

  upsert(instance: InstanceRecord): void {
    if (this.dropped("registration", instance.id)) return;
    this.queue.push({ op: "upsert", instance });
    this.queued.set(instance.id, instance);
    this.schedule();
  }

  touch(id: string, lastSeen: string): void {
    if (this.dropped("disconnection", id)) return;
    this.queue.push({ op: "touch", id, lastSeen });
    this.schedule();
  }

  /**
   * Writes what is queued now; false when the write failed for want of room (it stays queued and is
   * tried again). Any other failure is not the disk's: the writes are tried one by one, and those
   * that still fail are dropped and logged, so that one bad write cannot hold back every later one.
   */
  flush(): boolean {
    if (this.queue.length === 0) return true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue;
    try {
      this.store.writeInstances(batch);
    } catch (err) {
      if (!isStorageFull(err)) {
        this.writeOneByOne(batch);
        return true;
      }
      if (!this.failing)
        this.logger.error(
          { err, queued: batch.length },
          "could not record instances' registrations; will retry",
        );
      this.failing = true;
      if (!this.closed) this.arm(this.opts.retryMs ?? 1000);
      return false;
    }
    if (this.failing) this.logger.info({ written: batch.length }, "instances' registrations recorded again");
    this.done(batch);
    return true;
  }

  /** Writes what is queued and takes no more (the server is stopping). */
  close(): void {
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.queue.length > 0)
      this.logger.warn(
        { lost: this.queue.length },
        "instances' registrations not recorded at shutdown; the instances register again when they reconnect",
      );
    this.closed = true;
  }

  private writeOneByOne(batch: readonly InstanceWrite[]): void {
    for (const w of batch) {
      try {
        this.store.writeInstances([w]);
      } catch (err) {
        this.logger.error(
          { err, instance: w.op === "upsert" ? w.instance.id : w.id, op: w.op },
          "could not record an instance's registration; dropped",
        );
      }
    }
    this.done(batch);
  }

  private done(batch: readonly InstanceWrite[]): void {
    this.failing = false;
    this.queue = [];
    for (const w of batch)
      if (w.op === "upsert" && this.queued.get(w.instance.id) === w.instance)
        this.queued.delete(w.instance.id);
  }

  private dropped(what: string, id: string): boolean {
    if (this.closed)
      this.logger.debug({ instance: id }, `the server is stopping: an instance's ${what} is not recorded`);
    return this.closed;
  }

  /** Drops what is queued (the database was replaced). */
  clear(): void {
    this.queue = [];
    this.queued.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.failing = false;
  }

  private schedule(): void {
    this.arm(this.opts.delayMs ?? 50);
  }

  /** One timer at a time: the group commit's, or the retry's. */
  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, ms);
    this.timer.unref();
  }
}

function isStorageFull(err: unknown): boolean {
  return err instanceof AppError && err.code === "STORAGE_FULL";
}
