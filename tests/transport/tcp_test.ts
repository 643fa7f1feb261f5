import assert from "node:assert/strict";
import { encodeFrame, FrameReader } from "../../src/codec/frame.ts";
import { encodeMessage } from "../../src/codec/message.ts";
import { encode } from "../../src/codec/msgpack.ts";
import type { Message, NodeId } from "../../src/raft/types.ts";
import {
  FrameKind,
  type LogLevel,
  parseAddress,
  PROTOCOL_VERSION,
  TcpTransport,
  type TcpTransportOptions,
} from "../../src/transport/tcp.ts";
import { parseReject } from "../../src/transport/tcp/protocol.ts";
import { FaultProxy } from "../../src/transport/fault_proxy.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { type Claim, RawPeer } from "./raw_peer.ts";
import { testCerts } from "../support/certs.ts";

// ---------------------------------------------------------------- helpers

interface LogRecord {
  level: LogLevel;
  msg: string;
  [k: string]: unknown;
}

/** A transport plus what it received, logged and reported. */
interface Node {
  t: TcpTransport;
  inbox: Message[];
  logs: LogRecord[];
  unreachable: NodeId[];
  snapStatus: [NodeId, boolean][];
}

/** Set TCP_TEST_LOGS=1 to print every transport log record. */
const SHOW_LOGS = Deno.env.get("TCP_TEST_LOGS") === "1";

const FAST: Partial<TcpTransportOptions> = {
  backoffBaseMs: 10,
  backoffMaxMs: 100,
  handshakeTimeoutMs: 1000,
};

async function start(
  id: NodeId,
  options: Partial<TcpTransportOptions> = {},
): Promise<Node> {
  const logs: LogRecord[] = [];
  const unreachable: NodeId[] = [];
  const snapStatus: [NodeId, boolean][] = [];
  const inbox: Message[] = [];
  const t = await TcpTransport.listen({
    id,
    clusterId: "test",
    listen: "127.0.0.1:0",
    logger: (level, msg, fields) => {
      logs.push({ level, msg, ...fields });
      if (SHOW_LOGS) console.log(JSON.stringify({ level, msg, ...fields }));
    },
    onUnreachable: (to) => unreachable.push(to),
    onSnapshotStatus: (to, ok) => snapStatus.push([to, ok]),
    ...FAST,
    ...options,
  });
  t.onMessage((m) => inbox.push(m));
  return { t, inbox, logs, unreachable, snapStatus };
}

/** Starts `ids.length` transports and makes them all peers of each other. */
async function mesh(
  ids: NodeId[],
  options: Partial<TcpTransportOptions> = {},
): Promise<Node[]> {
  const nodes = await Promise.all(ids.map((id) => start(id, options)));
  for (const a of nodes) {
    for (const b of nodes) if (a !== b) a.t.addPeer(b.t.id, b.t.addr);
  }
  return nodes;
}

async function closeAll(nodes: Node[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.t.close()));
}

function hb(from: NodeId, to: NodeId, term: number): Message {
  return { type: "heartbeat", from, to, term, commit: term };
}

function app(from: NodeId, to: NodeId, term: number, bytes = 16): Message {
  return {
    type: "app",
    from,
    to,
    term,
    index: term,
    logTerm: term,
    commit: 0,
    entries: [{
      term,
      index: term + 1,
      type: 0,
      data: new Uint8Array(bytes).fill(term & 0xff),
    }],
  };
}

/** Terms that mark assertDelivers' probes, each new (not random: unique). */
let probeTerm = 1_000_000;

/** Checks that a and b still exchange messages both ways. */
async function assertDelivers(a: Node, b: Node): Promise<void> {
  const term = ++probeTerm;
  a.t.send(hb(a.t.id, b.t.id, term));
  b.t.send(hb(b.t.id, a.t.id, term));
  await waitFor(
    () =>
      b.inbox.some((m) => m.term === term) &&
      a.inbox.some((m) => m.term === term),
    `delivery between ${a.t.id} and ${b.t.id}`,
  );
}

/** A free port (listen, note the port, close). */
function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = l.addr.port;
  l.close();
  return port;
}

/** A raw dialer's Hello, claiming to be n3 of cluster "test" dialling n1. */
function hello(
  r: RawPeer,
  claim: Partial<Claim> = {},
  nonce?: Uint8Array,
): Promise<void> {
  return r.hello({ cluster: "test", from: "n3", to: "n1", ...claim }, nonce);
}

// ------------------------------------------------------------------ tests

