/**
 * E2E: hostile bytes at a raftd's peer port and HTTP port. The node must
 * stay healthy, keep committing, and log why it dropped each connection.
 */

import assert from "node:assert/strict";
import { encodeFrame } from "../../src/codec/frame.ts";
import { encode } from "../../src/codec/msgpack.ts";
import { mulberry32 } from "../../src/raft/rand.ts";
import { FrameKind, PROTOCOL_VERSION } from "../../src/transport/tcp.ts";
import {
  E2E,
  type E2ECluster,
  http,
  type LogRecord,
  reservePorts,
  sleep,
  withCluster,
} from "./harness.ts";

function hostPort(addr: string): { hostname: string; port: number } {
  const i = addr.lastIndexOf(":");
  return { hostname: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
}

async function connect(addr: string): Promise<Deno.TcpConn> {
  return await Deno.connect({ ...hostPort(addr), transport: "tcp" });
}

/** Writes, ignoring a peer that already closed. */
async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  try {
    let off = 0;
    while (off < data.byteLength) off += await conn.write(data.subarray(off));
  } catch {
    // Closed by the node: that is the point.
  }
}

/** Reads until the node closes the connection (or the timeout); returns the bytes. */
async function readUntilClosed(
  conn: Deno.Conn,
  timeoutMs = 3000,
): Promise<{ bytes: Uint8Array; closed: boolean }> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, timeoutMs);
  let closed = false;
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    // A reset counts as closed by the node; our own close (timeout) does not.
    closed = !(e instanceof Deno.errors.BadResource) &&
      !(e instanceof Deno.errors.Interrupted);
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.byteLength;
  }
  return { bytes, closed };
}

/** Sends `data` and waits for the node to close the connection. */
async function sendAndExpectClose(addr: string, data: Uint8Array) {
  const conn = await connect(addr);
  await writeAll(conn, data);
  return await readUntilClosed(conn);
}

