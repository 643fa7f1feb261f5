import assert from "node:assert/strict";
import fc from "fast-check";
import { decode, encode } from "../../src/codec/msgpack.ts";
import { assertProperty } from "../support/property.ts";

Deno.test("msgpack round-trips Uint8Array as plain Uint8Array", () => {
  const value = {
    a: new Uint8Array([1, 2, 3]),
    b: [new Uint8Array(0)],
    s: "x",
    n: 2 ** 40,
  };
  const bytes = encode(value);
  assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
  const back = decode<typeof value>(bytes);
  assert.equal(Object.getPrototypeOf(back.a), Uint8Array.prototype);
  assert.deepStrictEqual(back, value);
  // From a Buffer-like subclass input too.
  class Sub extends Uint8Array {}
  const sub = new Sub(bytes);
  assert.equal(
    Object.getPrototypeOf(decode<typeof value>(sub).a),
    Uint8Array.prototype,
  );
});

Deno.test("msgpack results are not overwritten by later calls", (t) => {
  assertProperty(
    t,
    fc.property(
      fc.array(fc.jsonValue(), { minLength: 2, maxLength: 50 }),
      (values) => {
        const encoded = values.map((v) => encode(v));
        const copies = encoded.map((e) => e.slice());
        for (let i = 0; i < 200; i++) encode({ filler: i, pad: "x".repeat(i) });
        encoded.forEach((e, i) => assert.deepStrictEqual(e, copies[i]));
        encoded.forEach((e, i) =>
          assert.deepStrictEqual(decode(e), decode(copies[i]))
        );
      },
    ),
    { numRuns: 50 },
  );
});
