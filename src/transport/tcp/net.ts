/**
 * Small networking helpers of the TCP transport: address parsing, dialing
 * (plain or TLS), complete writes with a deadline, quiet closing.
 *
 * @module
 */

/** A parsed `host:port` address. */
export interface HostPort {
  /** Host name or IP literal (IPv6 without brackets). */
  hostname: string;
  /** Port number, 0–65535. */
  port: number;
}

/**
 * Parses `"host:port"` or `"[v6]:port"`.
 *
 * @throws {TypeError} when the address is malformed.
 */
export function parseAddress(addr: string): HostPort {
  let hostname: string;
  let portText: string;
  if (addr.startsWith("[")) {
    const close = addr.indexOf("]");
    if (close < 0 || addr[close + 1] !== ":") {
      throw new TypeError(`Invalid address ${JSON.stringify(addr)}`);
    }
    hostname = addr.slice(1, close);
    portText = addr.slice(close + 2);
  } else {
    const colon = addr.lastIndexOf(":");
    if (colon <= 0 || addr.indexOf(":") !== colon) {
      throw new TypeError(`Invalid address ${JSON.stringify(addr)}`);
    }
    hostname = addr.slice(0, colon);
    portText = addr.slice(colon + 1);
  }
  const port = Number(portText);
  if (
    hostname === "" || !/^\d{1,5}$/.test(portText) || port > 65535
  ) {
    throw new TypeError(`Invalid address ${JSON.stringify(addr)}`);
  }
  return { hostname, port };
}

/** Formats a host and port as an address string (brackets for IPv6). */
export function formatAddress(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/** The TLS material, loaded from files. */
export interface TlsMaterial {
  /** This node's certificate chain (PEM). */
  cert: string;
  /** This node's private key (PEM). */
  key: string;
  /** The CA that signs every peer's certificate (PEM). */
  ca: string;
}

/**
 * Opens a connection to `addr`: plain TCP, or TLS verified against `tls.ca`
 * when `tls` is given. The TLS handshake itself completes on first use.
 * Fails after `timeoutMs` if the TCP connect does not complete.
 */
export async function dial(
  addr: string,
  options: { tls?: TlsMaterial; timeoutMs: number },
): Promise<Deno.Conn> {
  const { hostname, port } = parseAddress(addr);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutMs);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname, port, signal: abort.signal });
  } finally {
    clearTimeout(timer);
  }
  try {
    conn.setNoDelay(true);
  } catch {
    // Not fatal: latency only.
  }
  if (options.tls === undefined) return conn;
  try {
    return await Deno.startTls(conn, {
      hostname,
      caCerts: [options.tls.ca],
    });
  } catch (e) {
    closeQuietly(conn);
    throw e;
  }
}

/** Closes a connection or listener, ignoring "already closed". */
export function closeQuietly(c: { close(): void } | undefined): void {
  if (c === undefined) return;
  try {
    c.close();
  } catch {
    // Already closed.
  }
}

/**
 * Writes all of `data`, closing `conn` (which makes the write fail) if it
 * takes longer than `timeoutMs`: a peer that stops reading must not hold a
 * writer forever.
 */
export async function writeAll(
  conn: Deno.Conn,
  data: Uint8Array,
  timeoutMs: number,
): Promise<void> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    closeQuietly(conn);
  }, timeoutMs);
  try {
    let off = 0;
    while (off < data.byteLength) {
      off += await conn.write(data.subarray(off));
    }
  } catch (e) {
    if (timedOut) throw new Error(`Write timed out after ${timeoutMs} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A one-shot timer that runs `onExpire` unless cleared first; `expired`
 * tells afterwards whether it fired.
 */
export class Deadline {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #expired = false;
  readonly #ms: number;
  readonly #onExpire: () => void;

  /** Starts the timer. */
  constructor(ms: number, onExpire: () => void) {
    this.#ms = ms;
    this.#onExpire = onExpire;
    this.#arm();
  }

  /** Whether the deadline passed. */
  get expired(): boolean {
    return this.#expired;
  }

  /** Restarts the full interval (unless it already fired or was cleared). */
  reset(): void {
    if (this.#expired || this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#arm();
  }

  /** Stops the timer. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#expired = true;
      this.#onExpire();
    }, this.#ms);
  }
}

/** The message of an error, or its string form. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** `host:port` of a connection's remote end, for logs. */
export function remoteOf(conn: Deno.Conn): string {
  try {
    const a = conn.remoteAddr as Deno.NetAddr;
    return formatAddress(a.hostname, a.port);
  } catch {
    return "unknown";
  }
}
