/**
 * A readers–writer lock for snapshot work (see SnapshotControl for what each
 * lock guards): any number of shared holders, or one exclusive holder.
 * Waiters are served in arrival order, so a stream of shared holders (takes)
 * cannot starve an exclusive one (a restore).
 */
export class SnapshotLock {
  private holders = 0;
  private heldAlone = false;
  private readonly waiting: { readonly exclusive: boolean; readonly grant: () => void }[] = [];
  private readonly idleWaiters: (() => void)[] = [];

  /** Runs `fn` sharing the lock with other shared holders. */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(false, fn);
  }

  /** Runs `fn` holding the lock alone. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.run(true, fn);
  }

  /** Resolves once nothing holds or waits for the lock. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async run<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    await new Promise<void>((grant) => {
      this.waiting.push({ exclusive, grant });
      this.pump();
    });
    try {
      return await fn();
    } finally {
      if (exclusive) this.heldAlone = false;
      else this.holders -= 1;
      this.pump();
    }
  }

  private pump(): void {
    for (let next = this.waiting[0]; next; next = this.waiting[0]) {
      if (this.heldAlone || (next.exclusive && this.holders > 0)) break;
      this.waiting.shift();
      if (next.exclusive) this.heldAlone = true;
      else this.holders += 1;
      next.grant();
    }
    if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private isIdle(): boolean {
    return !this.heldAlone && this.holders === 0 && this.waiting.length === 0;
  }
}
