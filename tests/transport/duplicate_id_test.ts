/**
 * Duplicate node ids on the TCP transport: a second process claiming the id
 * of a peer whose connection is alive is refused (`duplicate_id`, counted,
 * logged with both addresses) and the first keeps its connection; a
 * restarted peer still gets in, at once when its old connection closed,
 * and one window later when the old one died unnoticed.
 */

import assert from "node:assert/strict";
import type { Message, NodeId } from "../../src/raft/types.ts";
import { type LogLevel, TcpTransport } from "../../src/transport/tcp.ts";
import {
  DUPLICATE_ID_WINDOW_MS,
  InboundConnections,
} from "../../src/transport/tcp/inbound_conns.ts";
import { RawPeer } from "./raw_peer.ts";

function fakeConn(): Deno.Conn {
  return {} as Deno.Conn;
}

Deno.test("InboundConnections: a live holder keeps its id, a silent one gives way", () => {
  let now = 1000;
  const conns = new InboundConnections({ windowMs: 1000, now: () => now });
  const a = fakeConn();
  const b = fakeConn();
  const c = fakeConn();
  assert.deepEqual(conns.claim("n2", "msg", a, "10.0.0.2:1"), {
    admitted: true,
  });
  assert.equal(conns.get("n2", "msg"), a);
  // Just attached counts as alive.
  now += 400;
  assert.deepEqual(conns.claim("n2", "msg", b, "10.0.0.9:1"), {
    admitted: false,
    holder: "10.0.0.2:1",
    heardMsAgo: 400,
  });
  // Frames keep it alive.
  now += 900;
  conns.heard(a);
  now += 999;
  assert.equal(conns.claim("n2", "msg", b, "10.0.0.9:1").admitted, false);
  assert.equal(conns.get("n2", "msg"), a);
  // Silent for a whole window: the newcomer replaces it.
  now += 1;
  assert.deepEqual(conns.claim("n2", "msg", b, "10.0.0.9:1"), {
    admitted: true,
    replaced: { conn: a, remote: "10.0.0.2:1", silentMs: 1000 },
  });
  assert.equal(conns.get("n2", "msg"), b);
  // The replaced one's late release changes nothing.
  conns.release("n2", "msg", a);
  assert.equal(conns.get("n2", "msg"), b);
  // Claiming again with the same connection is not a duplicate.
  assert.deepEqual(conns.claim("n2", "msg", b, "10.0.0.9:1"), {
    admitted: true,
  });
  // Snapshot streams: the newest replaces the older at once.
  assert.equal(conns.claim("n2", "snap", a, "10.0.0.2:2").admitted, true);
  const r = conns.claim("n2", "snap", c, "10.0.0.2:3");
  assert.equal(r.admitted, true);
  assert.equal(r.admitted && r.replaced?.conn, a);
  // A released id is free at once.
  conns.release("n2", "msg", b);
  assert.equal(conns.get("n2", "msg"), undefined);
  assert.deepEqual(conns.claim("n2", "msg", c, "10.0.0.3:1"), {
    admitted: true,
  });
});

interface LogRecord {
  level: LogLevel;
  msg: string;
  [k: string]: unknown;
}

async function listener(): Promise<
  { t: TcpTransport; inbox: Message[]; logs: LogRecord[] }
> {
  const inbox: Message[] = [];
  const logs: LogRecord[] = [];
  const t = await TcpTransport.listen({
    id: "n1",
    clusterId: "test",
    listen: "127.0.0.1:0",
    peers: { n2: "127.0.0.1:1" },
    logger: (level, msg, fields) => logs.push({ level, msg, ...fields }),
    backoffBaseMs: 10,
    backoffMaxMs: 100,
  });
  t.onMessage((m) => inbox.push(m));
  return { t, inbox, logs };
}

function hb(from: NodeId, to: NodeId, term: number): Message {
  return { type: "heartbeat", from, to, term, commit: 0 };
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 5000;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`Timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function localAddr(p: RawPeer): string {
  const a = p.conn.localAddr as Deno.NetAddr;
  return `${a.hostname}:${a.port}`;
}

Deno.test("a second process claiming a live peer's id is refused; the first keeps its connection", async () => {
  const n1 = await listener();
  const first = await RawPeer.connect(n1.t.addr);
  const second = await RawPeer.connect(n1.t.addr);
  const third = await RawPeer.connect(n1.t.addr);
  try {
    const claim = { cluster: "test", from: "n2", to: "n1" };
    assert.equal((await first.handshake(claim)).result, "admitted");
    assert.ok(await first.send(hb("n2", "n1", 1)));
    await waitFor(() => n1.inbox.length === 1, "the first message");

    // The impostor hears why in the handshake.
    assert.equal((await second.handshake(claim)).result, "duplicate_id");
    assert.equal(n1.t.stats().rejected.duplicate_id, 1);
    const line = n1.logs.find((l) => l.reason === "duplicate_id")!;
    assert.equal(line.level, "warn");
    assert.equal(line.peer, "n2");
    assert.equal(line.remote, localAddr(second));
    assert.match(
      String(line.detail),
      new RegExp(
        `node n2 is already connected from ${localAddr(first)} .*` +
          `this connection from ${localAddr(second)} claims the same id`,
      ),
    );
    // The first one still delivers.
    assert.ok(await first.send(hb("n2", "n1", 2)));
    await waitFor(() => n1.inbox.length === 2, "the first's next message");

    // The first dies without its close being seen (a host that lost
    // power): one window after its last frame, a newcomer gets in and the
    // dead connection is closed.
    await new Promise((r) => setTimeout(r, DUPLICATE_ID_WINDOW_MS + 100));
    assert.equal((await third.handshake(claim)).result, "admitted");
    assert.ok(await first.closedByPeer(2000));
    assert.ok(await third.send(hb("n2", "n1", 3)));
    await waitFor(() => n1.inbox.some((m) => m.term === 3), "the newcomer");
    const replaced = n1.logs.find((l) =>
      l.msg === "Replacing older connection from peer"
    )!;
    assert.equal(replaced.oldRemote, localAddr(first));
    assert.equal(replaced.remote, localAddr(third));
    assert.equal(n1.t.stats().rejected.duplicate_id, 1);
  } finally {
    for (const p of [first, second, third]) p.close();
    await n1.t.close();
  }
});

Deno.test("a restarted peer whose old connection closed gets in at once", async () => {
  const n1 = await listener();
  const start = async () => {
    const t = await TcpTransport.listen({
      id: "n2",
      clusterId: "test",
      listen: "127.0.0.1:0",
      peers: { n1: n1.t.addr },
      logger: () => {},
      backoffBaseMs: 10,
      backoffMaxMs: 100,
    });
    return t;
  };
  let n2 = await start();
  try {
    n2.send(hb("n2", "n1", 1));
    await waitFor(() => n1.inbox.length === 1, "before the restart");
    await n2.close();
    n2 = await start();
    const t0 = performance.now();
    // Sent every 20 ms, as heartbeats would be, until one arrives.
    let term = 2;
    while (!n1.inbox.some((m) => m.term >= 2)) {
      n2.send(hb("n2", "n1", term++));
      await new Promise((r) => setTimeout(r, 20));
      if (performance.now() - t0 > 5000) throw new Error("never delivered");
    }
    // Its old connection's close was seen first: no refusal on the way.
    assert.equal(n1.t.stats().rejected.duplicate_id ?? 0, 0);
  } finally {
    await n2.close();
    await n1.t.close();
  }
});
