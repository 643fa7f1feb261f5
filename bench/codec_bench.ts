/**
 * Codec benchmarks (`deno bench -A bench/codec_bench.ts`): the pieces on
 * every write's path between nodes and into the state machine.
 *
 * - A peer AppendEntries with 64 entries of 256 bytes: encode, decode with
 *   validation, and framing.
 * - A put command: encode and decode, with the shared msgpackr encoder we
 *   use and with `@msgpack/msgpack` for comparison (the choice between the
 *   two was made on these numbers).
 *
 * @module
 */

import { decode as mpDecode, encode as mpEncode } from "@msgpack/msgpack";
import { decodeMessage, encodeMessage } from "../src/codec/message.ts";
import { encodeFrame } from "../src/codec/frame.ts";
import { FrameKind } from "../src/transport/tcp/protocol.ts";
import { decode, encode } from "../src/codec/msgpack.ts";
import { type Entry, EntryType, type Message } from "../src/raft/types.ts";

const entries: Entry[] = Array.from({ length: 64 }, (_, i) => ({
  term: 3,
  index: 1000 + i,
  type: EntryType.Normal,
  data: new Uint8Array(256).fill(i),
}));
const app: Message = {
  type: "app",
  from: "n1",
  to: "n2",
  term: 3,
  index: 999,
  logTerm: 3,
  commit: 998,
  entries,
};
const appBytes = encodeMessage(app);

Deno.bench("peer message: encode AppendEntries (64 × 256 B)", {
  group: "message",
  baseline: true,
}, () => {
  encodeMessage(app);
});
Deno.bench("peer message: decode + validate AppendEntries (64 × 256 B)", {
  group: "message",
}, () => {
  const r = decodeMessage(appBytes);
  if (!r.ok) throw new Error(r.error);
});
Deno.bench("peer message: frame an encoded AppendEntries", {
  group: "message",
}, () => {
  encodeFrame(FrameKind.Message, appBytes);
});

const command = {
  type: "put",
  key: "app/feature/0123456789",
  value: "x".repeat(256),
  requestId: { client: "c1", seq: 12345 },
};
const ours = encode(command);
const theirs = mpEncode(command);

Deno.bench("put command: encode, msgpackr (ours)", {
  group: "command encode",
  baseline: true,
}, () => {
  encode(command);
});
Deno.bench("put command: encode, @msgpack/msgpack", {
  group: "command encode",
}, () => {
  mpEncode(command);
});
Deno.bench("put command: decode, msgpackr (ours)", {
  group: "command decode",
  baseline: true,
}, () => {
  decode(ours);
});
Deno.bench("put command: decode, @msgpack/msgpack", {
  group: "command decode",
}, () => {
  mpDecode(theirs);
});
