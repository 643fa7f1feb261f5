import assert from "node:assert/strict";
import { ByteWriter } from "../../src/codec/byte_writer.ts";

Deno.test("ByteWriter grows past its estimate and keeps every byte in order", async () => {
  const w = new ByteWriter(16);
  const expected: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const piece = Uint8Array.from({ length: i % 37 }, (_, j) => (i + j) & 0xff);
    if (i % 3 === 0) await w.reserve(piece.byteLength * 50);
    w.write(piece);
    expected.push(...piece);
  }
  assert.equal(w.length, expected.length);
  const out = await w.finish();
  assert.deepEqual([...out], expected);
});

Deno.test("ByteWriter.finish returns a view when the estimate was close, a copy of the exact size otherwise", async () => {
  const close = new ByteWriter(100);
  close.write(new Uint8Array(95).fill(1));
  const a = await close.finish();
  assert.equal(a.byteLength, 95);
  assert.equal(a.buffer.byteLength, 100);

  const far = new ByteWriter(1000);
  far.write(new Uint8Array(10).fill(2));
  const b = await far.finish();
  assert.equal(b.byteLength, 10);
  assert.equal(b.buffer.byteLength, 10);
});

Deno.test("ByteWriter.setUint32 patches a length written earlier", async () => {
  const w = new ByteWriter();
  w.write(new Uint8Array(4));
  w.write(Uint8Array.of(7, 7, 7));
  w.setUint32(0, 3);
  assert.deepEqual([...await w.finish()], [0, 0, 0, 3, 7, 7, 7]);
  assert.throws(() => new ByteWriter().setUint32(0, 1), RangeError);
});
