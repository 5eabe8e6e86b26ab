import test from "ava";
import fc from "fast-check";
import { type Sized, SizeHeap } from "../../src/server/runtime/size-heap.js";

interface Item extends Sized {
  bytes: number;
  readonly name: string;
}

const item = (name: string, bytes: number): Item => ({ name, bytes, heapIndex: -1 });

test("largest is the item with the most bytes, after sizes change either way and items leave", (t) => {
  const heap = new SizeHeap<Item>();
  const [a, b, c, d] = [item("a", 10), item("b", 30), item("c", 20), item("d", 5)];
  for (const x of [a, b, c, d]) heap.add(x);
  t.is(heap.largest()?.name, "b");
  b.bytes = 1;
  heap.update(b);
  t.is(heap.largest()?.name, "c");
  d.bytes = 50;
  heap.update(d);
  t.is(heap.largest()?.name, "d");
  heap.remove(d);
  t.is(d.heapIndex, -1);
  t.is(heap.largest()?.name, "c");
  for (const x of [c, a, b]) heap.remove(x);
  t.is(heap.size, 0);
  t.is(heap.largest(), undefined);
});

test("property: after any adds, size changes and removals the heap's largest is the largest item", (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("add" as const), bytes: fc.nat(1000) }),
    fc.record({ kind: fc.constant("update" as const), pick: fc.nat(), bytes: fc.nat(1000) }),
    fc.record({ kind: fc.constant("remove" as const), pick: fc.nat() }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300, size: "max" }), (ops) => {
      const heap = new SizeHeap<Item>();
      const items: Item[] = [];
      for (const [n, o] of ops.entries()) {
        if (o.kind === "add") {
          const x = item(`x${n}`, o.bytes);
          items.push(x);
          heap.add(x);
        } else if (items.length > 0) {
          const x = items[o.pick % items.length]!;
          if (o.kind === "update") {
            x.bytes = o.bytes;
            heap.update(x);
          } else {
            items.splice(items.indexOf(x), 1);
            heap.remove(x);
          }
        }
        if (heap.size !== items.length) return false;
        const most = Math.max(-1, ...items.map((x) => x.bytes));
        if ((heap.largest()?.bytes ?? -1) !== most) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});