Deno.test("two transports exchange messages in order", async () => {
  const nodes = await mesh(["n1", "n2"]);
  const [a, b] = nodes;
  try {
    const n = 500;
    for (let i = 1; i <= n; i++) {
      a.t.send(app("n1", "n2", i));
      b.t.send(hb("n2", "n1", i));
    }
    await waitFor(
      () => a.inbox.length === n && b.inbox.length === n,
      "all messages",
    );
    assert.deepStrictEqual(
      b.inbox.map((m) => m.term),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.deepStrictEqual(
      a.inbox.map((m) => m.term),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.deepStrictEqual(b.inbox[41], app("n1", "n2", 42));
    assert.deepStrictEqual(a.inbox[41], hb("n2", "n1", 42));
    const s = a.t.stats();
    assert.equal(s.sent, n);
    assert.equal(s.received, n);
    assert.equal(s.dropped, 0);
    assert.equal(s.connects, 1);
    assert.deepStrictEqual(s.rejected, {});
  } finally {
    await closeAll(nodes);
  }
});

Deno.test("three transports all exchange messages in order", async () => {
  const nodes = await mesh(["n1", "n2", "n3"]);
  try {
    const n = 200;
    for (let i = 1; i <= n; i++) {
      for (const a of nodes) {
        for (const b of nodes) {
          if (a !== b) a.t.send(app(a.t.id, b.t.id, i, 100));
        }
      }
    }
    await waitFor(
      () => nodes.every((x) => x.inbox.length === 2 * n),
      "all messages",
    );
    for (const x of nodes) {
      for (const y of nodes) {
        if (x === y) continue;
        const terms = x.inbox.filter((m) => m.from === y.t.id).map((m) =>
          m.term
        );
        assert.deepStrictEqual(
          terms,
          Array.from({ length: n }, (_, i) => i + 1),
        );
      }
      assert.deepStrictEqual(
        x.t.peers().sort(),
        nodes.map((z) => z.t.id).filter((id) => id !== x.t.id).sort(),
      );
    }
  } finally {
    await closeAll(nodes);
  }
});

Deno.test("queued messages go out in batches", async () => {
  const nodes = await mesh(["n1", "n2"]);
  const [a, b] = nodes;
  try {
    await assertDelivers(a, b);
    const before = a.t.stats();
    const n = 2000;
    for (let i = 1; i <= n; i++) a.t.send(hb("n1", "n2", i));
    await waitFor(() => b.inbox.length >= n + 1, "all messages");
    const s = a.t.stats();
    const writes = s.writes - before.writes;
    assert.equal(s.sent - before.sent, n);
    assert.ok(writes <= 5, `${n} messages took ${writes} writes`);
    // A byte cap per batch splits a big backlog into several writes.
  } finally {
    await closeAll(nodes);
  }
  const capped = await mesh(["n1", "n2"], { maxBatchBytes: 4096 });
  try {
    for (let i = 1; i <= 100; i++) capped[0].t.send(app("n1", "n2", i, 1000));
    await waitFor(() => capped[1].inbox.length === 100, "all messages");
    const w = capped[0].t.stats().writes;
    assert.ok(w >= 25 && w <= 100, `writes: ${w}`);
  } finally {
    await closeAll(capped);
  }
});

Deno.test("a full send queue drops and counts instead of blocking", async () => {
  const a = await start("n1", {
    maxQueueMessages: 10,
    maxQueueBytes: 4000,
    maxFrameBytes: 300 * 1024,
  });
  try {
    a.t.addPeer("n2", `127.0.0.1:${freePort()}`); // nobody listens there
    for (let i = 1; i <= 100; i++) a.t.send(hb("n1", "n2", i));
    let s = a.t.stats();
    assert.equal(s.drops.queueFull, 90);
    assert.equal(s.dropped, 90);
    assert.equal(s.queued, 10);
    await waitFor(() => a.unreachable.includes("n2"), "onUnreachable");
    assert.ok(
      a.logs.some((l) => l.msg === "Peer unreachable" && l.peer === "n2"),
    );
    // The byte bound: 1 KiB messages, room for 4 KB.
    a.t.addPeer("n3", `127.0.0.1:${freePort()}`);
    for (let i = 1; i <= 10; i++) a.t.send(app("n1", "n3", i, 1000));
    s = a.t.stats();
    assert.equal(s.drops.queueFull, 90 + 7);
    // Unknown peers and invalid messages are dropped and counted too.
    a.t.send(hb("n1", "n9", 1));
    a.t.send({ type: "hup", from: "n1", to: "n2", term: 0 });
    a.t.send({ type: "heartbeat", from: "n1", to: "n2", term: -1 });
    a.t.send(hb("n7", "n2", 1));
    a.t.send(app("n1", "n2", 1, 400 * 1024)); // over the frame limit
    s = a.t.stats();
    assert.equal(s.drops.unknownPeer, 1);
    assert.equal(s.drops.invalid, 4);
    assert.match(
      String(
        a.logs.findLast((l) => l.msg === "Dropped invalid outgoing message")
          ?.reason,
      ),
      /over the frame limit/,
    );
  } finally {
    await a.t.close();
  }
  const s = a.t.stats();
  assert.equal(s.drops.closed, 13);
  assert.equal(s.queued, 0);
});

Deno.test("reconnects after the peer restarts on the same port", async () => {
  const nodes = await mesh(["n1", "n2"]);
  const [a, b] = nodes;
  let b2: Node | undefined;
  try {
    await assertDelivers(a, b);
    const addr = b.t.addr;
    await b.t.close();
    // n1 notices the connection is gone.
    await waitFor(() => a.unreachable.includes("n2"), "onUnreachable");
    // Sent while n2 is down: queued, retried with backoff.
    a.t.send(hb("n1", "n2", 4242));
    await waitFor(() => a.t.stats().connectFailures >= 3, "failed retries");
    b2 = await start("n2", { listen: addr });
    b2.t.addPeer("n1", a.t.addr);
    await waitFor(
      () => b2!.inbox.some((m) => m.term === 4242),
      "queued message",
    );
    await assertDelivers(a, b2);
    const s = a.t.stats();
    assert.ok(s.reconnects >= 1, `reconnects: ${s.reconnects}`);
    assert.equal(s.connects, s.reconnects + 1);
  } finally {
    await closeAll(nodes);
    await b2?.t.close();
  }
});

Deno.test("bad peers are closed with a logged reason and good peers keep talking", async () => {
  // 1 s: the silent clients time out well before closedByPeer gives up (3 s),
  // and a good peer's handshake on a loaded machine does not.
  const nodes = await mesh(["n1", "n2"], { handshakeTimeoutMs: 1000 });
  const [a, b] = nodes;
  // n3 is a known peer id that nobody serves: the raw clients claim it.
  a.t.addPeer("n3", `127.0.0.1:${freePort()}`);
  const expect = async (
    reason: string,
    attack: (r: RawPeer) => Promise<void>,
  ) => {
    const before = a.t.stats().rejected[reason] ?? 0;
    const raw = await RawPeer.connect(a.t.addr);
    await attack(raw);
    assert.ok(await raw.closedByPeer(), `${reason}: connection not closed`);
    await waitFor(
      () => (a.t.stats().rejected[reason] ?? 0) === before + 1,
      `rejected[${reason}]`,
    );
    const log = a.logs.findLast((l) => l.msg === "Closing peer connection");
    assert.equal(log?.reason, reason);
    assert.equal(log?.level, "warn");
    assert.equal(log?.node, "n1");
    assert.ok(typeof log?.detail === "string" && log.detail.length > 0);
    await assertDelivers(a, b);
  };
  try {
    await assertDelivers(a, b);
    const okHello = async (r: RawPeer) => {
      await hello(r);
      assert.equal((await r.frame())?.kind, FrameKind.HelloOk);
      await r.auth();
      assert.equal((await r.frame())?.kind, FrameKind.AuthOk);
    };
    await expect(
      "bad_handshake",
      (r) => r.write([0, 0, 0, 9, 0x99, 1, 2, 3, 4, 5, 6, 7, 8]),
    );
    await expect(
      "bad_handshake",
      (r) =>
        r.write(encodeFrame(FrameKind.Hello, new Uint8Array([0xc1, 0xff]))),
    );
    await expect(
      "frame_too_large",
      (r) =>
        r.write(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n")),
    );
    await expect("bad_length", (r) => r.write([0, 0, 0, 0, 0, 0, 0, 0]));
    await expect("handshake_timeout", async () => {}); // connects, sends nothing
    await expect("handshake_timeout", (r) => r.write([0, 0, 0])); // sends slowly
    await expect("wrong_cluster", async (r) => {
      await hello(r, { cluster: "other" });
      const f = await r.frame();
      assert.equal(f?.kind, FrameKind.Reject);
      assert.equal(parseReject(f!.body).reason, "wrong_cluster");
    });
    // Membership is told only after the proof step.
    await expect("unknown_node", async (r) => {
      await hello(r, { from: "intruder" });
      assert.equal((await r.frame())?.kind, FrameKind.HelloOk);
      await r.auth();
      const f = await r.frame();
      assert.equal(f?.kind, FrameKind.Reject);
      assert.equal(parseReject(f!.body).reason, "unknown_node");
    });
    // Anything but the proof after the reply is refused, unread.
    await expect("bad_handshake", async (r) => {
      await hello(r);
      assert.equal((await r.frame())?.kind, FrameKind.HelloOk);
      await r.write(
        encodeFrame(FrameKind.Message, encodeMessage(hb("n3", "n1", 99))),
      );
    });
    assert.ok(!a.inbox.some((m) => m.term === 99));
    // A dialer with a secret is told that this node has none.
    await expect("auth_not_configured", async (r) => {
      await hello(r, {}, new Uint8Array(32));
      const f = await r.frame();
      assert.equal(f?.kind, FrameKind.Reject);
      assert.equal(parseReject(f!.body).reason, "auth_not_configured");
    });
    await expect("wrong_version", (r) => hello(r, { v: 99 }));
    await expect("wrong_recipient", (r) => hello(r, { to: "n2" }));
    await expect("frame_too_large", async (r) => {
      await okHello(r);
      await r.write([0xff, 0xff, 0xff, 0xff, FrameKind.Message]);
    });
    await expect("undecodable", async (r) => {
      await okHello(r);
      await r.write(
        encodeFrame(FrameKind.Message, new Uint8Array([0x92, 0x01])),
      );
    });
    await expect("invalid_message", async (r) => {
      await okHello(r);
      await r.write(
        encodeFrame(
          FrameKind.Message,
          encode({ y: 2, f: "n3", t: "n1", m: -5 }),
        ),
      );
    });
    await expect("invalid_message", async (r) => {
      await okHello(r);
      await r.write(
        encodeFrame(
          FrameKind.Message,
          encode({ y: 100, f: "n3", t: "n1", m: 0 }),
        ),
      );
    });
    await expect("wrong_sender", async (r) => {
      await okHello(r);
      // A good message first: it is delivered.
      await r.write(
        encodeFrame(FrameKind.Message, encodeMessage(hb("n3", "n1", 77))),
      );
      await r.write(
        encodeFrame(FrameKind.Message, encodeMessage(hb("n2", "n1", 1))),
      );
    });
    assert.ok(a.inbox.some((m) => m.from === "n3" && m.term === 77));
    await expect("wrong_recipient", async (r) => {
      await okHello(r);
      await r.write(
        encodeFrame(FrameKind.Message, encodeMessage(hb("n3", "n2", 1))),
      );
    });
    await expect("unexpected_frame", async (r) => {
      await okHello(r);
      await r.write(encodeFrame(FrameKind.HelloOk, new Uint8Array([0x80])));
    });
    // A peer that connects and closes at once is counted, but only at info.
    const raw = await RawPeer.connect(a.t.addr);
    raw.close();
    await waitFor(
      () => (a.t.stats().rejected.closed_before_handshake ?? 0) === 1,
      "closed_before_handshake",
    );
    assert.equal(
      a.logs.findLast((l) => l.msg === "Closing peer connection")?.level,
      "info",
    );
    const s = a.t.stats();
    assert.equal(s.inbound, 1); // only n2's connection is left
    assert.equal(b.t.stats().rejected.wrong_cluster, undefined);
  } finally {
    await closeAll(nodes);
  }
});

Deno.test("a peer from another cluster is refused and told why", async () => {
  const a = await start("n1");
  const c = await start("n2", { clusterId: "other" });
  try {
    a.t.addPeer("n2", c.t.addr);
    c.t.addPeer("n1", a.t.addr);
    c.t.send(hb("n2", "n1", 1));
    await waitFor(
      () => (a.t.stats().rejected.wrong_cluster ?? 0) >= 1,
      "rejection",
    );
    await waitFor(() => c.unreachable.includes("n1"), "onUnreachable");
    const log = c.logs.find((l) => l.msg === "Peer unreachable");
    assert.match(String(log?.reason), /refused the handshake: wrong_cluster/);
    assert.equal(a.inbox.length, 0);
    // A node at the wrong address (another id) is not talked to either.
    const d = await start("n5");
    try {
      a.t.addPeer("n2", d.t.addr); // n2's address now points at n5
      a.t.send(hb("n1", "n2", 2));
      // n5 refuses a handshake meant for n2 (and n1 would refuse a reply from n5).
      await waitFor(
        () =>
          a.logs.some((l) =>
            /wrong_recipient|Expected node n2/.test(String(l.reason))
          ),
        "id check",
      );
      assert.equal(d.t.stats().rejected.wrong_recipient, 1);
      assert.equal(d.inbox.length, 0);
    } finally {
      await d.t.close();
    }
  } finally {
    await closeAll([a, c]);
  }
});

Deno.test("peers can be added and removed at runtime", async () => {
  const nodes = await mesh(["n1", "n2"]);
  const [a, b] = nodes;
  const c = await start("n3");
  try {
    await assertDelivers(a, b);
    // Add n3 on both sides.
    a.t.addPeer("n3", c.t.addr);
    c.t.addPeer("n1", a.t.addr);
    await assertDelivers(a, c);
    assert.deepStrictEqual(a.t.peers().sort(), ["n2", "n3"]);
    assert.equal(a.t.peerAddress("n3"), c.t.addr);
    // Remove n2 from n1: n1 stops sending to it and refuses its connections.
    a.t.removePeer("n2");
    assert.deepStrictEqual(a.t.peers(), ["n3"]);
    a.t.send(hb("n1", "n2", 5));
    assert.equal(a.t.stats().drops.unknownPeer, 1);
    const seen = a.inbox.length;
    // n2 notices n1 closed its connection, then its reconnect is refused.
    await waitFor(() => b.unreachable.includes("n1"), "n2 sees the cut");
    b.t.send(hb("n2", "n1", 6));
    await waitFor(
      () => (a.t.stats().rejected.unknown_node ?? 0) >= 1,
      "unknown_node",
    );
    assert.equal(a.inbox.length, seen);
    // Back again.
    a.t.addPeer("n2", b.t.addr);
    await assertDelivers(a, b);
    assert.throws(() => a.t.addPeer("n1", "127.0.0.1:1"), TypeError);
    assert.throws(() => a.t.addPeer("n4", "nonsense"), TypeError);
  } finally {
    await closeAll([...nodes, c]);
  }
});

Deno.test("a large snapshot streams in chunks while heartbeats keep flowing", async () => {
  const nodes = await mesh(["n1", "n2"], {
    snapshotChunkBytes: 64 * 1024,
    snapshotWindowChunks: 2,
  });
  const [a, b] = nodes;
  // A proxy with latency makes the windowed stream take a while.
  const proxy = FaultProxy.listen(b.t.addr, { delayMs: 2 });
  let timer: ReturnType<typeof setInterval> | undefined;
  try {
    a.t.addPeer("n2", proxy.addr);
    await assertDelivers(a, b);
    const size = 8 * 1024 * 1024;
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) {
      crypto.getRandomValues(data.subarray(i, i + 4096));
    }
    const snap: Message = {
      type: "snap",
      from: "n1",
      to: "n2",
      term: 9,
      snapshot: {
        metadata: {
          index: 1234,
          term: 8,
          conf: { voters: ["n1", "n2"], learners: [] },
        },
        data,
      },
    };
    let beat = 0;
    const start = performance.now();
    a.t.send(snap);
    timer = setInterval(() => a.t.send(hb("n1", "n2", 10_000 + ++beat)), 3);
    await waitFor(
      () => b.inbox.some((m) => m.type === "snap"),
      "snapshot",
      15_000,
    );
    const elapsed = performance.now() - start;
    const idx = b.inbox.findIndex((m) => m.type === "snap");
    const beatsBefore = b.inbox.slice(0, idx).filter((m) =>
      m.term > 10_000
    ).length;
    clearInterval(timer);
    timer = undefined;
    const got = b.inbox[idx];
    assert.deepStrictEqual(got.snapshot!.metadata, snap.snapshot!.metadata);
    assert.equal(got.snapshot!.data.byteLength, size);
    assert.ok(got.snapshot!.data.every((v, i) => v === data[i]));
    assert.ok(
      beatsBefore >= 5,
      `only ${beatsBefore} heartbeats arrived during the ${
        elapsed.toFixed(0)
      } ms snapshot`,
    );
    await waitFor(() => a.snapStatus.length === 1, "onSnapshotStatus");
    assert.deepStrictEqual(a.snapStatus, [["n2", true]]);
    const s = a.t.stats();
    assert.equal(s.snapshotChunksSent, size / (64 * 1024));
    assert.equal(s.snapshotsSent, 1);
    assert.equal(b.t.stats().snapshotsReceived, 1);
  } finally {
    if (timer !== undefined) clearInterval(timer);
    await closeAll(nodes);
    await proxy.close();
  }
});

Deno.test("snapshot failures are reported", async () => {
  const a = await start("n1");
  const b = await start("n2", { maxSnapshotBytes: 1024 * 1024 });
  a.t.addPeer("n2", b.t.addr);
  b.t.addPeer("n1", a.t.addr);
  const snap = (bytes: number, index = 1): Message => ({
    type: "snap",
    from: "n1",
    to: "n2",
    term: 2,
    snapshot: {
      metadata: { index, term: 1, conf: { voters: ["n1"], learners: [] } },
      data: new Uint8Array(bytes),
    },
  });
  try {
    // Over the receiver's bound.
    a.t.send(snap(2 * 1024 * 1024));
    await waitFor(() => a.snapStatus.length === 1, "status");
    assert.deepStrictEqual(a.snapStatus[0], ["n2", false]);
    assert.equal(b.t.stats().rejected.snapshot_too_large, 1);
    // A small one works (and may be empty).
    a.t.send(snap(1000, 2));
    await waitFor(() => a.snapStatus.length === 2, "status");
    assert.deepStrictEqual(a.snapStatus[1], ["n2", true]);
    a.t.send(snap(0, 3));
    await waitFor(() => a.snapStatus.length === 3, "status");
    assert.deepStrictEqual(a.snapStatus[2], ["n2", true]);
    assert.deepStrictEqual(b.inbox.map((m) => m.snapshot?.metadata.index), [
      2,
      3,
    ]);
    // A second snapshot while one is streaming is refused.
    a.t.send(snap(900 * 1024, 4));
    a.t.send(snap(10, 5));
    await waitFor(() => a.snapStatus.length === 5, "status");
    assert.equal(a.t.stats().drops.snapshotBusy, 1);
    assert.deepStrictEqual(a.snapStatus.slice(3).sort(), [["n2", false], [
      "n2",
      true,
    ]]);
    // To a peer that is down.
    await b.t.close();
    a.t.send(snap(10, 6));
    await waitFor(() => a.snapStatus.length === 6, "status");
    assert.deepStrictEqual(a.snapStatus[5], ["n2", false]);
    assert.equal(a.t.stats().snapshotsFailed, 2);
  } finally {
    await closeAll([a, b]);
  }
});

Deno.test("fault proxy blocks, delays and unblocks traffic", async () => {
  // 1 s: long enough for a good handshake on a loaded machine; the held
  // one still times out well within waitFor's 5 s.
  const nodes = await mesh(["n1", "n2"], { handshakeTimeoutMs: 1000 });
  const [a, b] = nodes;
  const proxy = FaultProxy.listen(b.t.addr);
  try {
    a.t.addPeer("n2", proxy.addr);
    a.t.send(hb("n1", "n2", 1));
    await waitFor(() => b.inbox.length === 1, "first message");

    // Hold: nothing passes, nothing is lost.
    proxy.block();
    for (let i = 2; i <= 20; i++) a.t.send(hb("n1", "n2", i));
    await sleep(300);
    assert.equal(b.inbox.length, 1);
    proxy.unblock();
    await waitFor(() => b.inbox.length === 20, "held messages");
    assert.deepStrictEqual(
      b.inbox.map((m) => m.term),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );

    // Close: connections are cut, reconnects fail until unblocked.
    proxy.block({ mode: "close" });
    await waitFor(() => a.unreachable.includes("n2"), "onUnreachable");
    a.t.send(hb("n1", "n2", 21));
    await sleep(200);
    assert.equal(b.inbox.length, 20);
    proxy.unblock();
    await waitFor(() => b.inbox.length === 21, "message after unblock");
    assert.ok(a.t.stats().reconnects >= 1);
    assert.ok(proxy.stats().closedByBlock >= 1);

    // Delay.
    proxy.delay(150);
    const t0 = performance.now();
    a.t.send(hb("n1", "n2", 22));
    await waitFor(() => b.inbox.length === 22, "delayed message");
    const took = performance.now() - t0;
    assert.ok(took >= 140, `delivered after ${took.toFixed(0)} ms`);
    proxy.delay(0);

    // A connection opened while blocked (hold) times out in the handshake.
    const cuts = a.unreachable.length;
    proxy.block({ mode: "close" });
    await waitFor(() => a.unreachable.length > cuts, "cut");
    proxy.block(); // now hold: new connections hang
    const failures = a.t.stats().connectFailures;
    a.t.send(hb("n1", "n2", 23));
    await waitFor(
      () => a.t.stats().connectFailures > failures,
      "handshake timeout",
    );
    assert.ok(a.logs.some((l) => /Handshake timed out/.test(String(l.reason))));
    proxy.unblock();
    await waitFor(() => b.inbox.some((m) => m.term === 23), "after heal");
  } finally {
    await closeAll(nodes);
    await proxy.close();
  }
});

Deno.test("when every handshake slot is taken, the oldest unproven one makes room", async () => {
  const a = await start("n1", {
    maxPendingHandshakes: 2,
    handshakeTimeoutMs: 5000,
  });
  const raws: RawPeer[] = [];
  try {
    for (let i = 0; i < 2; i++) raws.push(await RawPeer.connect(a.t.addr));
    await waitFor(() => a.t.stats().handshaking === 2, "two pending");
    const third = await RawPeer.connect(a.t.addr);
    raws.push(third);
    // The first (oldest) is closed; the newest keeps its slot.
    assert.ok(await raws[0].closedByPeer());
    await waitFor(
      () => a.t.stats().rejected.handshake_evicted === 1,
      "the eviction",
    );
    assert.equal(a.t.stats().handshaking, 2);
    await third.hello({ from: "n9", to: "n1", cluster: "test" });
    assert.ok((await third.frame())?.kind === FrameKind.HelloOk);
  } finally {
    for (const r of raws) r.close();
    await a.t.close();
  }
});

Deno.test("strangers holding every handshake slot cannot lock a member out", async () => {
  for (const secrets of [undefined, ["a cluster secret of enough bytes"]]) {
    const [a, b] = await mesh(["n1", "n2"], {
      secrets,
      handshakeTimeoutMs: 10_000,
    });
    const strangers: RawPeer[] = [];
    try {
      // 100 silent connections: more than the 64 slots, and more than
      // the 16 of one host.
      for (let i = 0; i < 100; i++) {
        strangers.push(await RawPeer.connect(a.t.addr));
      }
      await waitFor(
        () => a.t.stats().rejected.handshake_evicted === 100 - 16,
        "evictions",
      );
      // n2 connects now, still gets in, and stays in.
      await assertDelivers(a, b);
      const connects = b.t.stats().connects;
      for (let i = 0; i < 100; i++) {
        strangers.push(await RawPeer.connect(a.t.addr));
      }
      await waitFor(
        () => a.t.stats().rejected.handshake_evicted === 200 - 16,
        "more evictions",
      );
      await assertDelivers(a, b);
      assert.equal(b.t.stats().connects, connects, "n2 kept its connection");
      assert.equal(a.t.stats().handshaking, 16);
    } finally {
      for (const r of strangers) r.close();
      await closeAll([a, b]);
    }
  }
});

Deno.test("a peer that stops reading does not hold up the others", async () => {
  const nodes = await mesh(["n1", "n3"], {
    writeTimeoutMs: 300,
    maxQueueBytes: 256 << 20,
  });
  const [a, c] = nodes;
  // A fake n2 that completes the handshake and then never reads.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Deno.Conn[] = [];
  const acceptLoop = (async () => {
    for await (const conn of listener) {
      accepted.push(conn);
      const reader = new FrameReader(conn);
      const f = await reader.read(4096);
      assert.equal(f?.kind, FrameKind.Hello);
      await conn.write(
        encodeFrame(
          FrameKind.HelloOk,
          encode({ v: PROTOCOL_VERSION, c: "test", f: "n2" }),
        ),
      );
      assert.equal((await reader.read(4096))?.kind, FrameKind.Auth);
      await conn.write(encodeFrame(FrameKind.AuthOk, encode({})));
    }
  })();
  try {
    a.t.addPeer("n2", `127.0.0.1:${listener.addr.port}`);
    for (let i = 1; i <= 100; i++) a.t.send(app("n1", "n2", i, 512 * 1024));
    // Meanwhile n3 is served as usual.
    for (let i = 1; i <= 50; i++) {
      a.t.send(hb("n1", "n3", i));
      await sleep(2);
    }
    await waitFor(() => c.inbox.length === 50, "n3's messages");
    await waitFor(() => a.unreachable.includes("n2"), "write timeout", 5000);
    const log = a.logs.find((l) =>
      l.msg === "Peer unreachable" && l.peer === "n2"
    );
    assert.match(String(log?.reason), /Write timed out after 300 ms/);
    assert.ok(a.t.stats().drops.connectionLost >= 1);
  } finally {
    listener.close();
    for (const c of accepted) {
      try {
        c.close();
      } catch {
        // Closed already.
      }
    }
    await acceptLoop.catch(() => {});
    await closeAll(nodes);
  }
});

Deno.test("TLS: peers verified against the cluster CA", async (t) => {
  const certs = await testCerts();
  if (certs === undefined) return;
  const { dir, makeCa, makeCert } = certs;
  try {
    await makeCa("ca");
    await makeCa("evil_ca");
    await makeCert("node", "ca");
    await makeCert("evil", "evil_ca");
    const tls = {
      certFile: `${dir}/node.pem`,
      keyFile: `${dir}/node.key`,
      caFile: `${dir}/ca.pem`,
    };
    // A TLS handshake on a loaded machine may take a while: 3 s (no step
    // waits for the timeout).
    const nodes = await mesh(["n1", "n2"], { tls, handshakeTimeoutMs: 3000 });
    const [a, b] = nodes;
    try {
      await t.step("messages flow over TLS", async () => {
        for (let i = 1; i <= 100; i++) a.t.send(app("n1", "n2", i, 200));
        await waitFor(() => b.inbox.length === 100, "messages");
        await assertDelivers(a, b);
      });
      await t.step("snapshots stream over TLS", async () => {
        a.t.send({
          type: "snap",
          from: "n1",
          to: "n2",
          term: 3,
          snapshot: {
            metadata: {
              index: 9,
              term: 3,
              conf: { voters: ["n1"], learners: [] },
            },
            data: new Uint8Array(600_000).fill(7),
          },
        });
        await waitFor(() => a.snapStatus.length === 1, "snapshot status");
        assert.deepStrictEqual(a.snapStatus[0], ["n2", true]);
      });
      await t.step("the secret is proved inside TLS", async () => {
        const secret = "a cluster secret of enough bytes";
        const [c, d] = await mesh(["n3", "n4"], {
          tls,
          handshakeTimeoutMs: 500,
          secrets: [secret],
        });
        const e = await start("n5", {
          tls,
          handshakeTimeoutMs: 500,
          secrets: ["another secret, just as long"],
        });
        try {
          await assertDelivers(c, d);
          // A node with a valid certificate but the wrong secret is refused.
          e.t.addPeer("n3", c.t.addr);
          c.t.addPeer("n5", e.t.addr);
          e.t.send(hb("n5", "n3", 1));
          await waitFor(() => e.t.stats().badListenerProofs >= 1, "refusal");
          assert.equal(c.inbox.filter((m) => m.from === "n5").length, 0);
        } finally {
          await closeAll([c, d, e]);
        }
      });
      await t.step("a plain-TCP client is closed", async () => {
        const raw = await RawPeer.connect(a.t.addr);
        await hello(raw, { from: "n2" });
        assert.ok(await raw.closedByPeer());
        await waitFor(
          () => a.t.stats().rejected.handshake_failed === 1,
          "rejection",
        );
      });
      await t.step(
        "a server with a certificate from another CA is not trusted",
        async () => {
          const evil = await start("n3", {
            tls: {
              certFile: `${dir}/evil.pem`,
              keyFile: `${dir}/evil.key`,
              caFile: `${dir}/ca.pem`,
            },
          });
          try {
            a.t.addPeer("n3", evil.t.addr);
            a.t.send(hb("n1", "n3", 1));
            await waitFor(() => a.unreachable.includes("n3"), "unreachable");
            assert.equal(evil.inbox.length, 0);
            const log = a.logs.find((l) =>
              l.msg === "Peer unreachable" && l.peer === "n3"
            );
            assert.match(String(log?.reason), /certificate/);
          } finally {
            await evil.t.close();
            a.t.removePeer("n3");
          }
        },
      );
    } finally {
      await closeAll(nodes);
    }
  } finally {
    await certs.remove();
  }
});

Deno.test("close() is idempotent and stops everything", async () => {
  const nodes = await mesh(["n1", "n2"]);
  const [a, b] = nodes;
  await assertDelivers(a, b);
  // Leave work in flight: a queue to a dead peer with a pending retry timer,
  // a half-open inbound connection and a snapshot stream.
  a.t.addPeer("n3", `127.0.0.1:${freePort()}`);
  a.t.send(hb("n1", "n3", 1));
  const raw = await RawPeer.connect(b.t.addr);
  a.t.send({
    type: "snap",
    from: "n1",
    to: "n2",
    term: 1,
    snapshot: {
      metadata: { index: 1, term: 1, conf: { voters: [], learners: [] } },
      data: new Uint8Array(4 << 20),
    },
  });
  await Promise.all([a.t.close(), a.t.close(), b.t.close()]);
  raw.close();
  a.t.send(hb("n1", "n2", 2));
  assert.ok(a.t.stats().drops.closed >= 1);
  await assert.rejects(() => Deno.connect(parseAddress(a.t.addr)));
});