function header(length: number, kind: number): Uint8Array {
  const h = new Uint8Array(5);
  new DataView(h.buffer).setUint32(0, length, false);
  h[4] = kind;
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

/**
 * `n` bytes of garbage from a fixed seed (and `n`): the same on every run
 * and in any test order, so which rejection each piece draws never changes
 * (the first test asserts every reason was logged).
 */
function randomBytes(n: number): Uint8Array {
  const garbage = mulberry32(0x6a7b ^ n);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(garbage() * 256);
  return b;
}

function hello(
  from: string,
  to: string,
  cluster = "raftlock",
): Uint8Array {
  // Protocol 2: the Hello, then the dialer's Auth frame (empty: this
  // cluster has no peer secret), sent together.
  return concat(
    encodeFrame(
      FrameKind.Hello,
      encode({ v: PROTOCOL_VERSION, c: cluster, f: from, t: to, k: "msg" }),
    ),
    encodeFrame(FrameKind.Auth, encode({})),
  );
}

/** Sends a raw HTTP request and returns the status line (or "closed"). */
async function rawHttp(addr: string, request: Uint8Array): Promise<string> {
  const conn = await connect(addr);
  await writeAll(conn, request);
  await conn.closeWrite().catch(() => {});
  const { bytes } = await readUntilClosed(conn, 2000);
  const text = new TextDecoder().decode(bytes.subarray(0, 200));
  return text.split("\r\n")[0] || "closed";
}

async function writesCommit(c: E2ECluster, tag: string): Promise<void> {
  for (const id of c.running()) {
    await c.putRetry([id], `garbage/${tag}/${id}`, tag, 5000);
  }
}

const isRejection = (reason: string) => (r: LogRecord) =>
  r.event === "transport" && r.message === "Closing peer connection" &&
  r.reason === reason;

Deno.test({
  name: "e2e: garbage at the peer port is rejected, logged and harmless",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const victim = c.node(leader);
      const peerAddr = victim.config.listen;
      const other = c.running().find((id) => id !== leader)!;
      const [port] = reservePorts(1);
      const learner = await c.putRetry([leader], "ready", "1").then(() =>
        http(`${victim.url}/v1/cluster/members`, {
          method: "POST",
          body: { id: "n4", peerAddress: `127.0.0.1:${port}` },
          timeoutMs: 10_000,
        })
      );
      assert.equal(learner.status, 201, JSON.stringify(learner));
      const from = victim.logs().length;

      // Random bytes.
      await sendAndExpectClose(peerAddr, randomBytes(256 * 1024));
      // An oversized length prefix, then a stream of bytes behind it.
      const big = await sendAndExpectClose(
        peerAddr,
        concat(header(0xffff_fff0, FrameKind.Hello), randomBytes(8192)),
      );
      assert.ok(big.closed, "oversized frame closes the connection");
      // A zero length prefix.
      await sendAndExpectClose(peerAddr, header(0, 0));
      // A frame of the right size with a garbage handshake body.
      await sendAndExpectClose(
        peerAddr,
        concat(header(101, FrameKind.Hello), randomBytes(100)),
      );
      // A well-formed handshake for another cluster: refused with a reason.
      const wrong = await sendAndExpectClose(
        peerAddr,
        hello(other, leader, "someone-else"),
      );
      assert.ok(wrong.closed);
      assert.ok(wrong.bytes.byteLength > 5, "a Reject frame came back");
      assert.equal(wrong.bytes[4], FrameKind.Reject);
      // A handshake from a node that is not a member.
      await sendAndExpectClose(peerAddr, hello("intruder", leader));
      // A handshake naming the wrong recipient.
      await sendAndExpectClose(peerAddr, hello(other, "n9"));
      // Truncated: a frame header promising more than is sent, then EOF.
      {
        const conn = await connect(peerAddr);
        await writeAll(
          conn,
          concat(header(3000, FrameKind.Hello), randomBytes(10)),
        );
        await conn.closeWrite();
        await readUntilClosed(conn);
      }

      // Many connections at once (more than the 64 pending handshakes
      // allowed); each sends a little garbage after a moment.
      const flood = await Promise.all(
        Array.from({ length: 100 }, () => connect(peerAddr).catch(() => null)),
      );
      await sleep(200);
      await writesCommit(c, "flood");
      await Promise.all(flood.map(async (conn) => {
        if (!conn) return;
        await writeAll(conn, randomBytes(64));
        await readUntilClosed(conn, 3000);
      }));

      // A valid handshake as a member, then garbage in the message stream.
      // (The id of a live member is refused as a duplicate, so the forged
      // one is a learner that never runs.)
      {
        const conn = await connect(peerAddr);
        await writeAll(conn, hello("n4", leader));
        const junk = randomBytes(300);
        await writeAll(conn, concat(header(301, FrameKind.Message), junk));
        const r = await readUntilClosed(conn);
        assert.ok(r.closed);
        assert.equal(r.bytes[4], FrameKind.HelloOk);
      }
      {
        // An oversized message frame after a valid handshake.
        const conn = await connect(peerAddr);
        await writeAll(conn, hello("n4", leader));
        await writeAll(conn, header(0x7fff_ffff, FrameKind.Message));
        assert.ok((await readUntilClosed(conn)).closed);
      }

      // Half-open connections that never send a byte (checked at the end,
      // after the 5 s handshake timeout). Opened after the flood above, which
      // evicts the oldest unproven handshakes of this host.
      const idle = await Promise.all(
        Array.from({ length: 8 }, () => connect(peerAddr)),
      );
      // 20 s: well past the node's 5 s even on a loaded machine.
      const idleReads = idle.map((conn) => readUntilClosed(conn, 20_000));

      // Healthy, and still committing through every node.
      const h = await http(`${victim.url}/healthz`);
      assert.equal(h.status, 200);
      await writesCommit(c, "after");
      assert.equal(await c.waitForLeader(), leader, "no leader change needed");

      // The half-open connections are closed by the handshake timeout.
      const idleDone = await Promise.all(idleReads);
      assert.ok(
        idleDone.every((r) => r.closed),
        "idle connections are closed by the node",
      );
      assert.ok(victim.running, "the node is still running");

      // Every kind of rejection was logged with its reason.
      for (
        const reason of [
          "frame_too_large",
          "bad_length",
          "bad_handshake",
          "wrong_cluster",
          "unknown_node",
          "wrong_recipient",
          "truncated",
          "handshake_evicted",
          "undecodable",
          "handshake_timeout",
        ]
      ) {
        await victim.waitForLog(isRejection(reason), {
          fromLine: from,
          timeoutMs: 1000,
        }).catch(() => {
          throw new Error(`no "${reason}" rejection was logged`);
        });
      }
    }),
});

