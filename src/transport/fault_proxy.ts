/**
 * A fault-injecting TCP proxy for tests and chaos runs: listens on 127.0.0.1 (port 0 by
 * default) and forwards every connection to a target address, until told
 * to block, delay or close.
 *
 * - `block()` (mode `"hold"`, the default) stops forwarding in both
 *   directions: nothing more is read or written and new connections are
 *   accepted but not forwarded, as in a network partition during which TCP
 *   keeps retransmitting. `unblock()` resumes and nothing is lost (unless an
 *   endpoint gave up meanwhile).
 * - `block({ mode: "close" })` closes every connection and closes each new
 *   one at once, as when a partition outlives the peers' timeouts.
 * - `delay(ms)` delays every chunk by `ms` (order kept) in both directions.
 * - `retarget(addr)` points new connections elsewhere (a restarted process).
 * - `close()` closes the listener and every connection and ends all timers.
 *
 * Put one proxy in front of each node's peer address to partition real
 * processes: give the other nodes the proxy's `addr` instead of the node's.
 *
 * ```ts
 * const proxy = FaultProxy.listen("127.0.0.1:7002");
 * proxy.block();
 * proxy.unblock();
 * await proxy.close();
 * ```
 *
 * @module
 */

/** Options of {@linkcode FaultProxy.listen}. */
export interface FaultProxyOptions {
  /** Port to listen on (default 0: any free port). */
  port?: number;
  /** Initial delay in ms (default 0). */
  delayMs?: number;
  /** Most bytes a direction holds back while delayed or blocked before it stops reading (default 4 MiB). */
  maxBufferedBytes?: number;
}

/** How `block` treats connections. */
export type BlockMode = "hold" | "close";

/** Counters of a {@linkcode FaultProxy}. */
export interface FaultProxyStats {
  /** Connections accepted. */
  accepted: number;
  /** Connection pairs currently open. */
  active: number;
  /** Connections closed because of `block({ mode: "close" })`. */
  closedByBlock: number;
  /** Bytes forwarded, both directions. */
  bytesForwarded: number;
}

interface Chunk {
  due: number;
  data: Uint8Array;
}

interface Pair {
  client: Deno.Conn;
  server?: Deno.Conn;
}

function closeQuietly(c: { close(): void } | undefined): void {
  try {
    c?.close();
  } catch {
    // Already closed.
  }
}

function parseTarget(addr: string): { hostname: string; port: number } {
  const i = addr.lastIndexOf(":");
  const hostname = addr.slice(0, i).replace(/^\[|\]$/g, "");
  return { hostname, port: Number(addr.slice(i + 1)) };
}

