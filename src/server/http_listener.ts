/**
 * The HTTP listener of a node: our own accept loop on `Deno.listen` (or
 * `Deno.listenTls`) that serves each connection with Deno's
 * `serveHttpOnConnection` (the same HTTP engine as `Deno.serve`, at the
 * same speed), so that the node, not the runtime, decides:
 *
 * - how many connections may be open (`maxConnections`): at the cap, a
 *   new connection takes the place of the one that has had no request in
 *   flight for longest (an idle keep-alive or a connection that never
 *   sent a request), which is closed; if every connection is busy, the
 *   new one is closed at once (plain HTTP: after a `503` with
 *   `Connection: close`). Both are counted and logged;
 * - how long a new connection may take to send its first request
 *   (`headerTimeoutMs`; the TLS handshake included) and how long a
 *   keep-alive connection may sit with no request in flight
 *   (`idleTimeoutMs`): past either it is closed. A request in flight (a
 *   watch stream, a lock acquire that waits) is never cut by them;
 * - what an accept error does (out of file descriptors, say): it is
 *   logged, counted, and the loop backs off (10 ms growing to 1 s) and
 *   keeps accepting; out of file descriptors, it also closes the
 *   connection idle for longest to free one. `Deno.serve` instead ends
 *   its loop and the process.
 *
 * `serveHttpOnConnection` is internal to Deno (`node:http` uses it). It is
 * looked up at start; if a Deno version lacks it, the listener falls back
 * to `Deno.serve` and logs that the limits are not enforced.
 *
 * @module
 */

import { type Logger, nullLogger } from "../node/logger.ts";
import { RateLimitedLog } from "./rate_limited_log.ts";

/** Handles one request (the shape of a `Deno.serve` handler). */
export type HttpHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** Answers a request whose handler threw. */
export type HttpErrorHandler = (error: unknown) => Response | Promise<Response>;

/** What `serveHttpOnConnection` returns: one connection being served. */
export interface ServedConnection {
  /** Settles once the connection is closed. */
  finished: Promise<void>;
  /** Stops reading requests; closes the connection once responses in flight are sent. */
  shutdown(): Promise<void>;
}

/**
 * Deno's internal `serveHttpOnConnection(conn, signal, handler, onError,
 * onListen)`: serves HTTP/1.1 on one accepted connection until it closes;
 * aborting `signal` closes it at once.
 */
export type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal,
  handler: HttpHandler,
  onError: HttpErrorHandler,
  onListen: (scheme: string) => void,
) => ServedConnection;

/** Deno's `serveHttpOnConnection`, or undefined if this Deno has none. */
export function findServeOnConnection(): ServeOnConnection | undefined {
  const key = (Deno as unknown as { internal?: symbol }).internal;
  if (typeof key !== "symbol") return undefined;
  const internal = (Deno as unknown as Record<symbol, unknown>)[key] as
    | { serveHttpOnConnection?: unknown }
    | undefined;
  const fn = internal?.serveHttpOnConnection;
  return typeof fn === "function" ? fn as ServeOnConnection : undefined;
}

/** The cap on open HTTP connections when the file-descriptor limit allows it. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** File descriptors kept free below the soft limit for the WAL, snapshots, peers and forwarded requests. */
export const FD_HEADROOM = 256;
/** Default time a new connection has to send its first request's headers, in ms. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;
/** Default time a keep-alive connection may be idle, in ms. */
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
// Refused connections still draining their 503 at once; more are closed bare.
const MAX_REFUSING = 64;
const REFUSAL_DRAIN_MS = 1000;
const FIRST_BACKOFF_MS = 10;
const MAX_BACKOFF_MS = 1000;

/** The default connection cap and the figures it was derived from. */
export interface ConnectionBudget {
  /** The cap to use. */
  maxConnections: number;
  /** The process's soft `RLIMIT_NOFILE`, when known. */
  fdSoftLimit?: number;
}

