/**
 * A netfilter queue (`NFQUEUE`) reader over a raw netlink socket, through
 * Deno's FFI on the C library: packets an iptables rule sends to a queue
 * wait in the kernel until this process gives each a verdict, so holding
 * the verdict delays the packet, and giving verdicts out of order
 * reorders packets. It is the chaos run's stand-in for `tc qdisc netem`
 * on kernels built without `sch_netem` (see `netem_daemon.ts`).
 *
 * Only what the daemon needs: bind one queue, copy the first bytes of
 * each packet (the IPv4 header: who talks to whom), accept packets, with
 * the queue failing open (when full, packets pass rather than drop).
 * Linux only; needs CAP_NET_ADMIN in the network namespace it runs in.
 *
 * @module
 */

// Netlink and nfnetlink_queue constants (linux/netlink.h,
// linux/netfilter/nfnetlink_queue.h).
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_NETFILTER = 12;
const SOL_SOCKET = 1;
const SO_RCVBUFFORCE = 33;
const SOL_NETLINK = 270;
const NETLINK_NO_ENOBUFS = 5;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_VERDICT = 1;
const NFQNL_MSG_CONFIG = 2;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;
const NFQA_CFG_MASK = 4;
const NFQA_CFG_FLAGS = 5;
const NFQA_CFG_F_FAIL_OPEN = 1;
const NFQNL_CFG_CMD_BIND = 1;
const NFQNL_COPY_PACKET = 2;
const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_PAYLOAD = 10;
const MSG_DONTWAIT = 0x40;
const EAGAIN = 11;
const EINTR = 4;
const ENOBUFS = 105;

/** A verdict on a queued packet. */
export const NF_DROP = 0;
/** Lets a queued packet go on. */
export const NF_ACCEPT = 1;

/** A packet waiting in the queue for its verdict. */
export interface QueuedPacket {
  /** The kernel's id for the verdict. */
  id: number;
  /** IPv4 source address, dotted (empty when not IPv4). */
  src: string;
  /** IPv4 destination address, dotted (empty when not IPv4). */
  dst: string;
}

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  recvWait: {
    name: "recv",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
    nonblocking: true,
  },
  recvNow: {
    name: "recv",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
  },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

let libc: Libc | undefined;
function openLibc(): Libc {
  libc ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return libc;
}

function errno(c: Libc): number {
  const p = c.symbols.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}

// Builds one netlink message of the queue subsystem.
function message(
  type: number,
  flags: number,
  seq: number,
  queue: number,
  attrs: [number, Uint8Array][],
): Uint8Array<ArrayBuffer> {
  let len = 16 + 4;
  for (const [, v] of attrs) len += (4 + v.length + 3) & ~3;
  const buf = new Uint8Array(len);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, len, true);
  dv.setUint16(4, (NFNL_SUBSYS_QUEUE << 8) | type, true);
  dv.setUint16(6, NLM_F_REQUEST | flags, true);
  dv.setUint32(8, seq, true);
  dv.setUint32(12, 0, true);
  buf[16] = 0; // AF_UNSPEC
  buf[17] = 0; // NFNETLINK_V0
  dv.setUint16(18, queue, false);
  let off = 20;
  for (const [t, v] of attrs) {
    dv.setUint16(off, 4 + v.length, true);
    dv.setUint16(off + 2, t, true);
    buf.set(v, off + 4);
    off += (4 + v.length + 3) & ~3;
  }
  return buf;
}

function be32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

/** The verdict message for packet `id` of `queue` (exported for tests). */
export function verdictMessage(
  queue: number,
  id: number,
  verdict: number,
): Uint8Array<ArrayBuffer> {
  const v = new Uint8Array(8);
  const dv = new DataView(v.buffer);
  dv.setUint32(0, verdict, false);
  dv.setUint32(4, id, false);
  return message(NFQNL_MSG_VERDICT, 0, 0, queue, [[NFQA_VERDICT_HDR, v]]);
}

/** The configuration messages that bind `queue` (exported for tests). */
export function configMessages(
  queue: number,
  maxLen: number,
): Uint8Array<ArrayBuffer>[] {
  const cmd = new Uint8Array([NFQNL_CFG_CMD_BIND, 0, 0, 0]);
  const params = new Uint8Array(5);
  new DataView(params.buffer).setUint32(0, 20, false); // the IPv4 header
  params[4] = NFQNL_COPY_PACKET;
  return [
    message(NFQNL_MSG_CONFIG, NLM_F_ACK, 1, queue, [[NFQA_CFG_CMD, cmd]]),
    message(NFQNL_MSG_CONFIG, NLM_F_ACK, 2, queue, [
      [NFQA_CFG_PARAMS, params],
      [NFQA_CFG_QUEUE_MAXLEN, be32(maxLen)],
      [NFQA_CFG_MASK, be32(NFQA_CFG_F_FAIL_OPEN)],
      [NFQA_CFG_FLAGS, be32(NFQA_CFG_F_FAIL_OPEN)],
    ]),
  ];
}

/**
 * Parses what one `recv` returned: the queued packets, and the error codes
 * of any netlink acknowledgements (0 is success). Exported for tests.
 */
