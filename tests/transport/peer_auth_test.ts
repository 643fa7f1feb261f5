import assert from "node:assert/strict";
import { encodeFrame } from "../../src/codec/frame.ts";
import { encode } from "../../src/codec/msgpack.ts";
import type { Message, NodeId } from "../../src/raft/types.ts";
import { type Server, startServer } from "../../src/server/server.ts";
import { DiskStorage } from "../../src/storage/disk_storage.ts";
import {
  type HandshakeFacts,
  PeerKeys,
  randomNonce,
  timingSafeEqual,
  transcript,
} from "../../src/transport/tcp/auth.ts";
import {
  ensurePeerSecretFile,
  FrameKind,
  type LogLevel,
  parsePeerSecrets,
  PROTOCOL_VERSION,
  readPeerSecretFile,
  TcpTransport,
  type TcpTransportOptions,
} from "../../src/transport/tcp.ts";
import { parseHelloOk, parseReject } from "../../src/transport/tcp/protocol.ts";
import { waitFor } from "../support/wait.ts";
import { RawPeer, RecordingRelay } from "./raw_peer.ts";

const SECRET = "correct horse battery staple";
const OTHER = "a different secret, also long";

// ---------------------------------------------------------------- helpers

interface Node {
  t: TcpTransport;
  inbox: Message[];
  logs: { level: LogLevel; msg: string; [k: string]: unknown }[];
  refused: [NodeId, string][];
}

async function start(
  id: NodeId,
  options: Partial<TcpTransportOptions> = {},
): Promise<Node> {
  const node: Node = {
    t: undefined as unknown as TcpTransport,
    inbox: [],
    logs: [],
    refused: [],
  };
  node.t = await TcpTransport.listen({
    id,
    clusterId: "raftlock",
    listen: "127.0.0.1:0",
    logger: (level, msg, fields) => node.logs.push({ level, msg, ...fields }),
    onRefused: (to, reason) => node.refused.push([to, reason]),
    backoffBaseMs: 10,
    backoffMaxMs: 100,
    handshakeTimeoutMs: 1000,
    ...options,
  });
  node.t.onMessage((m) => node.inbox.push(m));
  return node;
}

function link(a: Node, b: Node): void {
  a.t.addPeer(b.t.id, b.t.addr);
  b.t.addPeer(a.t.id, a.t.addr);
}

function hb(from: NodeId, to: NodeId, term: number): Message {
  return { type: "heartbeat", from, to, term };
}

function facts(patch: Partial<HandshakeFacts> = {}): HandshakeFacts {
  return {
    version: PROTOCOL_VERSION,
    clusterId: "raftlock",
    dialer: "n1",
    listener: "n2",
    kind: "msg",
    dialerNonce: new Uint8Array(32).fill(1),
    listenerNonce: new Uint8Array(32).fill(2),
    ...patch,
  };
}

// ------------------------------------------------------------ the proofs

Deno.test("proof: the right secret passes; a wrong one, a reflection, a replay or changed claims fail", async () => {
  const keys = await PeerKeys.from([SECRET]);
  const wrong = await PeerKeys.from([OTHER]);
  const f = facts();
  const pd = await keys.prove("dialer", f);
  const pl = await keys.prove("listener", f);
  assert.equal(pd.byteLength, 32);
  assert.ok(await keys.verify("dialer", f, pd));
  assert.ok(await keys.verify("listener", f, pl));
  // The same secret in another object (another node) agrees.
  assert.ok(await (await PeerKeys.from([SECRET])).verify("dialer", f, pd));
  // Wrong secret.
  assert.ok(!await wrong.verify("dialer", f, pd));
  assert.ok(!await keys.verify("dialer", f, await wrong.prove("dialer", f)));
  // Reflected: the listener's proof is not a dialer's proof, nor back.
  assert.ok(!await keys.verify("dialer", f, pl));
  assert.ok(!await keys.verify("listener", f, pd));
  // Replayed: a fresh listener nonce makes the old proof worthless.
  const fresh = facts({ listenerNonce: randomNonce() });
  assert.ok(!await keys.verify("dialer", fresh, pd));
  // Every claim is bound.
  for (
    const patch of [
      { clusterId: "other" },
      { dialer: "n3" },
      { listener: "n3" },
      { kind: "snap" as const },
      { version: PROTOCOL_VERSION + 1 },
      { dialerNonce: new Uint8Array(32).fill(9) },
    ]
  ) {
    assert.ok(
      !await keys.verify("dialer", facts(patch), pd),
      JSON.stringify(Object.keys(patch)),
    );
  }
  // Fields are length-prefixed, so moving a byte between them changes the
  // transcript.
  assert.ok(
    !timingSafeEqual(
      transcript("dialer", facts({ dialer: "n1a", listener: "b" })),
      transcript("dialer", facts({ dialer: "n1", listener: "ab" })),
    ),
  );
  assert.ok(!await keys.verify("dialer", f, pd.subarray(0, 31)));
  // Secrets must be long enough, and one or two.
  await assert.rejects(() => PeerKeys.from(["short"]), RangeError);
  await assert.rejects(() => PeerKeys.from([]), RangeError);
  await assert.rejects(
    () => PeerKeys.from([SECRET, SECRET, SECRET]),
    RangeError,
  );
});