/**
 * The default connection cap: {@linkcode DEFAULT_MAX_CONNECTIONS}, lowered
 * to leave {@linkcode FD_HEADROOM} descriptors below the process's soft
 * file-descriptor limit (read from `/proc/self/limits`, or from `limits`).
 *
 * @example
 * ```ts
 * import { defaultMaxConnections } from "./http_listener.ts";
 *
 * const budget = defaultMaxConnections(
 *   "Max open files            1024                 4096                 files\n",
 * );
 * // budget: { maxConnections: 768, fdSoftLimit: 1024 }
 * ```
 */
export function defaultMaxConnections(limits?: string): ConnectionBudget {
  let text = limits;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/self/limits");
    } catch {
      return { maxConnections: DEFAULT_MAX_CONNECTIONS };
    }
  }
  const m = text.match(/^Max open files\s+(\d+)\s/m);
  if (!m) return { maxConnections: DEFAULT_MAX_CONNECTIONS };
  const soft = Number(m[1]);
  return {
    maxConnections: Math.max(
      64,
      Math.min(DEFAULT_MAX_CONNECTIONS, soft - FD_HEADROOM),
    ),
    fdSoftLimit: soft,
  };
}

/** Options of {@linkcode HttpListener.listen}. */
export interface HttpListenerOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind (0 picks one). */
  port: number;
  /** Serve HTTPS with this certificate chain and key (PEM text). */
  tls?: { cert: string; key: string };
  /** Handles each request. */
  handler: HttpHandler;
  /** Answers a request whose handler threw (default: a bare 500). */
  onError?: HttpErrorHandler;
  /** Most connections open at once (default {@linkcode defaultMaxConnections}). */
  maxConnections?: number;
  /** A new connection with no request after this long is closed, ms (default 10 000). */
  headerTimeoutMs?: number;
  /** A connection with no request in flight for this long is closed, ms (default 60 000). */
  idleTimeoutMs?: number;
  /** Structured logs. */
  logger?: Logger;
  /** Shortest gap between two lines of one repeated warning, ms (default 10 000). */
  logIntervalMs?: number;
  /** Accepts the next connection (default `listener.accept()`); tests inject failures here. */
  accept?: (listener: Deno.Listener) => Promise<Deno.Conn>;
  /**
   * Serves one connection (default Deno's internal `serveHttpOnConnection`);
   * `null` forces the `Deno.serve` fallback, for tests.
   */
  serveOnConnection?: ServeOnConnection | null;
}

/** Counters of an {@linkcode HttpListener}. */
export interface HttpListenerStats {
  /** False when running on the `Deno.serve` fallback: no cap, no timeouts. */
  enforced: boolean;
  /** The connection cap. */
  maxConnections: number;
  /** Connections open now. */
  open: number;
  /** Connections accepted and served. */
  accepted: number;
  /** Connections closed at once because the cap was reached and every open one was busy. */
  refused: number;
  /** Idle connections closed to make room for a new one at the cap. */
  evicted: number;
  /** Connections closed by a timeout, by which. */
  timedOut: { header: number; idle: number };
  /** Accept calls that failed (out of file descriptors, say). */
  acceptErrors: number;
  /**
   * HTTPS connections closed in their TLS handshake. Deno cannot cancel a
   * server-side handshake: each keeps its socket until the client sends
   * or closes, whatever the node does.
   */
  tlsAbandoned: number;
}

interface Served {
  readonly conn: Deno.Conn;
  readonly ac: AbortController;
  inflight: number;
  requests: number;
  idleSince: number;
  closing: boolean;
  // Set once Deno serves it (after the TLS handshake, over HTTPS).
  server?: ServedConnection;
  // Settles once the connection is closed, whichever way.
  finished: Promise<void>;
}

