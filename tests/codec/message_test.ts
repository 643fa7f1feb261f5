import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeMessage,
  encodeMessage,
  MAX_INDEX,
  MAX_START_VALUE,
  MAX_TERM,
  MESSAGE_TYPE_CODES,
  toWire,
  validateMessage,
  type WireMessage,
} from "../../src/codec/message.ts";
import { encode } from "../../src/codec/msgpack.ts";
import {
  type ByteSource,
  encodeFrame,
  encodeFrames,
  FrameError,
  FrameReader,
} from "../../src/codec/frame.ts";
import type { Message, MessageType } from "../../src/raft/types.ts";
import { assertProperty } from "../support/property.ts";

const WIRE_TYPES: MessageType[] = [
  "prop",
  "app",
  "appResp",
  "vote",
  "voteResp",
  "preVote",
  "preVoteResp",
  "snap",
  "heartbeat",
  "heartbeatResp",
  "transferLeader",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
];
const LOCAL_TYPES: MessageType[] = ["hup", "beat", "snapStatus", "unreachable"];

// Terms and indexes up to the wire limit (2^52), the limit itself included.
const nat = fc.oneof(
  fc.maxSafeNat().map((n) => Math.floor(n / 2)),
  fc.constant(MAX_TERM),
  fc.nat(),
);
const nodeId = fc.string({ minLength: 1, maxLength: 12 });
const bytes = fc.uint8Array({ maxLength: 64 });
const plain = { noNullPrototype: true } as const;
const entry = fc.record({
  term: nat,
  index: nat,
  type: fc.constantFrom(0 as const, 1 as const),
  data: bytes,
}, plain);
const snapshot = fc.record({
  metadata: fc.record({
    index: nat,
    term: nat,
    conf: fc.record({
      voters: fc.array(nodeId, { maxLength: 5 }),
      learners: fc.array(nodeId, { maxLength: 3 }),
    }, plain),
  }, plain),
  data: bytes,
}, plain);

/** Any valid wire message, every optional field sometimes present. */
function messageOf(type: MessageType): fc.Arbitrary<Message> {
  return fc.record(
    {
      type: fc.constant(type),
      from: nodeId,
      to: nodeId,
      term: nat,
      logTerm: nat,
      index: nat,
      entries: fc.array(entry, { maxLength: 4 }),
      commit: nat,
      snapshot,
      reject: fc.boolean(),
      rejectHint: nat,
      context: fc.string({ maxLength: 20 }),
      transferee: nodeId,
    },
    {
      noNullPrototype: true,
      requiredKeys: type === "snap"
        ? ["type", "from", "to", "term", "snapshot"]
        : ["type", "from", "to", "term"],
    },
  );
}
const anyMessage = fc.constantFrom(...WIRE_TYPES).chain(messageOf);

function base(type: MessageType = "app"): Message {
  return { type, from: "n1", to: "n2", term: 3 };
}

/** Wire form of a valid message, patched. */
function wire(patch: Record<string, unknown>, drop: string[] = []): Uint8Array {
  const w: WireMessage = { ...toWire(base()), ...patch };
  for (const k of drop) delete w[k];
  return encode(w);
}

function rejects(b: Uint8Array, pattern: RegExp, reason?: string): void {
  const r = decodeMessage(b);
  assert.equal(r.ok, false, "expected a rejection");
  if (r.ok) return;
  assert.match(r.error, pattern);
  if (reason !== undefined) assert.equal(r.reason, reason);
}

Deno.test("codec round-trips every message kind", (t) => {
  for (const type of WIRE_TYPES) {
    assertProperty(
      t,
      fc.property(messageOf(type), (m) => {
        const r = decodeMessage(encodeMessage(m));
        assert.ok(r.ok, r.ok ? "" : r.error);
        assert.deepStrictEqual(r.message, m);
        assert.equal(validateMessage(m), undefined);
      }),
      { numRuns: 150 },
    );
  }
});

