/**
 * The HTTP listener on real sockets (127.0.0.1, port 0): the connection
 * cap, header and idle timeouts, long requests left alone, accept errors
 * survived, graceful shutdown, the Deno.serve fallback, and its metrics.
 * Timeouts are small; the tests assert only what happens, with generous
 * deadlines, never how long it took.
 */

import assert from "node:assert/strict";
import {
  defaultMaxConnections,
  HttpListener,
  type HttpListenerOptions,
} from "../../src/server/http_listener.ts";
import { httpListenerMetricsText } from "../../src/server/http_metrics.ts";
import type { Logger } from "../../src/node/logger.ts";
import { testCerts } from "../support/certs.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const REQUEST = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

function start(
  o: Partial<HttpListenerOptions> = {},
): HttpListener {
  return HttpListener.listen({
    hostname: "127.0.0.1",
    port: 0,
    handler: () => new Response("ok"),
    maxConnections: 100,
    headerTimeoutMs: 60_000,
    idleTimeoutMs: 60_000,
    ...o,
  });
}

function connect(l: HttpListener): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
}

async function write(c: Deno.Conn, text: string): Promise<void> {
  const b = enc.encode(text);
  let off = 0;
  while (off < b.byteLength) off += await c.write(b.subarray(off));
}

/**
 * Reads until the server closes the connection; answers what was read, or
 * throws if it is still open after `deadlineMs` (generous: only a hang fails).
 */
async function readToClose(c: Deno.Conn, deadlineMs = 10_000): Promise<string> {
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    try {
      c.close();
    } catch {
      // Closed.
    }
  }, deadlineMs);
  let text = "";
  const buf = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      text += dec.decode(buf.subarray(0, n));
    }
  } catch {
    // A reset is the server closing too, unless our deadline closed it.
  } finally {
    clearTimeout(timer);
  }
  try {
    c.close();
  } catch {
    // Closed.
  }
  assert.ok(!expired, `still open after ${deadlineMs} ms: ${text}`);
  return text;
}

/** Reads one HTTP response (headers and a content-length body). */
async function readResponse(c: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const head = text.indexOf("\r\n\r\n");
    if (head >= 0) {
      const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length >= head + 4 + len) return text;
    }
    const n = await c.read(buf);
    if (n === null) throw new Error(`closed mid-response: ${text}`);
    text += dec.decode(buf.subarray(0, n));
  }
}

async function waitFor(
  cond: () => boolean,
  what: string,
  deadlineMs = 10_000,
): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("at the cap, a new connection is refused with a 503 when every one is busy", async () => {
  const logs: [string, Record<string, unknown>][] = [];
  const logger: Logger = (event, fields) => logs.push([event, fields]);
  const gate = Promise.withResolvers<void>();
  const l = start({
    maxConnections: 2,
    logger,
    handler: async (req) => {
      if (new URL(req.url).pathname === "/wait") await gate.promise;
      return new Response("ok");
    },
  });
  const base = `http://127.0.0.1:${l.addr.port}`;
  try {
    // Two requests in flight hold both connections.
    const waiting = [1, 2].map(() =>
      fetch(`${base}/wait`).then((r) => r.text())
    );
    await waitFor(() => l.stats().open === 2, "two busy connections");
    const extra = await connect(l);
    await write(extra, REQUEST);
    const answer = await readToClose(extra);
    assert.match(answer, /^HTTP\/1\.1 503/);
    assert.match(answer, /connection: close/i);
    assert.match(answer, /"code":"unavailable"/);
    await waitFor(() => l.stats().refused === 1, "the refusal count");
    // The busy ones finish as usual.
    gate.resolve();
    assert.deepEqual(await Promise.all(waiting), ["ok", "ok"]);
    const s = l.stats();
    assert.equal(s.accepted, 2);
    assert.equal(s.refused, 1);
    assert.equal(s.evicted, 0);
    assert.ok(logs.some(([e]) => e === "http.connectionRefused"));
    const text = httpListenerMetricsText(s);
    assert.match(text, /^raftlock_http_connections_refused_total 1$/m);
    assert.match(text, /^raftlock_http_connections 2$/m);
    assert.match(text, /^raftlock_http_max_connections 2$/m);
  } finally {
    await l.shutdown();
  }
});

