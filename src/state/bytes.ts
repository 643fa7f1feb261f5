/**
 * Byte helpers shared inside `src/state/` (not re-exported).
 *
 * @module
 */

/**
 * A new view of the same bytes. msgpackr caches a DataView as a property of
 * the array it decodes; decoding a fresh view keeps the caller's array
 * untouched.
 */
export function freshView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
