/**
 * The backup file format: what is written comes back; any damaged byte is
 * refused with the offset of the 4 KiB block it is in (or of the trailer);
 * a file cut short, of another kind or of another version is refused.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  BACKUP_BLOCK_BYTES,
  BackupError,
  type BackupHeader,
  decodeBackup,
  encodeBackup,
} from "../../src/storage/backup.ts";
import { mulberry32 } from "../../src/raft/rand.ts";

const header: BackupHeader = {
  clusterId: "prod",
  nodeId: "n2",
  index: 1234,
  term: 7,
  revision: 999,
  time: "2026-12-02T12:00:00.000Z",
  members: [
    { id: "n1", role: "voter", peerAddress: "10.0.0.1:7001" },
    { id: "n2", role: "learner" },
  ],
  leases: [{ id: 5, ttl: 10, remainingMs: 4200 }, {
    id: 6,
    ttl: 3,
    remainingMs: null,
  }],
};

function state(n: number, seed = 1): Uint8Array {
  const r = mulberry32(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

async function file(s: Uint8Array): Promise<Uint8Array> {
  return join(await encodeBackup(header, s));
}

async function damageAt(f: Uint8Array): Promise<BackupError> {
  try {
    await decodeBackup(f);
  } catch (e) {
    assert.ok(e instanceof BackupError, String(e));
    return e;
  }
  throw new Error("the damage was not noticed");
}

Deno.test("a backup decodes to its header and state", async () => {
  for (const size of [0, 1, 4095, 4096, 70_000]) {
    const s = state(size);
    const f = await file(s);
    const b = await decodeBackup(f);
    assert.deepEqual(b.header, header);
    assert.deepEqual(b.state, s);
    assert.equal(b.bytes, f.byteLength);
    assert.equal(
      b.sha256,
      createHash("sha256").update(f.subarray(0, f.byteLength - 32)).digest(
        "hex",
      ),
    );
    assert.equal(new TextDecoder().decode(f.subarray(0, 8)), "RLBACKUP");
  }
});

Deno.test("every damaged byte is refused with the offset of its block", async () => {
  const f = await file(state(50_000));
  const n = Math.ceil((f.byteLength - 40) / (BACKUP_BLOCK_BYTES + 4));
  const bodyEnd = f.byteLength - 40 - 4 * n;
  const r = mulberry32(42);
  // The magic, the header, state bytes at random, block edges, the table,
  // the count and the digest.
  const spots = [0, 9, 12, 20, 4095, 4096, 8191, 49_999, bodyEnd - 1];
  for (let i = 0; i < 40; i++) spots.push(Math.floor(r() * bodyEnd));
  spots.push(bodyEnd, bodyEnd + 5, f.byteLength - 37, f.byteLength - 33);
  spots.push(f.byteLength - 32, f.byteLength - 1);
  for (const at of spots) {
    const bad = f.slice();
    bad[at] ^= 0x5a;
    const e = await damageAt(bad);
    if (at < 8) assert.equal(e.offset, 0);
    else if (at < bodyEnd) {
      assert.equal(
        e.offset,
        at - (at % BACKUP_BLOCK_BYTES),
        `byte ${at}: ${e.message}`,
      );
      assert.match(e.message, /do not match their checksum/);
    } else if (at < f.byteLength - 40) {
      assert.equal(e.offset, bodyEnd, `byte ${at}: ${e.message}`);
    } else if (at < f.byteLength - 32) {
      assert.ok(e.offset >= bodyEnd, `byte ${at}: ${e.message}`);
    } else {
      assert.equal(e.offset, f.byteLength - 32, `byte ${at}: ${e.message}`);
    }
    assert.match(
      e.message,
      new RegExp(`^Backup is damaged at byte offset ${e.offset}: `),
    );
  }
});

Deno.test("a cut, foreign or newer file is refused", async () => {
  const f = await file(state(10_000));
  for (const len of [0, 5, 40, 5000, f.byteLength - 1]) {
    const e = await damageAt(f.subarray(0, len));
    assert.ok(e.offset <= len, `${len}: ${e.message}`);
  }
  assert.equal(
    (await damageAt(new TextEncoder().encode("RLSNAP\0\x01 something"))).offset,
    0,
  );
  // A version this build does not know, with valid checksums.
  const parts = await encodeBackup(header, state(100));
  parts[0][9] = 2;
  const trailer = parts[2];
  const body = join([
    ...parts.slice(0, 2),
    trailer.subarray(0, trailer.length - 32),
  ]);
  trailer.set(createHash("sha256").update(body).digest(), trailer.length - 32);
  const e = await damageAt(join(parts));
  assert.equal(e.offset, 8);
  assert.match(e.message, /format version 2; this build reads version 1/);
});