export function parseMessages(
  buf: Uint8Array,
  length: number,
): { packets: QueuedPacket[]; acks: number[] } {
  const dv = new DataView(buf.buffer, buf.byteOffset, length);
  const packets: QueuedPacket[] = [];
  const acks: number[] = [];
  let off = 0;
  while (off + 16 <= length) {
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > length) break;
    const type = dv.getUint16(off + 4, true);
    if (type === NLMSG_ERROR) {
      acks.push(0 - dv.getInt32(off + 16, true) || 0);
    } else if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
      let id = -1;
      let src = "", dst = "";
      let a = off + 20;
      while (a + 4 <= off + len) {
        const alen = dv.getUint16(a, true);
        const atype = dv.getUint16(a + 2, true) & 0x3fff;
        if (alen < 4) break;
        if (atype === NFQA_PACKET_HDR) id = dv.getUint32(a + 4, false);
        if (atype === NFQA_PAYLOAD && alen >= 4 + 20) {
          const p = a + 4;
          if ((dv.getUint8(p) >> 4) === 4) {
            src = [12, 13, 14, 15].map((i) => dv.getUint8(p + i)).join(".");
            dst = [16, 17, 18, 19].map((i) => dv.getUint8(p + i)).join(".");
          }
        }
        a += (alen + 3) & ~3;
      }
      if (id >= 0) packets.push({ id, src, dst });
    }
    off += (len + 3) & ~3;
  }
  return { packets, acks };
}

/**
 * One bound netfilter queue. {@linkcode NfQueue.open} binds it; `next()`
 * waits for packets; `verdict()` releases one.
 *
 * @example
 * ```ts ignore
 * // In a network namespace where `iptables ... -j NFQUEUE --queue-num 0`
 * // sends packets here (needs root):
 * const q = NfQueue.open(0);
 * for (;;) {
 *   for (const p of await q.next()) {
 *     setTimeout(() => q.verdict(p.id, NF_ACCEPT), 50); // 50 ms later
 *   }
 * }
 * ```
 */
export class NfQueue {
  readonly #c: Libc;
  readonly #fd: number;
  readonly #queue: number;
  readonly #buf = new Uint8Array(256 * 1024);
  #closed = false;

  private constructor(c: Libc, fd: number, queue: number) {
    this.#c = c;
    this.#fd = fd;
    this.#queue = queue;
  }

  /** Binds `queue`; throws an `Error` saying what the kernel refused. */
  static open(queue: number, maxLen = 65536): NfQueue {
    const c = openLibc();
    const fd = c.symbols.socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
    if (fd < 0) {
      throw new Error(`Netlink socket refused (errno ${errno(c)})`);
    }
    const q = new NfQueue(c, fd, queue);
    try {
      const addr = new Uint8Array(12);
      new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
      if (c.symbols.bind(fd, addr, 12) < 0) {
        throw new Error(`Netlink bind refused (errno ${errno(c)})`);
      }
      const size = new Uint8Array(4);
      new DataView(size.buffer).setInt32(0, 16 * 1024 * 1024, true);
      c.symbols.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4);
      const one = new Uint8Array([1, 0, 0, 0]);
      c.symbols.setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, one, 4);
      for (const m of configMessages(queue, maxLen)) {
        if (Number(c.symbols.send(fd, m, BigInt(m.length), 0)) < 0) {
          throw new Error(`Netlink send refused (errno ${errno(c)})`);
        }
        const n = Number(
          c.symbols.recvNow(fd, q.#buf, BigInt(q.#buf.length), 0),
        );
        const { acks } = parseMessages(q.#buf, Math.max(0, n));
        if (acks.length === 0 || acks[0] !== 0) {
          throw new Error(
            `Binding netfilter queue ${queue} failed (error ${
              acks[0] ?? "none"
            })`,
          );
        }
      }
    } catch (e) {
      q.close();
      throw e;
    }
    return q;
  }

  /**
   * Waits for the next packets (at least one, unless the queue closed:
   * then none), and takes every other one already waiting.
   */
  async next(): Promise<QueuedPacket[]> {
    const c = this.#c.symbols;
    const out: QueuedPacket[] = [];
    while (!this.#closed && out.length === 0) {
      const n = Number(
        await c.recvWait(this.#fd, this.#buf, BigInt(this.#buf.length), 0),
      );
      if (this.#closed) break;
      if (n < 0) {
        const e = errno(this.#c);
        if (e === EINTR || e === EAGAIN || e === ENOBUFS) continue;
        throw new Error(`Netlink recv failed (errno ${e})`);
      }
      out.push(...parseMessages(this.#buf, n).packets);
      // Drain without blocking the event loop's thread for long.
      for (let i = 0; i < 256; i++) {
        const m = Number(
          c.recvNow(
            this.#fd,
            this.#buf,
            BigInt(this.#buf.length),
            MSG_DONTWAIT,
          ),
        );
        if (m <= 0) break;
        out.push(...parseMessages(this.#buf, m).packets);
      }
    }
    return out;
  }

  /** Gives packet `id` its verdict (`NF_ACCEPT` or `NF_DROP`). */
  verdict(id: number, verdict: number = NF_ACCEPT): void {
    if (this.#closed) return;
    const m = verdictMessage(this.#queue, id, verdict);
    this.#c.symbols.send(this.#fd, m, BigInt(m.length), 0);
  }

  /** Closes the socket: the kernel unbinds the queue. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#c.symbols.close(this.#fd);
  }
}
