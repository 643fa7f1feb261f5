/**
 * Snapshot streaming: a `snap` message travels on a connection of its own,
 * as a head frame (the message without its data, plus the data size) and
 * chunk frames, with at most a window of unacknowledged bytes in flight.
 * The receiver reassembles within a size bound, delivers one `snap`
 * message, and acknowledges; only then does the sender report success.
 *
 * @module
 */

import { encodeFrame, type FrameReader } from "../../codec/frame.ts";
import { fromWire, toWire } from "../../codec/message.ts";
import type { Message, NodeId } from "../../raft/types.ts";
import { openStream } from "./dialer.ts";
import { closeQuietly, Deadline, errorText, writeAll } from "./net.ts";
import {
  encodeControl,
  FrameKind,
  MAX_CONTROL_FRAME_BYTES,
  parseSnapAck,
  parseSnapHead,
} from "./protocol.ts";
import type { Shared } from "./shared.ts";

/**
 * Streams `m` (a `snap` message) to `peer` at `addr`; resolves to whether
 * the peer acknowledged delivery. Never throws; failures are logged.
 */
export async function sendSnapshot(
  sh: Shared,
  peer: NodeId,
  addr: string,
  m: Message,
  register: (abort: () => void) => () => void,
): Promise<boolean> {
  const o = sh.o;
  const data = m.snapshot!.data;
  const size = data.byteLength;
  let conn: Deno.Conn | undefined;
  let aborted = false;
  const unregister = register(() => {
    aborted = true;
    closeQuietly(conn);
  });
  let acked = 0;
  let done = false;
  let readerError: string | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let idle: Deadline | undefined;
  let ackTask: Promise<void> | undefined;
  try {
    const stream = await openStream(sh, peer, addr, "snap");
    conn = stream.conn;
    if (aborted) throw new Error("Snapshot send aborted");
    const c = conn;
    idle = new Deadline(o.snapshotTimeoutMs, () => closeQuietly(c));
    ackTask = (async () => {
      try {
        for (;;) {
          const f = await stream.reader.read(MAX_CONTROL_FRAME_BYTES);
          if (f === null) {
            readerError = "peer closed the snapshot stream";
            break;
          }
          if (f.kind !== FrameKind.SnapAck) {
            readerError = `unexpected frame kind ${f.kind}`;
            break;
          }
          const ack = parseSnapAck(f.body);
          if (typeof ack === "string") {
            readerError = ack;
            break;
          }
          if (ack.b < acked || ack.b > size) {
            readerError = `snapshot ack of ${ack.b} bytes is out of range`;
            break;
          }
          acked = ack.b;
          idle!.reset();
          if (ack.d) {
            done = true;
            break;
          }
          notify();
        }
      } catch (e) {
        readerError = errorText(e);
      }
      notify();
    })();

    const head = {
      ...m,
      snapshot: { ...m.snapshot!, data: new Uint8Array(0) },
    };
    await writeAll(
      c,
      encodeFrame(
        FrameKind.SnapHead,
        encodeControl({ n: size, m: toWire(head) }),
      ),
      o.writeTimeoutMs,
    );
    const window = o.snapshotChunkBytes * o.snapshotWindowChunks;
    let offset = 0;
    while (offset < size) {
      while (offset - acked >= window && readerError === undefined && !done) {
        await new Promise<void>((r) => wake = r);
      }
      if (readerError !== undefined) throw new Error(readerError);
      const end = Math.min(size, offset + o.snapshotChunkBytes);
      await writeAll(
        c,
        encodeFrame(FrameKind.SnapChunk, data.subarray(offset, end)),
        o.writeTimeoutMs,
      );
      sh.stats.snapshotChunksSent++;
      offset = end;
    }
    while (!done && readerError === undefined) {
      await new Promise<void>((r) => wake = r);
    }
    if (!done) throw new Error(readerError);
    sh.stats.sent++;
    sh.stats.snapshotsSent++;
    sh.log("info", "Snapshot sent", {
      peer,
      index: m.snapshot!.metadata.index,
      bytes: size,
    });
    return true;
  } catch (e) {
    sh.stats.snapshotsFailed++;
    if (!sh.closed) {
      sh.log("warn", "Snapshot send failed", {
        peer,
        addr,
        index: m.snapshot!.metadata.index,
        bytes: size,
        acked,
        reason: idle?.expired
          ? `no progress for ${o.snapshotTimeoutMs} ms`
          : errorText(e),
      });
    }
    return false;
  } finally {
    idle?.clear();
    unregister();
    if (conn !== undefined) {
      closeQuietly(conn);
      sh.conns.delete(conn);
    }
    notify();
    await ackTask;
  }
}