Deno.test("codec drops undefined fields and keeps data binary", () => {
  const m: Message = {
    type: "app",
    from: "n1",
    to: "n2",
    term: 1,
    index: 5,
    logTerm: 1,
    commit: undefined,
    context: undefined,
    entries: [{ term: 1, index: 6, type: 0, data: new Uint8Array([1, 2, 3]) }],
  };
  const w = toWire(m);
  assert.deepStrictEqual(Object.keys(w).sort(), [
    "e",
    "f",
    "i",
    "lt",
    "m",
    "t",
    "y",
  ]);
  const r = decodeMessage(encodeMessage(m));
  assert.ok(r.ok);
  assert.equal("commit" in r.message, false);
  const data = r.message.entries![0].data;
  assert.equal(Object.getPrototypeOf(data), Uint8Array.prototype);
  assert.deepStrictEqual([...data], [1, 2, 3]);
  // Compact: a heartbeat is a couple of dozen bytes.
  const hb = encodeMessage({
    type: "heartbeat",
    from: "n1",
    to: "n2",
    term: 7,
    commit: 100,
  });
  assert.ok(hb.byteLength < 30, `heartbeat is ${hb.byteLength} bytes`);
});

Deno.test("codec refuses to encode local message kinds", () => {
  for (const type of LOCAL_TYPES) {
    assert.throws(() => encodeMessage(base(type)), TypeError);
    assert.match(validateMessage(base(type)) ?? "", /cannot be sent/);
  }
});

Deno.test("codec rejects malformed messages with a reason", () => {
  const cases: [Uint8Array, RegExp][] = [
    [encode([1, 2, 3]), /not a map/],
    [encode(42), /not a map/],
    [encode("app"), /not a map/],
    [encode(new Uint8Array([1])), /not a map/],
    [wire({}, ["y"]), /missing field type/],
    [wire({}, ["f"]), /missing field from/],
    [wire({}, ["t"]), /missing field to/],
    [wire({}, ["m"]), /missing field term/],
    [wire({ y: 99 }), /unknown message kind 99/],
    [wire({ y: "app" }), /unknown message kind app/],
    [wire({ y: -1 }), /unknown message kind/],
    [wire({ f: "" }), /from is not a valid node id/],
    [wire({ f: 7 }), /from is not a valid node id/],
    [wire({ t: "x".repeat(300) }), /to is not a valid node id/],
    [wire({ m: -1 }), /term is not a non-negative integer/],
    [wire({ m: 1.5 }), /term is not/],
    [wire({ m: 2 ** 53 }), /term is not/],
    [wire({ m: "1" }), /term is not/],
    [wire({ m: NaN }), /term is not/],
    [wire({ i: -3 }), /index is not/],
    [wire({ lt: true }), /logTerm is not/],
    [wire({ c: 1e300 }), /commit is not/],
    [wire({ h: -1 }), /rejectHint is not/],
    [wire({ e: "x" }), /entries is not an array/],
    [wire({ e: [[1, 2, 0]] }), /entry 0 is not a 4-element array/],
    [wire({ e: [[1, 2, 2, new Uint8Array()]] }), /entry 0 type is not 0 or 1/],
    [wire({ e: [[1, 2, 0, "data"]] }), /entry 0 data is not binary/],
    [
      wire({ e: [[1, 2, 0, new Uint8Array()], [-1, 2, 0, new Uint8Array()]] }),
      /entry 1 term/,
    ],
    [wire({ e: [[1, 2.5, 0, new Uint8Array()]] }), /entry 0 index/],
    [wire({ e: [{ term: 1 }] }), /entry 0 is not/],
    [wire({ y: MESSAGE_TYPE_CODES.snap }), /snap message without a snapshot/],
    [wire({ s: [1, 1, [], []] }), /snapshot is not a 5-element array/],
    [
      wire({ s: [1, 1, "n1", [], new Uint8Array()] }),
      /snapshot voters is not an array/,
    ],
    [wire({ s: [1, 1, [""], [], new Uint8Array()] }), /snapshot voters holds/],
    [wire({ s: [1, 1, [], [3], new Uint8Array()] }), /snapshot learners holds/],
    [wire({ s: [1, -1, [], [], new Uint8Array()] }), /snapshot term/],
    [wire({ s: [1, 1, [], [], [1, 2]] }), /snapshot data is not binary/],
    [wire({ r: 1 }), /reject is not a boolean/],
    [wire({ x: 5 }), /context is not a string/],
    [wire({ tr: "" }), /transferee is not/],
    [wire({ zz: 1 }), /unknown field "zz"/],
    [wire({ __proto__x: 1 }), /unknown field/],
  ];
  for (const [b, pattern] of cases) rejects(b, pattern, "invalid");
  for (const type of LOCAL_TYPES) {
    rejects(
      wire({ y: MESSAGE_TYPE_CODES[type] }),
      new RegExp(`local message kind ${type} is not allowed`),
      "invalid",
    );
  }
});

