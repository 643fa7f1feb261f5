/**
 * msgpack for raftlock: one shared `Packr` (from npm `msgpackr`) configured
 * the same way everywhere, so every encoder and decoder agree.
 *
 * - `useRecords: false`: plain msgpack maps, readable by any msgpack
 *   implementation and with no hidden structure state between calls.
 * - Binary values come back as plain `Uint8Array` (never a Node `Buffer`), so
 *   decoded data compares equal to what was encoded.
 *
 * @module
 */

import { Packr, RESET_BUFFER_MODE } from "msgpackr";

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/**
 * Encodes a value as msgpack. The result is a plain `Uint8Array` view; it is
 * not overwritten by later calls.
 */
export function encode(value: unknown): Uint8Array {
  const b = packr.pack(value);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Encodes a value into the encoder's own buffer and returns a view that
 * the next `encode` or `encodeTransient` call overwrites: for large pieces
 * that are copied at once (snapshot chunks), so they do not leave a
 * trail of spent buffers behind.
 */
export function encodeTransient(value: unknown): Uint8Array {
  const b = packr.pack(value, RESET_BUFFER_MODE);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Decodes one msgpack value. Binary values in the result are plain
 * `Uint8Array`s that share memory with `bytes` (copy them if `bytes` will be
 * reused). Throws on malformed input.
 */
export function decode<T = unknown>(bytes: Uint8Array): T {
  // msgpackr slices binary values from its input: hand it a plain
  // Uint8Array so the slices are Uint8Arrays too, not Buffers.
  const src = Object.getPrototypeOf(bytes) === Uint8Array.prototype
    ? bytes
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return packr.unpack(src) as T;
}