/** A TCP proxy with switchable faults. */
export class FaultProxy {
  /** The proxy's own address, `"127.0.0.1:port"`: give this to clients. */
  readonly addr: string;
  /** The proxy's port. */
  readonly port: number;
  #target: string;
  readonly #listener: Deno.TcpListener;
  readonly #pairs = new Set<Pair>();
  readonly #tasks = new Set<Promise<unknown>>();
  readonly #abort = new AbortController();
  readonly #maxBuffered: number;
  #delayMs: number;
  #blocked: BlockMode | undefined;
  #unblocked: PromiseWithResolvers<void> | undefined;
  #closing: Promise<void> | undefined;
  readonly #stats: FaultProxyStats = {
    accepted: 0,
    active: 0,
    closedByBlock: 0,
    bytesForwarded: 0,
  };

  private constructor(target: string, options: FaultProxyOptions) {
    this.#target = target;
    this.#delayMs = options.delayMs ?? 0;
    this.#maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
    this.#listener = Deno.listen({
      hostname: "127.0.0.1",
      port: options.port ?? 0,
    });
    this.port = this.#listener.addr.port;
    this.addr = `127.0.0.1:${this.port}`;
    this.#track(this.#acceptLoop());
  }

  /** Starts a proxy to `target` (`"host:port"`). */
  static listen(target: string, options: FaultProxyOptions = {}): FaultProxy {
    return new FaultProxy(target, options);
  }

  /** Where new connections are forwarded. */
  get target(): string {
    return this.#target;
  }

  /** Whether traffic is blocked, and how. */
  get blocked(): BlockMode | undefined {
    return this.#blocked;
  }

  /** A copy of the counters. */
  stats(): FaultProxyStats {
    return { ...this.#stats };
  }

  /** Forwards new connections to `target` from now on (open ones stay). */
  retarget(target: string): void {
    this.#target = target;
  }

  /** Stops traffic: hold it (default) or close every connection. */
  block(options: { mode?: BlockMode } = {}): void {
    const mode = options.mode ?? "hold";
    if (this.#blocked === undefined) this.#unblocked = Promise.withResolvers();
    this.#blocked = mode;
    if (mode === "close") {
      for (const p of [...this.#pairs]) {
        this.#stats.closedByBlock++;
        this.#closePair(p);
      }
    }
  }

  /** Resumes forwarding; held data flows on. */
  unblock(): void {
    this.#blocked = undefined;
    this.#unblocked?.resolve();
    this.#unblocked = undefined;
  }

  /** Delays every chunk by `ms` from now on (0 turns it off). */
  delay(ms: number): void {
    this.#delayMs = Math.max(0, ms);
  }

  /** Closes the listener and every connection; resolves when all is stopped. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#abort.abort();
      closeQuietly(this.#listener);
      for (const p of [...this.#pairs]) this.#closePair(p);
      this.#unblocked?.resolve();
      while (this.#tasks.size > 0) await Promise.allSettled([...this.#tasks]);
    })();
    return this.#closing;
  }

  #track(p: Promise<unknown>): void {
    const q = p.catch(() => {});
    this.#tasks.add(q);
    q.finally(() => this.#tasks.delete(q));
  }

  #closePair(p: Pair): void {
    if (!this.#pairs.delete(p)) return;
    this.#stats.active--;
    closeQuietly(p.client);
    closeQuietly(p.server);
  }

  /** Resolves when not blocked (or closing). */
  async #gate(): Promise<void> {
    while (this.#blocked !== undefined && !this.#abort.signal.aborted) {
      await this.#unblocked!.promise;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0 || this.#abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done);
    });
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let client: Deno.Conn;
      try {
        client = await this.#listener.accept();
      } catch {
        return;
      }
      this.#stats.accepted++;
      if (this.#abort.signal.aborted || this.#blocked === "close") {
        if (this.#blocked === "close") this.#stats.closedByBlock++;
        closeQuietly(client);
        continue;
      }
      const pair: Pair = { client };
      this.#pairs.add(pair);
      this.#stats.active++;
      this.#track(this.#serve(pair));
    }
  }

  async #serve(pair: Pair): Promise<void> {
    try {
      await this.#gate();
      if (!this.#pairs.has(pair)) return;
      const server = await Deno.connect(parseTarget(this.#target));
      if (!this.#pairs.has(pair)) {
        closeQuietly(server);
        return;
      }
      pair.server = server;
      await Promise.all([
        this.#pipe(pair, pair.client, server),
        this.#pipe(pair, server, pair.client),
      ]);
    } catch {
      // Target unreachable or a socket failed: drop the pair.
    } finally {
      this.#closePair(pair);
    }
  }

  /** Forwards one direction: a reader fills a queue, a writer drains it. */
  async #pipe(pair: Pair, src: Deno.Conn, dst: Deno.Conn): Promise<void> {
    const queue: Chunk[] = [];
    let queued = 0;
    let ended = false;
    let wakeWriter: (() => void) | undefined;
    let wakeReader: (() => void) | undefined;
    const reader = async () => {
      const buf = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          await this.#gate();
          while (queued >= this.#maxBuffered && this.#pairs.has(pair)) {
            await new Promise<void>((r) => wakeReader = r);
          }
          if (!this.#pairs.has(pair)) return;
          const n = await src.read(buf);
          if (n === null) return;
          queue.push({
            due: performance.now() + this.#delayMs,
            data: buf.slice(0, n),
          });
          queued += n;
          wakeWriter?.();
        }
      } finally {
        ended = true;
        wakeWriter?.();
      }
    };
    const writer = async () => {
      try {
        for (;;) {
          while (queue.length === 0) {
            if (ended || !this.#pairs.has(pair)) return;
            await new Promise<void>((r) => wakeWriter = r);
            wakeWriter = undefined;
          }
          const c = queue[0];
          await this.#sleep(c.due - performance.now());
          await this.#gate();
          if (!this.#pairs.has(pair)) return;
          let off = 0;
          while (off < c.data.byteLength) {
            off += await dst.write(c.data.subarray(off));
          }
          queue.shift();
          queued -= c.data.byteLength;
          this.#stats.bytesForwarded += c.data.byteLength;
          wakeReader?.();
          wakeReader = undefined;
        }
      } finally {
        // Either side ending ends the pair.
        this.#closePair(pair);
        wakeReader?.();
      }
    };
    await Promise.allSettled([reader(), writer()]);
  }
}