const REFUSAL = new TextEncoder().encode((() => {
  const body = JSON.stringify({
    error: {
      code: "unavailable",
      message: "Too many connections to this node; retry shortly",
    },
  });
  return "HTTP/1.1 503 Service Unavailable\r\n" +
    "content-type: application/json\r\n" +
    `content-length: ${body.length}\r\n` +
    "retry-after: 1\r\nconnection: close\r\n\r\n" + body;
})());

function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch {
    // Already closed.
  }
}

// EMFILE (the process's limit) or ENFILE (the system's).
function outOfFds(e: unknown): boolean {
  return /too many open files|os error 2[34]\b/i.test(
    e instanceof Error ? e.message : String(e),
  );
}

function bareError(): Response {
  return new Response(
    JSON.stringify({
      error: { code: "internal", message: "Internal server error" },
    }),
    { status: 500, headers: { "content-type": "application/json" } },
  );
}

/**
 * Serves HTTP with a connection cap, header and idle timeouts, and an
 * accept loop that survives accept errors.
 *
 * @example
 * ```ts
 * import { HttpListener } from "./http_listener.ts";
 *
 * const l = HttpListener.listen({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   handler: () => new Response("ok"),
 *   maxConnections: 100,
 * });
 * const r = await fetch(`http://127.0.0.1:${l.addr.port}/`);
 * console.log(await r.text(), l.stats().open);
 * await l.shutdown();
 * ```
 */
