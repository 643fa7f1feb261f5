/**
 * Length-prefixed framing for byte streams (TCP, TLS).
 *
 * A frame on the wire is
 *
 * ```
 * +----------------+--------+---------------------+
 * | length: u32 BE | kind:u8| body: length-1 bytes |
 * +----------------+--------+---------------------+
 * ```
 *
 * `length` counts the kind byte and the body, so it is at least 1. A reader
 * checks `length` against its limit as soon as the four prefix bytes are in,
 * before it buffers anything of the frame, so an oversized or bogus length
 * costs nothing.
 *
 * @module
 */

/** Bytes before the body: the 4-byte length and the kind byte. */
export const FRAME_HEADER_BYTES = 5;

/** The largest value the 4-byte length prefix can hold. */
export const MAX_FRAME_LENGTH = 0xffff_ffff;

/** One frame read from a stream. */
export interface Frame {
  /** The kind byte (what the body holds; the caller assigns meanings). */
  kind: number;
  /**
   * The body. It is a fresh copy that the reader never touches again, so
   * values decoded from it may share its memory.
   */
  body: Uint8Array;
}

/** Why a stream could not be split into frames. */
export type FrameErrorCode =
  /** The length prefix is 0 (a frame has at least its kind byte). */
  | "bad_length"
  /** The length prefix is over the reader's limit. */
  | "frame_too_large"
  /** The stream ended in the middle of a frame. */
  | "truncated";

/** A framing error: the stream is unusable and should be closed. */
export class FrameError extends Error {
  /** The machine-readable reason. */
  readonly code: FrameErrorCode;

  /** Creates a framing error with a reason code and a message. */
  constructor(code: FrameErrorCode, message: string) {
    super(message);
    this.name = "FrameError";
    this.code = code;
  }
}

/**
 * Writes the 5-byte header of a frame whose body is `bodyBytes` long into
 * `target` at `offset`. Returns the offset just after the header.
 *
 * @throws {RangeError} if the frame would not fit the 4-byte length prefix.
 */
export function writeFrameHeader(
  target: Uint8Array,
  offset: number,
  kind: number,
  bodyBytes: number,
): number {
  const length = bodyBytes + 1;
  if (length > MAX_FRAME_LENGTH) {
    throw new RangeError(`Frame body of ${bodyBytes} bytes is too large`);
  }
  const view = new DataView(target.buffer, target.byteOffset + offset, 5);
  view.setUint32(0, length, false);
  view.setUint8(4, kind);
  return offset + FRAME_HEADER_BYTES;
}

/** Encodes one frame: header then body, in a new buffer. */
export function encodeFrame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + body.byteLength);
  out.set(body, writeFrameHeader(out, 0, kind, body.byteLength));
  return out;
}

/**
 * Encodes several frames into a single buffer, so that they can go out in
 * one write.
 */
export function encodeFrames(
  frames: readonly { kind: number; body: Uint8Array }[],
): Uint8Array {
  let total = 0;
  for (const f of frames) total += FRAME_HEADER_BYTES + f.body.byteLength;
  const out = new Uint8Array(total);
  let off = 0;
  for (const f of frames) {
    off = writeFrameHeader(out, off, f.kind, f.body.byteLength);
    out.set(f.body, off);
    off += f.body.byteLength;
  }
  return out;
}

/** Anything frames can be read from: `Deno.Conn`, `Deno.TlsConn`, a test stub. */
export interface ByteSource {
  /** Reads into `p`; resolves to the count read, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
}

/** Options of a {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /**
   * Size of the internal read buffer in bytes (default 64 KiB). Frames that
   * fit in it are cut out of it; larger frames are read straight into a
   * buffer of their own size.
   */
  bufferBytes?: number;
}

/**
 * Splits a byte stream into frames.
 *
 * Memory use is bounded by the read buffer plus the one frame being read,
 * and a frame is only allocated after its length passed the caller's limit.
 * Not safe for concurrent `read` calls.
 */
export class FrameReader {
  readonly #src: ByteSource;
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  #bytesRead = 0;

  /** Creates a reader over `src`. */
  constructor(src: ByteSource, options: FrameReaderOptions = {}) {
    this.#src = src;
    this.#buf = new Uint8Array(options.bufferBytes ?? 64 * 1024);
    if (this.#buf.byteLength < FRAME_HEADER_BYTES) {
      throw new RangeError("bufferBytes must be at least 5");
    }
  }

  /** Total bytes read from the source so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** The size of the internal read buffer. */
  get bufferBytes(): number {
    return this.#buf.byteLength;
  }

  /**
   * Replaces the read buffer with one of `bytes` (keeping what is buffered),
   * for example to start small on an unauthenticated connection and grow
   * once the peer is known.
   *
   * @throws {RangeError} if `bytes` is under 5 or below what is buffered.
   */
  resize(bytes: number): void {
    const pending = this.#end - this.#start;
    if (bytes < FRAME_HEADER_BYTES || bytes < pending) {
      throw new RangeError(`Cannot resize the read buffer to ${bytes} bytes`);
    }
    const next = new Uint8Array(bytes);
    next.set(this.#buf.subarray(this.#start, this.#end));
    this.#buf = next;
    this.#start = 0;
    this.#end = pending;
  }

  /** Bytes read from the source but not yet returned in a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Reads the next frame. Resolves to null when the stream ends cleanly
   * between frames.
   *
   * @param maxLength the largest accepted value of the length prefix (kind
   * byte plus body).
   * @throws {FrameError} on a zero or oversized length, or when the stream
   * ends inside a frame; errors of the source propagate as they are.
   */
  async read(maxLength: number): Promise<Frame | null> {
    if (!await this.#fill(4)) {
      if (this.buffered === 0) return null;
      throw new FrameError("truncated", "Stream ended inside a frame header");
    }
    const b = this.#buf;
    const s = this.#start;
    const length = ((b[s] << 24) >>> 0) + (b[s + 1] << 16) + (b[s + 2] << 8) +
      b[s + 3];
    if (length === 0) {
      throw new FrameError("bad_length", "Frame length is 0");
    }
    if (length > maxLength) {
      throw new FrameError(
        "frame_too_large",
        `Frame length ${length} is over the limit of ${maxLength}`,
      );
    }
    const total = 4 + length;
    if (total <= b.byteLength) {
      if (!await this.#fill(total)) {
        throw new FrameError("truncated", "Stream ended inside a frame");
      }
      const kind = this.#buf[this.#start + 4];
      const body = this.#buf.slice(this.#start + 5, this.#start + total);
      this.#start += total;
      if (this.#start === this.#end) this.#start = this.#end = 0;
      return { kind, body };
    }
    // A frame larger than the buffer: read it into its own allocation.
    if (!await this.#fill(5)) {
      throw new FrameError("truncated", "Stream ended inside a frame header");
    }
    const kind = this.#buf[this.#start + 4];
    const body = new Uint8Array(length - 1);
    const have = this.#end - this.#start - 5;
    body.set(this.#buf.subarray(this.#start + 5, this.#end));
    this.#start = this.#end = 0;
    let filled = have;
    while (filled < body.byteLength) {
      const n = await this.#src.read(body.subarray(filled));
      if (n === null) {
        throw new FrameError("truncated", "Stream ended inside a frame");
      }
      this.#bytesRead += n;
      filled += n;
    }
    return { kind, body };
  }

  /**
   * Reads until at least `n` (at most the buffer size) bytes are buffered.
   * Returns false if the stream ended first.
   */
  async #fill(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#start + n > this.#buf.byteLength) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      const got = await this.#src.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#bytesRead += got;
      this.#end += got;
    }
    return true;
  }
}
