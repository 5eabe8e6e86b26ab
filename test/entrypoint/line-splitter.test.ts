import test from "ava";
import fc from "fast-check";
import { LineSplitter } from "../../src/entrypoint/line-splitter.js";

function split(reads: string[], max = 1024): string[] {
  const out: string[] = [];
  const s = new LineSplitter(max, (b) => out.push(b.toString()));
  for (const r of reads) s.feed(Buffer.from(r));
  s.flush();
  return out;
}

test("emits whole lines only, keeping a partial line until its end arrives", (t) => {
  t.deepEqual(split(["a\nb", "c\nd\n", "e"]), ["a\n", "bc\n", "d\n", "e"]);
});

test("a read without a newline is kept, then joined", (t) => {
  t.deepEqual(split(["ab", "cd", "ef\n"]), ["abcdef\n"]);
});

test("a partial line longer than the limit is passed on in pieces", (t) => {
  t.deepEqual(split(["aaaa", "bbbb", "c\n"], 6), ["aaaabbbb", "c\n"]);
});

test("whatever the reads, the output is the input, and every piece but the last ends a line", (t) => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: fc.constantFrom("a", "b", "\n") })), (reads) => {
      const out = split(reads);
      t.is(out.join(""), reads.join(""));
      for (const piece of out.slice(0, -1)) if (!piece.endsWith("\n")) return false;
      return true;
    }),
  );
});

test("the fed buffer may be read into again after each feed: what is kept was copied", (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ unit: fc.constantFrom("a", "b", "\n"), maxLength: 40 })),
      fc.integer({ min: 1, max: 30 }),
      (reads, max) => {
        const scratch = Buffer.alloc(64);
        const out: string[] = [];
        const s = new LineSplitter(max, (b) => out.push(b.toString()));
        for (const r of reads) {
          const n = scratch.write(r);
          s.feed(scratch.subarray(0, n));
          scratch.fill("#");
        }
        s.flush();
        return out.join("") === reads.join("") && out.every((piece) => !piece.includes("#"));
      },
    ),
  );
  t.pass();
});

test("skip drops the lines a read ends, as feed would with every piece refused, and keeps the rest", (t) => {
  const out: string[] = [];
  const s = new LineSplitter(1024, (b) => out.push(b.toString()));
  s.feed(Buffer.from("one\ntw"));
  t.is(s.skip(Buffer.from("o\nthree\nfo")).toString(), "o\nthree\n", "two lines: two\\n and three\\n");
  s.feed(Buffer.from("ur\n"));
  t.is(s.skip(Buffer.from("no newline")).length, 0);
  s.feed(Buffer.from("!\n"));
  t.deepEqual(out, ["one\n", "four\n", "no newline!\n"]);
});

test("mixing feed and skip, every line is either emitted whole or counted by skip", (t) => {
  const countLines = (text: string) =>
    text.split("\n").length - 1 + (text !== "" && !text.endsWith("\n") ? 1 : 0);
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.string({ unit: fc.constantFrom("a", "b", "\n"), maxLength: 30 }), fc.boolean())),
      (reads) => {
        const out: string[] = [];
        const s = new LineSplitter(1 << 20, (b) => out.push(b.toString()));
        let skipped = 0;
        for (const [text, skip] of reads) {
          if (skip) skipped += countLines(s.skip(Buffer.from(text)).toString());
          else s.feed(Buffer.from(text));
        }
        s.flush();
        const input = reads.map(([text]) => text).join("");
        const emitted = out.join("");
        // Each emitted piece is whole lines of the input; together with the skipped ones, all of them.
        const lines = input.split(/(?<=\n)/);
        for (const line of emitted.split(/(?<=\n)/)) if (line !== "" && !lines.includes(line)) return false;
        return countLines(emitted) + skipped === countLines(input);
      },
    ),
  );
  t.pass();
});