Deno.test("codec refuses terms and indexes over 2^52", () => {
  assert.equal(MAX_TERM, 2 ** 52);
  assert.equal(MAX_INDEX, 2 ** 52);
  // The wire limits sit strictly below the start-up limit, which leaves
  // room for arithmetic below the largest exact integer.
  assert.ok(MAX_TERM < MAX_START_VALUE && MAX_INDEX < MAX_START_VALUE);
  assert.ok(Number.isSafeInteger(MAX_START_VALUE + 2 ** 32));
  const top = Number.MAX_SAFE_INTEGER; // 2^53 − 1: a safe integer, too large
  const empty = new Uint8Array();
  const cases: [Uint8Array, RegExp][] = [
    [wire({ m: top }), /term 9007199254740991 is over the limit/],
    [wire({ m: MAX_TERM + 1 }), /term 4503599627370497 is over the limit/],
    [wire({ lt: MAX_TERM + 1 }), /logTerm .* over the limit/],
    [wire({ i: MAX_INDEX + 1 }), /index .* over the limit/],
    [wire({ c: top }), /commit .* over the limit/],
    [wire({ h: top }), /rejectHint .* over the limit/],
    [wire({ e: [[top, 1, 0, empty]] }), /entry 0 term .* over the limit/],
    [wire({ e: [[1, top, 0, empty]] }), /entry 0 index .* over the limit/],
    [wire({ s: [top, 1, [], [], empty] }), /snapshot index .* over the limit/],
    [wire({ s: [1, top, [], [], empty] }), /snapshot term .* over the limit/],
  ];
  for (const [b, pattern] of cases) rejects(b, pattern, "invalid");
  // The limit itself is accepted, in every field.
  const edge: Message = {
    type: "app",
    from: "n1",
    to: "n2",
    term: MAX_TERM,
    logTerm: MAX_TERM,
    index: MAX_INDEX,
    commit: MAX_INDEX,
    rejectHint: MAX_INDEX,
    entries: [{ term: MAX_TERM, index: MAX_INDEX, type: 0, data: empty }],
  };
  const r = decodeMessage(encodeMessage(edge));
  assert.ok(r.ok, r.ok ? "" : r.error);
  assert.deepStrictEqual(r.message, edge);
  // The sender applies the same rule.
  assert.match(validateMessage({ ...edge, term: top }) ?? "", /over the limit/);
  assert.equal(validateMessage(edge), undefined);
});

Deno.test("codec reports undecodable bytes", () => {
  const good = encodeMessage(base());
  rejects(new Uint8Array(0), /Undecodable/, "undecodable");
  rejects(good.subarray(0, good.byteLength - 1), /Undecodable/, "undecodable");
  rejects(new Uint8Array([...good, 0]), /Undecodable/, "undecodable");
  rejects(new Uint8Array([0x92, 0x01]), /Undecodable/, "undecodable");
});