Deno.test("proof: with two secrets the first proves and either verifies", async () => {
  const f = facts();
  const old = await PeerKeys.from([SECRET]);
  const both = await PeerKeys.from([OTHER, SECRET]); // rotating to OTHER
  const next = await PeerKeys.from([OTHER]);
  assert.ok(await both.verify("dialer", f, await old.prove("dialer", f)));
  assert.ok(await both.verify("dialer", f, await next.prove("dialer", f)));
  assert.ok(await next.verify("dialer", f, await both.prove("dialer", f)));
  assert.ok(!await old.verify("dialer", f, await both.prove("dialer", f)));
});

Deno.test("secret file: checked, warned about when others can read it, generated once", async () => {
  assert.deepStrictEqual(parsePeerSecrets(`  ${SECRET}  \n`), [SECRET]);
  assert.deepStrictEqual(parsePeerSecrets(`${OTHER}\r\n\n${SECRET}\n`), [
    OTHER,
    SECRET,
  ]);
  assert.throws(() => parsePeerSecrets(" \n\n", "f"), /f is empty/);
  assert.throws(() => parsePeerSecrets("tooshort", "f"), /at least 16/);
  assert.throws(
    () => parsePeerSecrets(`${SECRET}\nshort\n`, "f"),
    /line 2 .* 5 bytes/,
  );
  assert.throws(
    () => parsePeerSecrets(`${SECRET}\n${SECRET}\n${SECRET}`, "f"),
    /holds 3 secrets/,
  );
  const dir = await Deno.makeTempDir({ prefix: "raftlock-secret-" });
  try {
    await assert.rejects(
      () => readPeerSecretFile(`${dir}/missing`),
      /does not exist/,
    );
    await Deno.writeTextFile(`${dir}/open`, SECRET, { mode: 0o644 });
    await Deno.chmod(`${dir}/open`, 0o644);
    const open = await readPeerSecretFile(`${dir}/open`);
    assert.deepStrictEqual(open.secrets, [SECRET]);
    assert.match(open.warning ?? "", /readable by other users \(mode 644\)/);
    await Deno.chmod(`${dir}/open`, 0o600);
    assert.equal((await readPeerSecretFile(`${dir}/open`)).warning, undefined);
    // Generated with mode 0600, then kept across calls.
    const path = await ensurePeerSecretFile(`${dir}/sub/peer.secret`);
    const first = await Deno.readTextFile(path);
    assert.match(first, /^[0-9a-f]{64}\n$/);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    await ensurePeerSecretFile(path);
    assert.equal(await Deno.readTextFile(path), first);
    await Deno.writeTextFile(`${dir}/bad`, "short\n");
    await assert.rejects(() => ensurePeerSecretFile(`${dir}/bad`), /16/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ------------------------------------------------------- over the wire

Deno.test("transports with the same secret exchange messages and snapshots", async () => {
  // Mid-rotation from SECRET to OTHER: n1 still proves with the old
  // secret and accepts the new one; n2 already proves with the new one.
  const a = await start("n1", { secrets: [SECRET, OTHER] });
  const b = await start("n2", { secrets: [OTHER, SECRET] });
  try {
    link(a, b);
    for (let i = 1; i <= 20; i++) a.t.send(hb("n1", "n2", i));
    b.t.send(hb("n2", "n1", 7));
    await waitFor(() => b.inbox.length === 20 && a.inbox.length === 1, "msgs");
    assert.deepStrictEqual(b.inbox.map((m) => m.term), [
      ...Array.from({ length: 20 }, (_, i) => i + 1),
    ]);
    a.t.send({
      type: "snap",
      from: "n1",
      to: "n2",
      term: 3,
      snapshot: {
        metadata: { index: 9, term: 3, conf: { voters: ["n1"], learners: [] } },
        data: new Uint8Array(100_000).fill(5),
      },
    });
    await waitFor(() => b.inbox.some((m) => m.type === "snap"), "snapshot");
    assert.deepStrictEqual(a.t.stats().rejected, {});
    assert.deepStrictEqual(b.t.stats().rejected, {});
    assert.equal(a.t.stats().badListenerProofs, 0);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

Deno.test("different secrets: neither side admits the other and nothing is delivered", async () => {
  const a = await start("n1", { secrets: [SECRET] });
  const b = await start("n2", { secrets: [OTHER] });
  try {
    link(a, b);
    a.t.send(hb("n1", "n2", 5));
    // The dialer checks the listener's proof first, and gives up.
    await waitFor(() => a.t.stats().badListenerProofs >= 1, "dialer check");
    await waitFor(
      () => (b.t.stats().rejected.closed_during_handshake ?? 0) >= 1,
      "listener sees the dialer leave",
    );
    const log = a.logs.find((l) => l.msg === "Peer unreachable");
    assert.match(String(log?.reason), /failed to prove the peer secret/);
    // A forged dialer with the wrong secret is refused by the listener.
    const raw = await RawPeer.connect(b.t.addr);
    const out = await raw.handshake({ from: "n1", to: "n2" }, SECRET);
    assert.equal(out.result, "bad_proof");
    assert.ok(!await raw.send(hb("n1", "n2", 99)) || await raw.closedByPeer());
    raw.close();
    assert.equal(b.t.stats().rejected.bad_proof, 1);
    // n1 keeps redialling meanwhile (each try ends closed_during_handshake),
    // so look for the forged connection's entry, not the last one.
    const closing = b.logs.find((l) =>
      l.msg === "Closing peer connection" && l.reason === "bad_proof"
    );
    assert.equal(closing?.level, "warn");
    assert.deepStrictEqual(b.inbox, []);
    assert.deepStrictEqual(a.inbox, []);
    // A bad proof is no reason to believe this node was removed.
    assert.deepStrictEqual(a.refused, []);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

Deno.test("a secret on one side only fails clearly in both directions", async () => {
  const a = await start("n1", { secrets: [SECRET] });
  const b = await start("n2");
  try {
    link(a, b);
    b.t.send(hb("n2", "n1", 1)); // no secret → secret
    a.t.send(hb("n1", "n2", 1)); // secret → no secret
    await waitFor(
      () =>
        (a.t.stats().rejected.auth_required ?? 0) >= 1 &&
        (b.t.stats().rejected.auth_not_configured ?? 0) >= 1,
      "both refusals",
    );
    await waitFor(
      () =>
        b.logs.some((l) =>
          /refused the handshake: auth_required/.test(String(l.reason))
        ) &&
        a.logs.some((l) =>
          /refused the handshake: auth_not_configured/.test(String(l.reason))
        ),
      "both dialers log why",
    );
    assert.deepStrictEqual(a.inbox, []);
    assert.deepStrictEqual(b.inbox, []);
  } finally {
    await Promise.all([a.t.close(), b.t.close()]);
  }
});

Deno.test("a reflected proof and a replayed handshake are refused", async () => {
  const a = await start("n1", { secrets: [SECRET] });
  const b = await start("n2", { secrets: [SECRET] });
  const relay = new RecordingRelay();
  try {
    // n1 reaches n2 through the relay, which records what n1 sends.
    relay.target = b.t.addr;
    a.t.addPeer("n2", relay.addr);
    b.t.addPeer("n1", a.t.addr);
    a.t.send(hb("n1", "n2", 1));
    await waitFor(() => b.inbox.length === 1, "genuine message");
    const recorded = relay.recorded[0];
    assert.ok(recorded.byteLength > 0);

    // Replay n1's bytes (Hello, proof, message) on a new connection.
    const replay = await RawPeer.connect(b.t.addr);
    await replay.write(recorded);
    assert.ok(await replay.closedByPeer());
    await waitFor(() => b.t.stats().rejected.bad_proof === 1, "replay");
    assert.equal(b.inbox.length, 1);

    // Reflect: answer n2's proof with n2's own proof.
    const raw = await RawPeer.connect(b.t.addr);
    await raw.write(
      encodeFrame(
        FrameKind.Hello,
        encode({
          v: PROTOCOL_VERSION,
          c: "raftlock",
          f: "n1",
          t: "n2",
          k: "msg",
          n: randomNonce(),
        }),
      ),
    );
    const reply = await raw.frame();
    assert.equal(reply?.kind, FrameKind.HelloOk);
    const ok = parseHelloOk(reply!.body);
    assert.ok(typeof ok !== "string" && ok.p !== undefined);
    await raw.write(encodeFrame(FrameKind.Auth, encode({ p: ok.p })));
    const refusal = await raw.frame();
    assert.equal(refusal?.kind, FrameKind.Reject);
    assert.equal(parseReject(refusal!.body).reason, "bad_proof");
    raw.close();
    await waitFor(() => b.t.stats().rejected.bad_proof === 2, "reflection");
    // No proof at all.
    const bare = await RawPeer.connect(b.t.addr);
    assert.equal(
      (await bare.handshake({ from: "n1", to: "n2" })).result,
      "auth_required",
    );
    bare.close();
    assert.equal(b.inbox.length, 1);
    // The genuine link still works.
    a.t.send(hb("n1", "n2", 2));
    await waitFor(() => b.inbox.length === 2, "genuine message after");
  } finally {
    await Promise.all([a.t.close(), b.t.close(), relay.close()]);
  }
});

// ---------------------------------------------- a node under a forged peer

async function status(s: Server) {
  const r = await fetch(`http://${s.httpAddress}/v1/status`);
  return await r.json() as { term: number; leader: string; role: string };
}

async function metric(s: Server, line: string): Promise<number> {
  const text = await (await fetch(`http://${s.httpAddress}/metrics`)).text();
  const hit = text.split("\n").find((l) => l.startsWith(line + " "));
  return hit === undefined ? 0 : Number(hit.slice(line.length + 1));
}

Deno.test("an authenticated peer's 2^53−1 term is refused: the node stays up and keeps its term", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-auth-" });
  const ports = Array.from({ length: 5 }, () => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = l.addr.port;
    l.close();
    return p;
  });
  // n1 and n2 are real; n3 is the forged peer (it holds the secret).
  const peers = {
    n1: `127.0.0.1:${ports[0]}`,
    n2: `127.0.0.1:${ports[1]}`,
    n3: `127.0.0.1:${ports[2]}`,
  };
  const servers: Server[] = [];
  try {
    for (const [i, id] of ["n1", "n2"].entries()) {
      servers.push(
        await startServer({
          id,
          dataDir: `${dir}/${id}`,
          listen: peers[id as "n1" | "n2"],
          http: `127.0.0.1:${ports[3 + i]}`,
          peers,
          peerSecrets: [SECRET],
        }),
      );
    }
    await waitFor(
      () => servers.every((s) => s.node.leader !== ""),
      "a leader",
      10_000,
    );
    for (const s of servers) {
      const before = await status(s);
      const raw = await RawPeer.connect(s.peerAddress);
      const out = await raw.handshake({ from: "n3", to: s.node.id }, SECRET);
      assert.equal(out.result, "admitted");
      await raw.send(hb("n3", s.node.id, Number.MAX_SAFE_INTEGER));
      assert.ok(await raw.closedByPeer(), "connection closed");
      assert.equal(
        await metric(
          s,
          'raftlock_peer_connections_rejected_total{reason="invalid_message"}',
        ),
        1,
      );
      const after = await status(s);
      assert.equal(after.term, before.term);
      assert.equal(after.leader, before.leader);
    }
    // Still up after more than an election timeout.
    await new Promise((r) => setTimeout(r, 700));
    for (const s of servers) {
      assert.ok(s.node.term < 1000);
      assert.equal((await status(s)).leader, servers[0].node.leader);
    }
  } finally {
    for (const s of servers) await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a store with a term too large to run with is refused at start, naming the way out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "raftlock-term-" });
  try {
    // What an older version persisted after a forged 2^53−1 heartbeat.
    const store = await DiskStorage.open(`${dir}/n1`, {
      conf: { voters: ["n1"], learners: [] },
    });
    await store.save({
      entries: [],
      hardState: { term: Number.MAX_SAFE_INTEGER, vote: "", commit: 0 },
    });
    await store.close();
    await assert.rejects(
      () =>
        startServer({
          id: "n1",
          dataDir: `${dir}/n1`,
          listen: "127.0.0.1:0",
          http: "127.0.0.1:0",
        }),
      (e: Error) => {
        assert.match(e.message, /persisted term 9007199254740991 is beyond/);
        assert.match(e.message, /restore its data directory from a backup/);
        assert.match(e.message, /remove it from the cluster/);
        assert.match(e.message, /wipe its data directory/);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