Deno.test("at the cap, a new connection takes the place of the one idle longest", async () => {
  const l = start({ maxConnections: 2 });
  const held: Deno.Conn[] = [];
  try {
    // The first never sends a request; the second answers one and idles.
    const silent = await connect(l);
    await waitFor(() => l.stats().open === 1, "the silent connection");
    const idle = await connect(l);
    held.push(idle);
    await write(idle, REQUEST);
    assert.match(await readResponse(idle), /^HTTP\/1\.1 200/);
    // A third gets in; the silent one (idle since it connected) is closed.
    const third = await connect(l);
    held.push(third);
    await write(third, REQUEST);
    assert.match(await readResponse(third), /^HTTP\/1\.1 200/);
    assert.equal(await readToClose(silent), "");
    // A fourth: now the keep-alive one, idle longest, makes room.
    const fourth = await connect(l);
    held.push(fourth);
    await write(fourth, REQUEST);
    assert.match(await readResponse(fourth), /^HTTP\/1\.1 200/);
    assert.equal(await readToClose(idle), "");
    await write(third, REQUEST);
    assert.match(await readResponse(third), /^HTTP\/1\.1 200/);
    const s = l.stats();
    assert.equal(s.evicted, 2);
    assert.equal(s.refused, 0);
    assert.equal(s.accepted, 4);
    assert.match(
      httpListenerMetricsText(s),
      /^raftlock_http_connections_evicted_total 2$/m,
    );
  } finally {
    for (const c of held) {
      try {
        c.close();
      } catch {
        // Closed.
      }
    }
    await l.shutdown();
  }
});

Deno.test("refusals are logged at most once per interval", async () => {
  const logs: string[] = [];
  const gate = Promise.withResolvers<void>();
  const l = start({
    maxConnections: 1,
    logger: (event) => logs.push(event),
    handler: async () => {
      await gate.promise;
      return new Response("ok");
    },
  });
  const busy = fetch(`http://127.0.0.1:${l.addr.port}/`);
  try {
    await waitFor(() => l.stats().open === 1, "the busy connection");
    for (let i = 0; i < 5; i++) await readToClose(await connect(l));
    await waitFor(() => l.stats().refused === 5, "five refusals");
    assert.equal(logs.filter((e) => e === "http.connectionRefused").length, 1);
  } finally {
    gate.resolve();
    await (await busy).text();
    await l.shutdown();
  }
});

Deno.test("a connection that sends no request in time is closed", async () => {
  const l = start({ headerTimeoutMs: 200 });
  try {
    const silent = await connect(l);
    const slowloris = await connect(l);
    await write(slowloris, "GET / HTTP/1.1\r\nHost: x\r\n");
    assert.equal(await readToClose(silent), "");
    assert.equal(await readToClose(slowloris), "");
    await waitFor(() => l.stats().open === 0, "both closed");
    assert.equal(l.stats().timedOut.header, 2);
    assert.equal(l.stats().timedOut.idle, 0);
  } finally {
    await l.shutdown();
  }
});

Deno.test("an idle keep-alive connection is closed after the idle timeout", async () => {
  const l = start({ idleTimeoutMs: 200 });
  try {
    const c = await connect(l);
    await write(c, REQUEST);
    assert.match(await readResponse(c), /^HTTP\/1\.1 200/);
    assert.equal(await readToClose(c), "");
    await waitFor(() => l.stats().open === 0, "closed");
    assert.deepEqual(l.stats().timedOut, { header: 0, idle: 1 });
  } finally {
    await l.shutdown();
  }
});

Deno.test("a request in flight is never cut by the timeouts", async () => {
  // Each answer takes many timeouts' worth of time: a stream that is silent
  // at first (a watch with nothing to say), then sends events; and a plain
  // answer that comes late (a lock acquire that waits).
  const gate = Promise.withResolvers<void>();
  const l = start({
    headerTimeoutMs: 100,
    idleTimeoutMs: 100,
    handler: async (req) => {
      if (new URL(req.url).pathname === "/stream") {
        let n = 0;
        return new Response(
          new ReadableStream({
            async pull(ctl) {
              if (n === 0) await gate.promise;
              await new Promise((r) => setTimeout(r, 50));
              ctl.enqueue(enc.encode(`data: ${n}\n\n`));
              if (++n === 10) ctl.close();
            },
          }),
          { headers: { "content-type": "text/event-stream" } },
        );
      }
      await gate.promise;
      return new Response("granted");
    },
  });
  try {
    const stream = fetch(`http://127.0.0.1:${l.addr.port}/stream`).then((r) =>
      r.text()
    );
    const slow = fetch(`http://127.0.0.1:${l.addr.port}/wait`).then((r) =>
      r.text()
    );
    // Let many sweeps pass while both are in flight.
    await waitFor(() => l.stats().open === 2, "two connections");
    await new Promise((r) => setTimeout(r, 600));
    gate.resolve();
    const events = await stream;
    assert.equal(events.match(/^data: /gm)?.length, 10);
    assert.equal(await slow, "granted");
    assert.equal(l.stats().timedOut.header, 0);
  } finally {
    await l.shutdown();
  }
});

Deno.test("accept errors are survived: logged once, counted, and serving goes on", async () => {
  const logs: [string, Record<string, unknown>][] = [];
  let failures = 5;
  const l = start({
    logger: (event, fields) => logs.push([event, fields]),
    accept: (listener) => {
      if (failures > 0) {
        failures--;
        return Promise.reject(new Error("Too many open files (os error 24)"));
      }
      return listener.accept();
    },
  });
  try {
    const r = await fetch(`http://127.0.0.1:${l.addr.port}/`);
    assert.equal(await r.text(), "ok");
    assert.equal(l.stats().acceptErrors, 5);
    const failed = logs.filter(([e]) => e === "http.acceptFailed");
    assert.equal(failed.length, 1);
    assert.match(String(failed[0][1].error), /Too many open files/);
    assert.match(
      httpListenerMetricsText(l.stats()),
      /^raftlock_http_accept_errors_total 5$/m,
    );
  } finally {
    await l.shutdown();
  }
});

