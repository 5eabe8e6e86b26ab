/**
 * Notifies subscribers when the state index advances. The index is an
 * in-memory number on the store, so one timer polls it for all watchers
 * (no per-stream work while nothing changes).
 */
export class StateWatch {
  private readonly listeners = new Set<(index: number) => void>();
  private last: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly read: () => number,
    private readonly intervalMs = 200,
  ) {
    this.last = read();
  }

  subscribe(fn: (index: number) => void): () => void {
    this.listeners.add(fn);
    this.timer ??= setInterval(() => this.poll(), this.intervalMs);
    return () => {
      this.listeners.delete(fn);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  current(): number {
    return this.read();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private poll(): void {
    const index = this.read();
    if (index === this.last) return;
    this.last = index;
    for (const fn of this.listeners) fn(index);
  }
}
