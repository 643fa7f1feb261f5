/**
 * Joins byte arrays into one without a long pause: a large fresh buffer
 * costs page faults as it is first written (about 3 ms per MB on some
 * VMs), so the copy runs a slice at a time with a yield to the event loop
 * in between. Used for snapshots, which can be tens of MB.
 *
 * @module
 */

/** Concatenates `parts`, yielding after every `sliceBytes` copied (default 1 MiB). */
export async function concatYielding(
  parts: readonly Uint8Array[],
  sliceBytes = 1 << 20,
): Promise<Uint8Array> {
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  let sinceYield = 0;
  for (const p of parts) {
    for (let i = 0; i < p.byteLength; i += sliceBytes) {
      const piece = p.subarray(i, Math.min(p.byteLength, i + sliceBytes));
      out.set(piece, at);
      at += piece.byteLength;
      sinceYield += piece.byteLength;
      if (sinceYield >= sliceBytes) {
        sinceYield = 0;
        await new Promise((r) => setTimeout(r, 0));
      }
    }
  }
  return out;
}
