/**
 * Bytes on the wire and on disk: msgpack ({@linkcode encode},
 * {@linkcode decode}), the compact form of Raft messages
 * ({@linkcode encodeMessage}, {@linkcode decodeMessage}), length-prefixed
 * frames ({@linkcode encodeFrame}, {@linkcode FrameReader}) and a growable
 * buffer for large encodings ({@linkcode ByteWriter}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMessage, encodeMessage } from "./mod.ts";
 *
 * const beat = { type: "heartbeat" as const, from: "n1", to: "n2", term: 3 };
 * const decoded = decodeMessage(encodeMessage(beat));
 * assert.equal(decoded.ok && decoded.message.term, 3);
 * ```
 *
 * @module
 */

export { ByteWriter } from "./byte_writer.ts";
export { concatYielding } from "./concat.ts";
export {
  type ByteSource,
  encodeFrame,
  encodeFrames,
  type Frame,
  FRAME_HEADER_BYTES,
  FrameError,
  type FrameErrorCode,
  FrameReader,
  type FrameReaderOptions,
  MAX_FRAME_LENGTH,
  writeFrameHeader,
} from "./frame.ts";
export {
  decodeMessage,
  type DecodeResult,
  encodeMessage,
  fromWire,
  MAX_INDEX,
  MAX_NODE_ID_LENGTH,
  MAX_START_VALUE,
  MAX_TERM,
  MESSAGE_TYPE_CODES,
  toWire,
  validateMessage,
  validateWire,
  type WireMessage,
} from "./message.ts";
export { decode, encode, encodeTransient } from "./msgpack.ts";
