import type { ServerLogger } from "../logger.js";
import type { InstanceRecord, InstanceWrite, Store } from "../store/store.js";

/**
 * Instance rows written behind, a transaction per turn of the event loop. Each registration wrote
 * its row in a transaction of its own, and each disconnection again: one fsync each (a few
 * milliseconds here), on the loop every call shares, so a fleet of 10,000 registering at once
 * spent most of its time waiting for the disk. Writes queued in one turn are written together at
 * the end of it (setImmediate runs before the loop reads more requests, so the next call already
 * sees them). `get` sees a queued registration before it is written.
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
  private scheduled = false;
  private retry: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly store: Store,
    private readonly logger: ServerLogger,
    private readonly retryMs = 1000,
  ) {}

  /** The instance's row, queued or stored. */
  get(id: string): InstanceRecord | undefined {
    return this.queued.get(id) ?? this.store.getInstance(id);
  }

  upsert(instance: InstanceRecord): void {
    this.queue.push({ op: "upsert", instance });
    this.queued.set(instance.id, instance);
    this.schedule();
  }

  touch(id: string, lastSeen: string): void {
    this.queue.push({ op: "touch", id, lastSeen });
    this.schedule();
  }

  /** Writes what is queued now; false when the write failed (it stays queued). */
  flush(): boolean {
    if (this.queue.length === 0) return true;
    const batch = this.queue;
    try {
      this.store.writeInstances(batch);
    } catch (err) {
      if (!this.failing)
        this.logger.error(
          { err, queued: batch.length },
          "could not record instances' registrations; will retry",
        );
      this.failing = true;
      this.retry ??= setTimeout(() => {
        this.retry = undefined;
        this.flush();
      }, this.retryMs);
      this.retry.unref();
      return false;
    }
    if (this.failing) this.logger.info({ written: batch.length }, "instances' registrations recorded again");
    this.failing = false;
    this.queue = [];
    for (const w of batch)
      if (w.op === "upsert" && this.queued.get(w.instance.id) === w.instance)
        this.queued.delete(w.instance.id);
    return true;
  }

  /** Drops what is queued (the database was replaced). */
  clear(): void {
    this.queue = [];
    this.queued.clear();
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    this.failing = false;
  }

  private schedule(): void {
    if (this.scheduled || this.failing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }
}
