/**
 * {@linkcode ByteWriter}: one growing buffer for a large encoding (a
 * snapshot of tens of MB), so the bytes are written once into their final
 * place instead of into pieces that are then joined (and joined again by
 * the node's framing). A fresh buffer's pages are first touched as the
 * pieces arrive, and growing (when the estimate was short) copies a slice
 * at a time with yields, as {@linkcode concatYielding} does.
 *
 * @module
 */

import { concatYielding } from "./concat.ts";

/**
 * A growable byte buffer written at its end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteWriter } from "./byte_writer.ts";
 *
 * const out = new ByteWriter(16);
 * out.write(new Uint8Array(4)); // room for a length, filled in below
 * out.write(new TextEncoder().encode("hello"));
 * out.setUint32(0, out.length - 4);
 * const bytes = await out.finish();
 * assert.deepEqual([...bytes.subarray(0, 4)], [0, 0, 0, 5]);
 * ```
 */
export class ByteWriter {
  #buf: Uint8Array;
  #length = 0;

  /** Starts with room for `capacity` bytes (default 64 KiB). */
  constructor(capacity = 64 * 1024) {
    this.#buf = new Uint8Array(Math.max(16, Math.ceil(capacity)));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  /** Bytes that fit before the buffer must grow. */
  get capacity(): number {
    return this.#buf.byteLength;
  }

  /**
   * Makes room for `n` more bytes: grows to at least 1.5 times the size,
   * copying what was written a slice at a time with yields.
   */
  async reserve(n: number): Promise<void> {
    const need = this.#length + n;
    if (need <= this.#buf.byteLength) return;
    const next = new Uint8Array(
      Math.max(need, Math.ceil(this.#buf.byteLength * 1.5)),
    );
    const old = this.#buf.subarray(0, this.#length);
    const slice = 1 << 20;
    for (let at = 0; at < old.byteLength; at += slice) {
      next.set(old.subarray(at, at + slice), at);
      if (at + slice < old.byteLength) {
        await new Promise((r) => setTimeout(r, 0));
      }
    }
    this.#buf = next;
  }

  /** Appends `bytes`, growing at once if needed (call `reserve` first for large writes). */
  write(bytes: Uint8Array): void {
    const need = this.#length + bytes.byteLength;
    if (need > this.#buf.byteLength) {
      const next = new Uint8Array(
        Math.max(need, Math.ceil(this.#buf.byteLength * 1.5)),
      );
      next.set(this.#buf.subarray(0, this.#length));
      this.#buf = next;
    }
    this.#buf.set(bytes, this.#length);
    this.#length = need;
  }

  /** Overwrites 4 bytes at `offset` with `value` as a big-endian u32 (a length known only at the end). */
  setUint32(offset: number, value: number): void {
    if (offset < 0 || offset + 4 > this.#length) {
      throw new RangeError(`Offset ${offset} is outside the written bytes`);
    }
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setUint32(
      offset,
      value,
    );
  }

  /**
   * The bytes written. A view of the buffer when at most an eighth of it is
   * unused (the estimate was good), otherwise a copy of the exact size, so
   * a poor estimate does not keep much spare memory alive. The writer must
   * not be used afterwards.
   */
  async finish(): Promise<Uint8Array> {
    const out = this.#buf.subarray(0, this.#length);
    this.#buf = new Uint8Array(0);
    this.#length = 0;
    if (out.buffer.byteLength - out.byteLength <= out.byteLength / 8) {
      return out;
    }
    return await concatYielding([out]);
  }
}