export class HttpListener {
  /** The bound address. */
  readonly addr: Deno.NetAddr;
  /** `http` or `https`. */
  readonly scheme: "http" | "https";
  readonly #listener: Deno.Listener | undefined;
  readonly #fallback: Deno.HttpServer<Deno.NetAddr> | undefined;
  readonly #serveOn: ServeOnConnection | undefined;
  readonly #handler: HttpHandler;
  readonly #onError: HttpErrorHandler;
  readonly #accept: (listener: Deno.Listener) => Promise<Deno.Conn>;
  readonly #max: number;
  readonly #headerMs: number;
  readonly #idleMs: number;
  readonly #sweepMs: number;
  readonly #log: Logger;
  readonly #rl: RateLimitedLog;
  readonly #conns = new Set<Served>();
  readonly #refusing = new Set<Deno.Conn>();
  readonly #stats = {
    accepted: 0,
    refused: 0,
    evicted: 0,
    timedOut: { header: 0, idle: 0 },
    acceptErrors: 0,
    tlsAbandoned: 0,
  };
  #sweeper: ReturnType<typeof setInterval> | undefined;
  // Connections aborted (timed out, evicted) whose close is under way.
  #closing = 0;
  #closed = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(o: HttpListenerOptions) {
    this.#log = o.logger ?? nullLogger;
    this.#rl = new RateLimitedLog(this.#log, o.logIntervalMs ?? 10_000);
    this.#handler = o.handler;
    this.#onError = o.onError ?? ((e) => {
      this.#rl.log("http.handlerFailed", { level: "error", error: String(e) });
      return bareError();
    });
    this.#accept = o.accept ?? ((l) => l.accept());
    const budget = o.maxConnections === undefined
      ? defaultMaxConnections()
      : { maxConnections: o.maxConnections };
    this.#max = budget.maxConnections;
    this.#headerMs = o.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
    this.#idleMs = o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    for (
      const [name, v] of [
        ["maxConnections", this.#max],
        ["headerTimeoutMs", this.#headerMs],
        ["idleTimeoutMs", this.#idleMs],
      ] as const
    ) {
      if (!Number.isSafeInteger(v) || v <= 0) {
        throw new RangeError(`${name} must be a positive whole number`);
      }
    }
    // A timeout fires within a quarter of itself (at most a second) late.
    this.#sweepMs = Math.max(
      5,
      Math.min(1000, Math.floor(Math.min(this.#headerMs, this.#idleMs) / 4)),
    );
    this.#serveOn = o.serveOnConnection === null
      ? undefined
      : o.serveOnConnection ?? findServeOnConnection();
    this.scheme = o.tls ? "https" : "http";
    const fdSoftLimit = "fdSoftLimit" in budget
      ? budget.fdSoftLimit
      : defaultMaxConnections().fdSoftLimit;

    if (this.#serveOn === undefined) {
      this.#fallback = Deno.serve({
        hostname: o.hostname,
        port: o.port,
        ...(o.tls ?? {}),
        onListen: () => {},
        onError: this.#onError,
      }, this.#handler);
      this.addr = this.#fallback.addr;
      this.#log("http.limitsNotEnforced", {
        level: "warn",
        hint:
          "This Deno has no serveHttpOnConnection; serving with Deno.serve: no connection cap, no header or idle timeout, and an accept error ends the process",
      });
    } else {
      this.#listener = o.tls
        ? Deno.listenTls({
          hostname: o.hostname,
          port: o.port,
          cert: o.tls.cert,
          key: o.tls.key,
          // HTTP/2 is not served on a single connection; offer HTTP/1.1 only.
          alpnProtocols: ["http/1.1"],
        })
        : Deno.listen({ hostname: o.hostname, port: o.port });
      this.addr = this.#listener.addr as Deno.NetAddr;
    }
    this.#log("http.listen", {
      level: "info",
      address: `${this.addr.hostname}:${this.addr.port}`,
      scheme: this.scheme,
      enforced: this.#serveOn !== undefined,
      maxConnections: this.#max,
      fdSoftLimit,
      headerTimeoutMs: this.#headerMs,
      idleTimeoutMs: this.#idleMs,
    });
    if (fdSoftLimit !== undefined && this.#max > fdSoftLimit - FD_HEADROOM) {
      this.#log("http.maxConnectionsNearFdLimit", {
        level: "warn",
        maxConnections: this.#max,
        fdSoftLimit,
        hint:
          `Leave at least ${FD_HEADROOM} file descriptors for the WAL, snapshots and peers: raise the limit (ulimit -n) or lower --max-connections`,
      });
    }
    if (this.#listener !== undefined) this.#loop = this.#acceptLoop();
  }

  /**
   * Binds and starts serving.
   *
   * @throws {Deno.errors.AddrInUse} (and other bind errors) when the address cannot be bound.
   */
  static listen(options: HttpListenerOptions): HttpListener {
    return new HttpListener(options);
  }

  /** A copy of the counters. */
  stats(): HttpListenerStats {
    const s = this.#stats;
    return {
      enforced: this.#fallback === undefined,
      maxConnections: this.#max,
      open: this.#conns.size,
      accepted: s.accepted,
      refused: s.refused,
      evicted: s.evicted,
      timedOut: { ...s.timedOut },
      acceptErrors: s.acceptErrors,
      tlsAbandoned: s.tlsAbandoned,
    };
  }

  /**
   * Stops accepting, closes idle connections at once, lets requests in
   * flight finish for up to `graceMs` (default 5000), then closes what is
   * left. Idempotent.
   */
  shutdown(graceMs = 5000): Promise<void> {
    this.#stopping ??= this.#shutdown(graceMs);
    return this.#stopping;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#closed = true;
    if (this.#fallback !== undefined) {
      await this.#fallback.shutdown().catch(() => {});
      return;
    }
    closeQuietly(this.#listener);
    this.#wake?.();
    await this.#loop;
    for (const c of this.#refusing) closeQuietly(c);
    const all = [...this.#conns];
    // Graceful: an idle connection closes now, a busy one after its answer.
    for (const st of all) {
      if (st.server) st.server.shutdown().catch(() => {});
      else this.#abort(st);
    }
    const finished = Promise.all(all.map((st) => st.finished));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      finished,
      new Promise((r) => timer = setTimeout(r, graceMs)),
    ]);
    clearTimeout(timer);
    for (const st of this.#conns) this.#abort(st);
    await finished;
    this.#stopSweeper();
  }

  async #acceptLoop(): Promise<void> {
    const listener = this.#listener!;
    let backoff = 0;
    while (!this.#closed) {
      let conn: Deno.Conn;
      try {
        conn = await this.#accept(listener);
      } catch (e) {
        if (this.#closed) return;
        if (e instanceof Deno.errors.BadResource) {
          this.#log("http.listenerClosed", {
            level: "error",
            error: (e as Error).message,
          });
          return;
        }
        this.#stats.acceptErrors++;
        // Out of file descriptors: an idle connection gives one back.
        const evicted = outOfFds(e) && this.#evictIdle();
        // After an eviction, only as long as its close takes; else back off.
        backoff = evicted
          ? 1
          : backoff <= 1
          ? FIRST_BACKOFF_MS
          : Math.min(MAX_BACKOFF_MS, backoff * 2);
        this.#rl.log("http.acceptFailed", {
          level: "error",
          error: e instanceof Error ? e.message : String(e),
          open: this.#conns.size,
          acceptErrors: this.#stats.acceptErrors,
          backoffMs: backoff,
          evictedIdle: evicted,
          hint:
            "Still serving; if out of file descriptors, raise the limit (ulimit -n) or lower --max-connections",
        });
        await this.#pause(backoff);
        continue;
      }
      backoff = 0;
      if (this.#closed) {
        closeQuietly(conn);
        return;
      }
      this.#admit(conn);
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    }).then(() => {
      this.#wake = undefined;
    });
  }

  #admit(conn: Deno.Conn): void {
    if (this.#conns.size - this.#closing >= this.#max && !this.#evictIdle()) {
      this.#refuse(conn);
      return;
    }
    this.#stats.accepted++;
    if (this.scheme === "http") {
      try {
        (conn as Deno.TcpConn).setNoDelay(true);
      } catch {
        // Latency only.
      }
    }
    const { promise: finished, resolve } = Promise.withResolvers<void>();
    const st: Served = {
      conn,
      ac: new AbortController(),
      inflight: 0,
      requests: 0,
      idleSince: performance.now(),
      closing: false,
      finished,
    };
    this.#conns.add(st);
    this.#startSweeper();
    const served = this.scheme === "https"
      ? this.#handshakeThenServe(st)
      : Promise.resolve(this.#serve(st));
    served.catch((e) => {
      // A connection that broke (reset, bad TLS) is the client's business.
      this.#log("http.connectionError", { level: "debug", error: String(e) });
    }).finally(() => {
      this.#conns.delete(st);
      if (st.closing) this.#closing--;
      if (this.#conns.size === 0) this.#stopSweeper();
      resolve();
    });
  }

  // The TLS handshake runs here first, so that a timeout can at least
  // close the connection (see #abort) and stop counting it.
  async #handshakeThenServe(st: Served): Promise<void> {
    try {
      await (st.conn as Deno.TlsConn).handshake();
    } catch (e) {
      closeQuietly(st.conn);
      if (st.closing) return;
      throw e;
    }
    if (st.closing || this.#closed) {
      closeQuietly(st.conn);
      return;
    }
    await this.#serve(st);
  }

  // Serves the connection until it closes.
  #serve(st: Served): Promise<void> {
    const done = () => {
      st.inflight--;
      st.idleSince = performance.now();
    };
    const handler: HttpHandler = (req, info) => {
      st.inflight++;
      st.requests++;
      // Settles once the whole response (a stream included) is sent.
      info.completed.then(done, done);
      return this.#handler(req, info);
    };
    try {
      st.server = this.#serveOn!(
        st.conn,
        st.ac.signal,
        handler,
        this.#onError,
        () => {},
      );
    } catch (e) {
      closeQuietly(st.conn);
      this.#rl.log("http.serveFailed", { level: "error", error: String(e) });
      return Promise.resolve();
    }
    return st.server.finished;
  }

  #refuse(conn: Deno.Conn): void {
    this.#stats.refused++;
    this.#rl.log("http.connectionRefused", {
      level: "warn",
      open: this.#conns.size,
      maxConnections: this.#max,
      refusedTotal: this.#stats.refused,
      hint:
        "At --max-connections with a request in flight on every one: new connections are closed at once; raise the cap (and ulimit -n) or find the clients holding so many requests open",
    });
    if (this.scheme === "https" || this.#refusing.size >= MAX_REFUSING) {
      closeQuietly(conn);
      return;
    }
    this.#refusing.add(conn);
    this.#sendRefusal(conn).finally(() => {
      this.#refusing.delete(conn);
      closeQuietly(conn);
    });
  }

  // Writes the 503, ends our side, and reads what the client sent until it
  // closes (at most a second): closing with unread input would reset the
  // connection, and the client might lose the answer.
  async #sendRefusal(conn: Deno.Conn): Promise<void> {
    const timer = setTimeout(() => closeQuietly(conn), REFUSAL_DRAIN_MS);
    try {
      let off = 0;
      while (off < REFUSAL.byteLength) {
        off += await conn.write(REFUSAL.subarray(off));
      }
      await conn.closeWrite();
      const buf = new Uint8Array(4096);
      while (await conn.read(buf) !== null) {
        // Discard.
      }
    } catch {
      // Closed by the timer or by the client.
    } finally {
      clearTimeout(timer);
    }
  }

  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => this.#sweep(), this.#sweepMs);
  }

  #stopSweeper(): void {
    if (this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const st of this.#conns) {
      if (st.inflight > 0 || st.closing) continue;
      const first = st.requests === 0;
      if (now - st.idleSince < (first ? this.#headerMs : this.#idleMs)) {
        continue;
      }
      this.#abort(st);
      const reason = first ? "header" : "idle";
      this.#stats.timedOut[reason]++;
      this.#rl.log(`http.${reason}Timeout`, {
        level: first ? "info" : "debug",
        timeoutMs: first ? this.#headerMs : this.#idleMs,
        closedTotal: this.#stats.timedOut[reason],
        ...(first
          ? { hint: "A connection sent no complete request in time" }
          : {}),
      });
    }
  }

  #abort(st: Served): void {
    if (!st.closing) {
      st.closing = true;
      this.#closing++;
    }
    st.ac.abort();
    if (st.server !== undefined || this.scheme === "http") return;
    // In its TLS handshake: closing is all there is, and it does not free
    // the socket (Deno 2.9.6 cannot cancel a server-side handshake).
    closeQuietly(st.conn);
    this.#stats.tlsAbandoned++;
    this.#rl.log("http.tlsHandshakeAbandoned", {
      level: "warn",
      abandonedTotal: this.#stats.tlsAbandoned,
      hint:
        "A connection closed in its TLS handshake keeps its socket and file descriptor until the client sends or closes (Deno cannot cancel it); many of them can exhaust file descriptors. Keep HTTPS ports away from untrusted networks or behind a TLS-terminating proxy with its own timeouts",
    });
  }

  // Closes the connection that has had nothing in flight for longest, to
  // make room at the cap; false when every connection is busy.
  #evictIdle(): boolean {
    let victim: Served | undefined;
    for (const st of this.#conns) {
      if (st.inflight > 0 || st.closing) continue;
      if (victim === undefined || st.idleSince < victim.idleSince) victim = st;
    }
    if (victim === undefined) return false;
    this.#abort(victim);
    this.#stats.evicted++;
    this.#rl.log("http.idleEvicted", {
      level: "info",
      open: this.#conns.size,
      maxConnections: this.#max,
      evictedTotal: this.#stats.evicted,
      hint:
        "At --max-connections: the connection idle for longest was closed to let a new one in",
    });
    return true;
  }
}