Deno.test("out of file descriptors, the connection idle longest is closed to free one", async () => {
  let fail = false;
  const l = start({
    accept: (listener) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error("Too many open files (os error 24)"));
      }
      return listener.accept();
    },
  });
  try {
    const idle = await connect(l);
    await write(idle, REQUEST);
    await readResponse(idle);
    const recent = await connect(l);
    await write(recent, REQUEST);
    await readResponse(recent);
    fail = true;
    const next = await connect(l);
    assert.equal(await readToClose(idle), "");
    await write(next, REQUEST);
    assert.match(await readResponse(next), /^HTTP\/1\.1 200/);
    next.close();
    recent.close();
    assert.equal(l.stats().acceptErrors, 1);
    assert.equal(l.stats().evicted, 1);
  } finally {
    await l.shutdown();
  }
});

Deno.test("shutdown closes idle connections and lets answers in flight finish", async () => {
  const gate = Promise.withResolvers<void>();
  const l = start({
    handler: async (req) => {
      if (new URL(req.url).pathname === "/slow") await gate.promise;
      return new Response("done");
    },
  });
  const idle = await connect(l);
  await write(idle, REQUEST);
  await readResponse(idle);
  const silent = await connect(l);
  const busy = fetch(`http://127.0.0.1:${l.addr.port}/slow`).then((r) =>
    r.text()
  );
  await waitFor(() => l.stats().open === 3, "three connections");
  const stopped = l.shutdown();
  assert.equal(await readToClose(idle), "");
  assert.equal(await readToClose(silent), "");
  gate.resolve();
  assert.equal(await busy, "done");
  await stopped;
  assert.equal(l.stats().open, 0);
  // Nothing listens any more.
  await assert.rejects(connect(l));
});

Deno.test("without serveHttpOnConnection it falls back to Deno.serve, and says so", async () => {
  const logs: string[] = [];
  const l = start({
    serveOnConnection: null,
    logger: (event) => logs.push(event),
  });
  try {
    const r = await fetch(`http://127.0.0.1:${l.addr.port}/`);
    assert.equal(await r.text(), "ok");
    assert.equal(l.stats().enforced, false);
    assert.ok(logs.includes("http.limitsNotEnforced"));
    assert.match(
      httpListenerMetricsText(l.stats()),
      /^raftlock_http_max_connections 0$/m,
    );
  } finally {
    await l.shutdown();
  }
});

Deno.test("the default cap leaves file descriptors below the soft limit", () => {
  const line = (soft: number) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 524288               files\n`;
  assert.deepEqual(defaultMaxConnections(line(1024)), {
    maxConnections: 768,
    fdSoftLimit: 1024,
  });
  assert.deepEqual(defaultMaxConnections(line(65536)), {
    maxConnections: 4096,
    fdSoftLimit: 65536,
  });
  assert.equal(defaultMaxConnections(line(256)).maxConnections, 64);
  assert.deepEqual(defaultMaxConnections("nothing useful"), {
    maxConnections: 4096,
  });
});

Deno.test("bad limits are refused", () => {
  for (const o of [{ maxConnections: 0 }, { headerTimeoutMs: -1 }]) {
    assert.throws(() => start(o), RangeError);
  }
});

Deno.test("HTTPS: served with a generated certificate; a silent TLS connection is given up", async () => {
  const certs = await testCerts();
  if (certs === undefined) return;
  const ca = await certs.makeCa("ca");
  const node = await certs.makeCert("node", "ca");
  const l = start({
    tls: {
      cert: await Deno.readTextFile(node.cert),
      key: await Deno.readTextFile(node.key),
    },
    headerTimeoutMs: 200,
  });
  const client = Deno.createHttpClient({
    caCerts: [await Deno.readTextFile(ca.cert)],
  });
  const silent = await connect(l);
  try {
    assert.equal(l.scheme, "https");
    for (const host of ["127.0.0.1", "localhost"]) {
      const r = await fetch(`https://${host}:${l.addr.port}/`, { client });
      assert.equal(await r.text(), "ok");
    }
    // No TLS handshake at all: timed out and closed, but Deno keeps the
    // socket until the client goes (it cannot cancel the handshake), so
    // only the counters can be checked.
    await waitFor(() => l.stats().tlsAbandoned === 1, "the abandonment");
    assert.equal(l.stats().timedOut.header, 1);
    assert.match(
      httpListenerMetricsText(l.stats()),
      /^raftlock_http_tls_handshakes_abandoned_total 1$/m,
    );
  } finally {
    silent.close();
    client.close();
    await l.shutdown();
    await certs.remove();
  }
});