Deno.test("codec never throws on random garbage", (t) => {
  assertProperty(
    t,
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const r = decodeMessage(b);
      if (r.ok) assert.equal(validateMessage(r.message), undefined);
    }),
    { numRuns: 5000 },
  );
  // Well-formed msgpack of arbitrary shape.
  assertProperty(
    t,
    fc.property(fc.anything({ withTypedArray: false }), (v) => {
      let b: Uint8Array;
      try {
        b = encode(v);
      } catch {
        return;
      }
      const r = decodeMessage(b);
      assert.equal(r.ok, false);
    }),
    { numRuns: 2000 },
  );
  // Valid messages with bytes flipped, cut or appended.
  assertProperty(
    t,
    fc.property(
      anyMessage,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      (m, flips) => {
        const b = encodeMessage(m).slice();
        for (const [i, v] of flips) b[i % b.byteLength] = v;
        const r = decodeMessage(b);
        if (r.ok) assert.equal(validateMessage(r.message), undefined);
        decodeMessage(b.subarray(0, flips[0][0] % b.byteLength));
      },
    ),
    { numRuns: 3000 },
  );
});

// ---- Framing (src/codec/frame.ts) ----

/** A byte source that hands out `data` in pieces of the given sizes. */
function source(
  data: Uint8Array,
  pieces: number[] = [data.byteLength],
): ByteSource {
  let off = 0;
  let i = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (off >= data.byteLength) return Promise.resolve(null);
      const want = pieces[i++ % pieces.length] || 1;
      const n = Math.min(want, p.byteLength, data.byteLength - off);
      p.set(data.subarray(off, off + n));
      off += n;
      return Promise.resolve(n);
    },
  };
}

Deno.test("frame reader splits streams however they are chunked", async (t) => {
  await assertProperty(
    t,
    fc.asyncProperty(
      fc.array(
        fc.record({
          kind: fc.integer({ min: 0, max: 255 }),
          body: fc.uint8Array({ maxLength: 300 }),
        }),
        { maxLength: 20 },
      ),
      fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 5 }),
      fc.integer({ min: 5, max: 128 }),
      async (frames, pieces, bufferBytes) => {
        const r = new FrameReader(source(encodeFrames(frames), pieces), {
          bufferBytes,
        });
        for (const f of frames) {
          const got = await r.read(1000);
          assert.ok(got !== null);
          assert.equal(got.kind, f.kind);
          assert.deepStrictEqual([...got.body], [...f.body]);
        }
        assert.equal(await r.read(1000), null);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("frame reader rejects bad lengths and truncation", async () => {
  const frameErr = async (
    data: number[] | Uint8Array,
    max: number,
    code: string,
  ) => {
    const r = new FrameReader(source(new Uint8Array(data), [2]));
    await assert.rejects(() => r.read(max), (e: unknown) => {
      assert.ok(e instanceof FrameError);
      assert.equal(e.code, code);
      return true;
    });
  };
  await frameErr([0, 0, 0, 0, 1], 100, "bad_length");
  await frameErr([0xff, 0xff, 0xff, 0xff], 100, "frame_too_large");
  await frameErr([0, 0, 0, 102], 100, "frame_too_large");
  await frameErr([0, 0, 0, 9, 4, 1, 2], 100, "truncated");
  await frameErr([0, 0], 100, "truncated");
  await frameErr(
    encodeFrame(4, new Uint8Array(5000)).subarray(0, 4000),
    10_000,
    "truncated",
  );
  // A frame exactly at the limit passes.
  const ok = new FrameReader(source(encodeFrame(4, new Uint8Array(99))));
  assert.equal((await ok.read(100))?.body.byteLength, 99);
});

Deno.test("frame reader keeps buffered bytes when resized", async () => {
  const frames = [1, 2, 3].map((k) => ({
    kind: k,
    body: new Uint8Array(k * 3).fill(k),
  }));
  const r = new FrameReader(source(encodeFrames(frames)), { bufferBytes: 8 });
  assert.equal((await r.read(100))?.kind, 1);
  r.resize(4096);
  assert.equal(r.bufferBytes, 4096);
  assert.deepStrictEqual([...(await r.read(100))!.body], [2, 2, 2, 2, 2, 2]);
  assert.deepStrictEqual((await r.read(100))?.body.byteLength, 9);
  assert.equal(await r.read(100), null);
  assert.throws(() => r.resize(2), RangeError);
});