/** How an inbound snapshot stream ended, when it did not succeed. */
export interface SnapshotFailure {
  /** Reason code for the `rejected` counters, or undefined for a plain disconnect. */
  reason?: string;
  /** What happened. */
  detail: string;
}

/**
 * Receives one snapshot on an accepted `snap` stream from `peer`: reads the
 * head and the chunks (acknowledging each), delivers the reassembled
 * message, then sends the final acknowledgement. Returns undefined on
 * success, else why it failed.
 */
export async function receiveSnapshot(
  sh: Shared,
  peer: NodeId,
  conn: Deno.Conn,
  reader: FrameReader,
): Promise<SnapshotFailure | undefined> {
  const o = sh.o;
  const idle = new Deadline(o.snapshotTimeoutMs, () => closeQuietly(conn));
  try {
    const headFrame = await reader.read(o.maxFrameBytes);
    if (headFrame === null) {
      return { detail: "peer closed the stream before the snapshot head" };
    }
    sh.stats.bytesReceived += headFrame.body.byteLength + 5;
    if (headFrame.kind !== FrameKind.SnapHead) {
      return {
        reason: "unexpected_frame",
        detail: `expected a snapshot head, got frame kind ${headFrame.kind}`,
      };
    }
    const head = parseSnapHead(headFrame.body);
    if (typeof head === "string") {
      return { reason: "invalid_message", detail: head };
    }
    if (head.n > o.maxSnapshotBytes) {
      return {
        reason: "snapshot_too_large",
        detail:
          `snapshot of ${head.n} bytes is over the limit of ${o.maxSnapshotBytes}`,
      };
    }
    const r = fromWire(head.m);
    if (!r.ok) return { reason: "invalid_message", detail: r.error };
    const m = r.message;
    if (m.type !== "snap" || m.snapshot === undefined) {
      return {
        reason: "invalid_message",
        detail: `snapshot head carries a ${m.type} message`,
      };
    }
    if (m.from !== peer) {
      return {
        reason: "wrong_sender",
        detail: `message from ${m.from} on a connection from ${peer}`,
      };
    }
    if (m.to !== sh.id) {
      return {
        reason: "wrong_recipient",
        detail: `message for ${m.to} arrived at ${sh.id}`,
      };
    }
    const chunks: Uint8Array[] = [];
    let got = 0;
    while (got < head.n) {
      const f = await reader.read(o.maxFrameBytes);
      if (f === null) {
        return { detail: `peer closed the stream after ${got} bytes` };
      }
      idle.reset();
      sh.stats.bytesReceived += f.body.byteLength + 5;
      if (f.kind !== FrameKind.SnapChunk) {
        return {
          reason: "unexpected_frame",
          detail: `expected a snapshot chunk, got frame kind ${f.kind}`,
        };
      }
      if (got + f.body.byteLength > head.n) {
        return {
          reason: "snapshot_overflow",
          detail: `chunks exceed the announced ${head.n} bytes`,
        };
      }
      chunks.push(f.body);
      got += f.body.byteLength;
      if (got < head.n) {
        await writeAll(
          conn,
          encodeFrame(FrameKind.SnapAck, encodeControl({ b: got })),
          o.writeTimeoutMs,
        );
      }
    }
    let data: Uint8Array;
    if (chunks.length === 1) {
      data = chunks[0];
    } else {
      data = new Uint8Array(got);
      let off = 0;
      for (const c of chunks) {
        data.set(c, off);
        off += c.byteLength;
      }
    }
    chunks.length = 0;
    if (!sh.peers.has(peer)) {
      return { reason: "unknown_node", detail: `node ${peer} was removed` };
    }
    m.snapshot = { metadata: m.snapshot.metadata, data };
    sh.stats.snapshotsReceived++;
    sh.log("info", "Snapshot received", {
      peer,
      index: m.snapshot.metadata.index,
      bytes: got,
    });
    sh.deliver(m);
    await writeAll(
      conn,
      encodeFrame(FrameKind.SnapAck, encodeControl({ b: got, d: true })),
      o.writeTimeoutMs,
    );
    return undefined;
  } catch (e) {
    if (idle.expired) {
      return {
        reason: "snapshot_timeout",
        detail: `no progress for ${o.snapshotTimeoutMs} ms`,
      };
    }
    const code = (e as { code?: unknown }).code;
    if (
      code === "frame_too_large" || code === "bad_length" ||
      code === "truncated"
    ) {
      return { reason: code, detail: errorText(e) };
    }
    return { detail: errorText(e) };
  } finally {
    idle.clear();
  }
}
