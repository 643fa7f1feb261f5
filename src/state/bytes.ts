/**
 * Byte helpers shared inside `src/state/` (not re-exported).
 *
 * @module
 */

import { Unpackr } from "msgpackr";

/**
 * A new view of the same bytes. msgpackr caches a DataView as a property of
 * the array it decodes; decoding a fresh view keeps the caller's array
 * untouched.
 */
export function freshView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// Configured as the shared codec (src/codec/msgpack.ts), so values decode
// the same way; used only to read a snapshot a value at a time.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

// msgpackr slices binary values from its input: a plain Uint8Array (not a
// Buffer) makes them plain Uint8Arrays too, as `decode` does.
function plainView(bytes: Uint8Array, at: number): Uint8Array {
  return new Uint8Array(
    bytes.buffer,
    bytes.byteOffset + at,
    bytes.byteLength - at,
  );
}

/**
 * Decodes the `count` msgpack values that follow each other from offset
 * `at`, handing each to `fn` as soon as it is decoded, and returns the
 * offset after the last. A snapshot's key array is read this way, so no
 * array of 100 000 decoded tuples is ever alive at once: each tuple is
 * garbage as soon as its record is built, and dies young. Binary values
 * share memory with `bytes`. Throws on malformed or truncated input.
 */
export function readValues(
  bytes: Uint8Array,
  at: number,
  count: number,
  fn: (value: unknown) => void,
): number {
  if (count === 0) return at;
  if (at >= bytes.byteLength) throw new Error("Unexpected end of buffer");
  let seen = 0;
  let end = at;
  unpackr.unpackMultiple(
    plainView(bytes, at),
    (value: unknown, _start?: number, stop?: number) => {
      fn(value);
      end = at + stop!;
      return ++seen < count;
    },
  );
  if (seen < count) throw new Error("Unexpected end of buffer");
  return end;
}

/** Decodes the one msgpack value at offset `at`: [value, offset after it]. */
export function readValue(bytes: Uint8Array, at: number): [unknown, number] {
  let out: unknown;
  const end = readValues(bytes, at, 1, (v) => (out = v));
  return [out, end];
}

/**
 * Reads a msgpack map or array header at `at` (`kind` says which):
 * [number of entries, offset of the first]. Throws if another type is
 * there.
 */
export function readHeader(
  bytes: Uint8Array,
  at: number,
  kind: "map" | "array",
): [number, number] {
  if (at >= bytes.byteLength) throw new Error("Unexpected end of buffer");
  const b = bytes[at];
  const [fix, b16, b32] = kind === "map"
    ? [0x80, 0xde, 0xdf]
    : [0x90, 0xdc, 0xdd];
  if ((b & 0xf0) === fix) return [b & 0x0f, at + 1];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b === b16 && at + 3 <= bytes.byteLength) {
    return [view.getUint16(at + 1), at + 3];
  }
  if (b === b32 && at + 5 <= bytes.byteLength) {
    return [view.getUint32(at + 1), at + 5];
  }
  throw new Error(`expected a msgpack ${kind}`);
}

/**
 * The offset after the `count` msgpack values that follow each other from
 * `at`, found from their headers alone (nothing is decoded or allocated),
 * to step over a big array and come back to it later. Throws on a byte
 * that starts no msgpack value or on values that run past the end.
 */
export function skipValues(
  bytes: Uint8Array,
  at: number,
  count: number,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = bytes.byteLength;
  let p = at;
  let left = count;
  const need = (n: number) => {
    if (p + n > end) throw new Error("Unexpected end of buffer");
  };
  while (left > 0) {
    left--;
    need(1);
    const b = bytes[p++];
    let skip = 0; // payload bytes after the header
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) {
      skip = 0;
    } else if (b <= 0x8f) left += 2 * (b & 0x0f);
    else if (b <= 0x9f) left += b & 0x0f;
    else if (b <= 0xbf) skip = b & 0x1f;
    else {
      switch (b) {
        case 0xc4:
        case 0xd9:
          need(1);
          skip = bytes[p++];
          break;
        case 0xc5:
        case 0xda:
          need(2);
          skip = view.getUint16(p);
          p += 2;
          break;
        case 0xc6:
        case 0xdb:
          need(4);
          skip = view.getUint32(p);
          p += 4;
          break;
        case 0xc7:
          need(1);
          skip = bytes[p++] + 1;
          break;
        case 0xc8:
          need(2);
          skip = view.getUint16(p) + 1;
          p += 2;
          break;
        case 0xc9:
          need(4);
          skip = view.getUint32(p) + 1;
          p += 4;
          break;
        case 0xca:
          skip = 4;
          break;
        case 0xcb:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xd4:
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
          need(2);
          left += view.getUint16(p);
          p += 2;
          break;
        case 0xdd:
          need(4);
          left += view.getUint32(p);
          p += 4;
          break;
        case 0xde:
          need(2);
          left += 2 * view.getUint16(p);
          p += 2;
          break;
        case 0xdf:
          need(4);
          left += 2 * view.getUint32(p);
          p += 4;
          break;
        default:
          throw new Error(`0x${b.toString(16)} starts no msgpack value`);
      }
    }
    need(skip);
    p += skip;
  }
  return p;
}