Deno.test({
  name: "e2e: malformed HTTP requests are refused and the node stays healthy",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 3 }, async (c) => {
      const leader = await c.waitForLeader();
      const id = c.running().find((x) => x !== leader)!;
      const node = c.node(id);
      const addr = node.config.http;
      const url = node.url;
      const enc = new TextEncoder();
      const from = node.logs().length;

      // Raw protocol garbage.
      const idle = await connect(addr); // half-open: sends nothing
      const lines: string[] = [];
      lines.push(await rawHttp(addr, randomBytes(4096)));
      lines.push(await rawHttp(addr, enc.encode("GARBAGE\r\n\r\n")));
      lines.push(
        await rawHttp(
          addr,
          enc.encode(
            `GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${
              "a".repeat(200_000)
            }\r\n\r\n`,
          ),
        ),
      );
      lines.push(
        await rawHttp(
          addr,
          enc.encode(
            "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
          ),
        ),
      );
      console.log(`raw HTTP garbage answers: ${JSON.stringify(lines)}`);
      for (const l of lines) assert.ok(!/ 5\d\d /.test(l), l);

      // Well-formed HTTP, bad content: 4xx with a JSON error, never 500.
      const bad: [string, string, RequestInit, number][] = [
        ["invalid JSON", "/v1/kv/a", { method: "PUT", body: "{not json" }, 400],
        ["not an object", "/v1/kv/a", { method: "PUT", body: "[1,2]" }, 400],
        ["unknown field", "/v1/kv/a", {
          method: "PUT",
          body: JSON.stringify({ value: "v", evil: true }),
        }, 400],
        ["value not a string", "/v1/kv/a", {
          method: "PUT",
          body: JSON.stringify({ value: { x: 1 } }),
        }, 400],
        ["key too long", `/v1/kv/${"k".repeat(5000)}`, {
          method: "PUT",
          body: JSON.stringify({ value: "v" }),
        }, 400],
        ["body too large", "/v1/kv/a", {
          method: "PUT",
          body: JSON.stringify({ value: "x".repeat(3 * 1024 * 1024) }),
        }, 413],
        ["bad consistency", "/v1/kv/a?consistency=maybe", {}, 400],
        ["bad lease id", "/v1/leases/-1", {}, 400],
        ["bad limit", "/v1/kv?prefix=a&limit=abc", {}, 400],
        ["member without id", "/v1/cluster/members", {
          method: "POST",
          body: "{}",
        }, 400],
        ["method", "/v1/status", { method: "DELETE" }, 405],
        ["no route", "/nope", {}, 404],
      ];
      for (const [what, path, init, want] of bad) {
        const r = await fetch(`${url}${path}`, init);
        const text = await r.text();
        assert.equal(r.status, want, `${what}: ${r.status} ${text}`);
        const body = JSON.parse(text);
        assert.equal(typeof body.error?.code, "string", what);
      }
      const pct = await fetch(`${url}/v1/kv/%ZZ%`);
      await pct.body?.cancel();
      assert.ok(pct.status < 500, `bad percent-encoding: ${pct.status}`);

      // Many connections at once.
      const many = await Promise.all(
        Array.from({ length: 200 }, () =>
          fetch(`${url}/v1/status`).then(async (r) => {
            await r.body?.cancel();
            return r.status;
          }).catch(() =>
            0
          )),
      );
      assert.ok(many.filter((s) => s === 200).length >= 190);

      // Still healthy and committing.
      assert.equal((await http(`${url}/healthz`)).status, 200);
      await writesCommit(c, "http");
      idle.close();

      // The API counted the refusals (the node logs no line per bad
      // request; 4xx answers show up in the request metrics).
      const m = await (await fetch(`${url}/metrics`)).text();
      assert.match(m, /status="400"/);
      assert.match(m, /status="413"/);
      assert.equal(
        node.findLogs((r) => r.level === "error").length,
        0,
        `no error lines after line ${from}`,
      );
    }),
});

Deno.test({
  name: "e2e: a request body cut short is a client error, not a 500",
  ...E2E,
  fn: () =>
    withCluster({ nodes: 1 }, async (c) => {
      const node = c.node("n1");
      const line = await rawHttp(
        node.config.http,
        new TextEncoder().encode(
          'PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"va',
        ),
      );
      assert.ok(!/ 5\d\d /.test(line), line);
      assert.equal(
        node.findLogs((r) => !r.raw.startsWith("{") && !r.raw.startsWith("---"))
          .length,
        0,
        "every log line is structured",
      );
    }),
});
