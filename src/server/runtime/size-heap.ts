/** What SizeHeap orders: a size it reads, and its own slot in the heap, which only the heap writes. */
export interface Sized {
  readonly bytes: number;
  /** Position in the heap's array; -1 while not in a heap. */
  heapIndex: number;
}

/**
 * A binary max-heap by `bytes`, indexed: each item knows its slot, so an item whose size changed is moved
 * to its place (`update`) and any item is removed in O(log n), without a search. After changing an item's
 * `bytes` the owner must call `update` before the next `largest`.
 */
export class SizeHeap<T extends Sized> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  /** The item with the most bytes (any of them on a tie); undefined when empty. */
  largest(): T | undefined {
    return this.items[0];
  }

  add(item: T): void {
    item.heapIndex = this.items.length;
    this.items.push(item);
    this.up(item.heapIndex);
  }

  /** Moves the item to its place after its `bytes` changed either way. */
  update(item: T): void {
    this.down(this.up(item.heapIndex));
  }

  remove(item: T): void {
    const i = item.heapIndex;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.update(last);
  }

  /** Sifts the item at `i` towards the root while it is larger than its parent; returns its new slot. */
  private up(i: number): number {
    const item = this.items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = this.items[p]!;
      if (parent.bytes >= item.bytes) break;
      this.items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    this.items[i] = item;
    item.heapIndex = i;
    return i;
  }

  private down(i: number): void {
    const item = this.items[i]!;
    const n = this.items.length;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.items[c + 1]!.bytes > this.items[c]!.bytes) c += 1;
      const child = this.items[c]!;
      if (child.bytes <= item.bytes) break;
      this.items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    this.items[i] = item;
    item.heapIndex = i;
  }
}
