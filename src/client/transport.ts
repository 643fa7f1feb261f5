/**
 * The client's HTTP layer (internal): endpoint order with leader preference
 * and failover, per-attempt timeouts, retries with backoff, request ids on
 * writes, and the API's error shape turned into {@linkcode RaftlockError}.
 *
 * @module
 */

import { type AuthOptions, Credentials } from "./auth.ts";
import { RaftlockError, type RaftlockErrorCode } from "./errors.ts";
import type { ClusterInfo, IssuedToken } from "./types.ts";

/** The default endpoint list. */
export const DEFAULT_ENDPOINTS: readonly string[] = ["http://127.0.0.1:8001"];

/**
 * Options shared by the client and its transport. With auth on in the
 * cluster, give `token`, or `user` and `password` (see
 * {@linkcode AuthOptions}).
 */
export interface ClientOptions extends AuthOptions {
  /** Base URLs of cluster members (default `["http://127.0.0.1:8001"]`). */
  endpoints?: string[];
  /** Deadline of one call, retries included, in ms (default 10 000). */
  timeoutMs?: number;
  /**
   * Deadline of one attempt on one endpoint, in ms (default 2 000). A write
   * sent to a follower whose leader just died can hang until this passes,
   * so it bounds how long a failover takes.
   */
  attemptTimeoutMs?: number;
  /** The most retries of one call after its first attempt (default 20). */
  retries?: number;
  /** This client's id in `X-Request-Id` (default a random UUID). */
  clientId?: string;
  /** Learn members and the leader from `GET /v1/cluster` (default true). */
  discover?: boolean;
  /** The fetch to use (default the global fetch). */
  fetch?: typeof fetch;
  /**
   * CA certificates (PEM) to trust for `https://` endpoints, on top of
   * nothing else: a cluster whose certificates a private CA signs. The
   * client then makes its own `Deno.HttpClient` for every request.
   */
  caCerts?: string[];
  /** Like `caCerts`, read from this PEM file (at construction). */
  caFile?: string;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Deadline of this call, retries included, in ms. */
  timeoutMs?: number;
}

/** How a request may be retried. */
export type RequestKind =
  /** A read: retry anywhere. */
  | "read"
  /** A write carrying an X-Request-Id: a retry applies once. */
  | "write"
  /** Not deduplicated: retried only when it surely did not reach a node. */
  | "unsafe";

/** One API request. */
export interface ApiRequest {
  /** The HTTP method. */
  method: "GET" | "PUT" | "POST" | "DELETE";
  /** The path, starting with `/`. */
  path: string;
  /** Query parameters (undefined ones are left out). */
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body. */
  body?: unknown;
  /** How it may be retried. */
  kind: RequestKind;
  /** Per-call options. */
  options?: CallOptions;
  /** Extra ms for both deadlines (a lock acquire's wait). */
  extraMs?: number;
  /** Answer null instead of throwing on a 404. */
  nullOn404?: boolean;
  /** Return the body as bytes instead of JSON. */
  bytes?: boolean;
  /** Internal: do not refresh the leader first. */
  noDiscover?: boolean;
  /** Internal: override the retry count. */
  retries?: number;
  /** Internal: send no Authorization header (logging in). */
  noAuth?: boolean;
  /** Ask only this endpoint (no failover, no discovery). */
  endpoint?: string;
}

const BAD_FOR_MS = 3_000;

/**
 * Normalizes an endpoint: adds `scheme://` (default `http`) when it has
 * none, drops a trailing `/`.
 */
export function normalizeEndpoint(
  e: string,
  scheme: "http" | "https" = "http",
): string {
  let s = e.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) s = `${scheme}://${s}`;
  return s.replace(/\/+$/, "");
}

/** The CA certificates of `options` (`caCerts`, plus `caFile` read now), if any. */
export function caCertsOf(options: ClientOptions): string[] | undefined {
  const certs = [...options.caCerts ?? []];
  if (options.caFile !== undefined) {
    try {
      certs.push(Deno.readTextFileSync(options.caFile));
    } catch (e) {
      throw new TypeError(
        `Cannot read the CA file ${options.caFile}: ${(e as Error).message}`,
      );
    }
  }
  return certs.length > 0 ? certs : undefined;
}

/** Whether a fetch failure happened before the request could reach a server. */
export function isConnectError(e: unknown): boolean {
  let text = "";
  for (let x: unknown = e, i = 0; x && i < 5; i++) {
    text += ` ${String((x as Error).message ?? x)}`;
    x = (x as Error).cause;
  }
  return /connection refused|tcp connect error|\(Connect\)|dns error|failed to lookup|No route to host|Network is unreachable|are blocked/i
    .test(text);
}

/** A short reason for a fetch failure ("connection refused", ...). */
export function netReason(e: unknown): string {
  const messages: string[] = [];
  for (let x: unknown = e, i = 0; x && i < 5; i++) {
    messages.push(String((x as Error).message ?? x));
    x = (x as Error).cause;
  }
  const all = messages.join(" ");
  if (/connection refused/i.test(all)) return "connection refused";
  if (/dns error|failed to lookup/i.test(all)) return "host name not found";
  if (/connection reset/i.test(all)) return "connection reset";
  if (/timed out/i.test(all)) return "timed out";
  return messages[messages.length - 1] ?? "unknown error";
}

/** Sleeps, or rejects with the signal's reason when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const done = () => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Builds a RaftlockError from an error answer. */
export function errorFromResponse(
  status: number,
  text: string,
  endpoint: string,
): RaftlockError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: not the API's error shape.
  }
  const err = (parsed as { error?: { code?: unknown; message?: unknown } })
    ?.error;
  if (err && typeof err.code === "string") {
    const extra = parsed as Record<string, unknown>;
    return new RaftlockError(
      err.code as RaftlockErrorCode,
      typeof err.message === "string" ? err.message : err.code,
      {
        status,
        endpoint,
        ...("current" in extra
          ? { current: extra.current as RaftlockError["current"] }
          : {}),
        ...("holder" in extra
          ? { holder: extra.holder as RaftlockError["holder"] }
          : {}),
        ...(typeof extra.compactRevision === "number"
          ? { compactRevision: extra.compactRevision }
          : {}),
      },
    );
  }
  const snippet = text.trim().slice(0, 200);
  return new RaftlockError(
    "http_error",
    `${endpoint} answered HTTP ${status}${snippet ? `: ${snippet}` : ""}`,
    { status, endpoint },
  );
}

/**
 * The client's connection to the cluster (internal; shared by the client,
 * its watches and its locks).
 */
export class Transport {
  /** The configured endpoints, normalized. */
  readonly endpoints: readonly string[];
  /** The client id in X-Request-Id. */
  readonly clientId: string;
  /** Default call deadline (ms). */
  readonly timeoutMs: number;
  /** Default attempt deadline (ms). */
  readonly attemptTimeoutMs: number;
  /** Default retries. */
  readonly retries: number;
  /** Aborts when the client closes. */
  readonly closed: AbortSignal;
  readonly #closer = new AbortController();
  readonly #fetch: typeof fetch;
  readonly #httpClient: Deno.HttpClient | undefined;
  readonly #scheme: "http" | "https";
  readonly #discover: boolean;
  readonly #auth: Credentials;
  #seq = 0;
  #discovered: string[] = [];
  #leader: string | undefined;
  #lastGood: string | undefined;
  #stale = true;
  #badUntil = new Map<string, number>();
  #term = 0;
  #revision = 0;

  /** Creates a transport. */
  constructor(options: ClientOptions = {}) {
    const list =
      (options.endpoints?.length ? options.endpoints : DEFAULT_ENDPOINTS).map(
        (e) => normalizeEndpoint(e),
      );
    this.endpoints = [...new Set(list)];
    // Members publish host:port; they serve the scheme the endpoints use.
    this.#scheme = this.endpoints.every((e) => e.startsWith("https://"))
      ? "https"
      : "http";
    this.clientId = options.clientId ?? crypto.randomUUID();
    if (!/^[\w.:-]{1,128}$/.test(this.clientId)) {
      throw new TypeError(
        "clientId must be 1-128 letters, digits, '_', '.', ':' or '-'",
      );
    }
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 2_000;
    this.retries = options.retries ?? 20;
    const fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
    const caCerts = caCertsOf(options);
    this.#httpClient = caCerts ? Deno.createHttpClient({ caCerts }) : undefined;
    const client = this.#httpClient;
    this.#fetch = client
      ? (input, init) => fetcher(input, { ...init, client })
      : fetcher;
    this.#discover = options.discover ?? true;
    this.#auth = new Credentials(options);
    this.closed = this.#closer.signal;
  }

  /** The client's credentials (token, or user and password). */
  get credentials(): Credentials {
    return this.#auth;
  }

  /**
   * The `Authorization` header to send (undefined: none), logging in
   * first when the client has a user and password and no fresh token.
   */
  authHeader(signal: AbortSignal): Promise<string | undefined> {
    return this.#auth.header(
      (user, password, s) => this.login(user, password, s),
      signal,
    );
  }

  /**
   * After a 401 `unauthenticated` for a request sent with `header`: drops
   * that token so the next {@linkcode Transport.authHeader} logs in again.
   * Answers whether that may help (the client has a user and password).
   */
  invalidateAuth(header: string | undefined): boolean {
    return this.#auth.invalidate(header);
  }

  /** Trades a user and password for a token (`POST /v1/auth/token`). */
  login(
    user: string,
    password: string,
    signal?: AbortSignal,
  ): Promise<IssuedToken> {
    return this.request<IssuedToken>({
      method: "POST",
      path: "/v1/auth/token",
      body: { user, password },
      // Asking twice only issues two tokens.
      kind: "read",
      noAuth: true,
      noDiscover: true,
      options: { signal },
    });
  }

  /** The highest X-Raft-Revision seen. */
  get revision(): number {
    return this.#revision;
  }

  /** The highest X-Raft-Term seen. */
  get term(): number {
    return this.#term;
  }

  /** The leader's URL, when known. */
  get leaderUrl(): string | undefined {
    return this.#leader;
  }

  /** Stops everything in flight. */
  close(): void {
    if (this.#closer.signal.aborted) return;
    this.#closer.abort(
      new RaftlockError("unavailable", "The client was closed"),
    );
    this.#httpClient?.close();
  }

  /** Endpoints to try, best first: leader, last good, the rest; bad ones last. */
  order(): string[] {
    const now = Date.now();
    const all = [
      ...(this.#leader ? [this.#leader] : []),
      ...(this.#lastGood ? [this.#lastGood] : []),
      ...this.endpoints,
      ...this.#discovered,
    ];
    const uniq = [...new Set(all)];
    const good = uniq.filter((u) => (this.#badUntil.get(u) ?? 0) <= now);
    const bad = uniq.filter((u) => (this.#badUntil.get(u) ?? 0) > now);
    return [...good, ...bad];
  }

  /** Records that `url` failed: it goes to the back of the order for a while. */
  markBad(url: string): void {
    this.#badUntil.set(url, Date.now() + BAD_FOR_MS);
    if (this.#leader === url) this.#leader = undefined;
    if (this.#lastGood === url) this.#lastGood = undefined;
    this.#stale = true;
  }

  /** Records that `url` answered. */
  markGood(url: string): void {
    this.#badUntil.delete(url);
    this.#lastGood = url;
  }

  /** Notes the revision and term headers of an answer. */
  observe(headers: Headers): void {
    const rev = Number(headers.get("x-raft-revision"));
    if (Number.isSafeInteger(rev) && rev > this.#revision) this.#revision = rev;
    const term = Number(headers.get("x-raft-term"));
    if (Number.isSafeInteger(term) && term > this.#term) {
      // A new term may mean a new leader: look again before the next call.
      if (this.#term !== 0) this.#stale = true;
      this.#term = term;
    }
  }

  /** Learns members and the leader from a cluster answer. */
  learn(info: ClusterInfo): void {
    if (!this.#discover) return;
    const urls: string[] = [];
    let leader: string | undefined;
    for (const m of info.members ?? []) {
      if (!m.httpAddress) continue;
      const u = normalizeEndpoint(m.httpAddress, this.#scheme);
      urls.push(u);
      if (m.isLeader || m.id === info.leader) leader = u;
    }
    this.#discovered = urls;
    this.#leader = leader;
    if (info.term > this.#term) this.#term = info.term;
    this.#stale = leader === undefined;
  }

  /** A fresh X-Request-Id. */
  nextRequestId(): string {
    return `${this.clientId}/${++this.#seq}`;
  }

  async #refresh(deadline: number, signal: AbortSignal): Promise<void> {
    this.#stale = false;
    const order = this.order();
    try {
      const info = await this.request<ClusterInfo>({
        method: "GET",
        path: "/v1/cluster",
        kind: "read",
        noDiscover: true,
        retries: order.length - 1,
        options: {
          signal,
          timeoutMs: Math.max(1, Math.min(2_000, deadline - Date.now())),
        },
      });
      this.learn(info);
    } catch (e) {
      if (signal.aborted) throw e;
      // Discovery is best effort; the call itself will fail over.
    }
  }

  /** Sends one API request with failover and retries; answers the parsed body. */
  async request<T>(req: ApiRequest): Promise<T> {
    const opts = req.options ?? {};
    const signal = opts.signal
      ? AbortSignal.any([opts.signal, this.closed])
      : this.closed;
    signal.throwIfAborted();
    const extra = req.extraMs ?? 0;
    const deadline = Date.now() + (opts.timeoutMs ?? this.timeoutMs) + extra;
    const only = req.endpoint === undefined
      ? undefined
      : normalizeEndpoint(req.endpoint, this.#scheme);
    if (this.#stale && this.#discover && !req.noDiscover && !only) {
      await this.#refresh(deadline, signal);
    }
    const requestId = req.kind === "write" ? this.nextRequestId() : undefined;
    let auth = req.noAuth ? undefined : await this.authHeader(signal);
    // A 401 gets one new login and one more try (the token may have
    // expired in flight, or been cut off by a key rotation).
    let reauthenticated = false;
    const retries = only ? 0 : req.retries ?? this.retries;
    const order = only ? [only] : this.order();
    let qs = "";
    if (req.query) {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries(req.query)) {
        if (v !== undefined) p.set(k, String(v));
      }
      const s = p.toString();
      if (s) qs = `?${s}`;
    }
    const headers: Record<string, string> = {};
    if (req.body !== undefined) headers["content-type"] = "application/json";
    if (requestId) headers["x-request-id"] = requestId;
    const body = req.body === undefined ? undefined : JSON.stringify(req.body);

    let lastServer: RaftlockError | undefined;
    let lastNet: { url: string; error: unknown; timedOut: boolean } | undefined;
    // Refused connections on every endpoint, twice over: nothing is
    // listening, so give up rather than wait out the deadline.
    let refusedInRow = 0;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (refusedInRow >= 2 * order.length) break;
      if (attempt > 0 && attempt % order.length === 0) {
        const round = attempt / order.length;
        const wait = Math.min(1000, 50 * 2 ** round) * (0.5 + Math.random());
        if (Date.now() + wait >= deadline) break;
        await sleep(wait, signal);
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const url = order[attempt % order.length];
      const ctl = new AbortController();
      const timer = setTimeout(
        () => ctl.abort(new Error("attempt timed out")),
        Math.min(remaining, this.attemptTimeoutMs + extra),
      );
      const onAbort = () => ctl.abort(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      let status: number;
      let resHeaders: Headers;
      let text = "";
      let bytes: Uint8Array | undefined;
      if (auth !== undefined) headers.authorization = auth;
      else delete headers.authorization;
      try {
        const res = await this.#fetch(`${url}${req.path}${qs}`, {
          method: req.method,
          headers,
          body,
          signal: ctl.signal,
        });
        status = res.status;
        resHeaders = res.headers;
        if (req.bytes && res.ok) {
          bytes = new Uint8Array(await res.arrayBuffer());
        } else text = await res.text();
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        const timedOut = ctl.signal.aborted;
        if (!only) this.markBad(url);
        lastNet = { url, error: e, timedOut };
        refusedInRow = !timedOut && isConnectError(e) ? refusedInRow + 1 : 0;
        if (req.kind === "unsafe" && (timedOut || !isConnectError(e))) {
          // It may have been applied: do not repeat it.
          throw this.#netError(lastNet, [url], only);
        }
        continue;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
      }
      refusedInRow = 0;
      this.observe(resHeaders);
      if (status >= 200 && status < 300) {
        this.markGood(url);
        if (bytes) return bytes as T;
        try {
          return (text === "" ? undefined : JSON.parse(text)) as T;
        } catch {
          throw new RaftlockError(
            "http_error",
            `${url} answered HTTP ${status} with a body that is not JSON`,
            { status, endpoint: url },
          );
        }
      }
      const err = errorFromResponse(status, text, url);
      if (status === 404 && req.nullOn404 && err.code === "not_found") {
        this.markGood(url);
        return null as T;
      }
      if (
        status === 401 && err.code === "unauthenticated" && !req.noAuth &&
        !reauthenticated && this.#auth.invalidate(auth)
      ) {
        // Refused before anything was applied: safe to send again.
        reauthenticated = true;
        auth = await this.authHeader(signal);
        attempt--;
        continue;
      }
      if (
        status === 503 || status === 429 ||
        (status === 504 && req.kind !== "unsafe")
      ) {
        this.markBad(url);
        lastServer = err;
        continue;
      }
      this.markGood(url);
      throw err;
    }
    if (lastServer) throw lastServer;
    throw this.#netError(lastNet, order, only);
  }

  #netError(
    last: { url: string; error: unknown; timedOut: boolean } | undefined,
    tried: string[],
    only?: string,
  ): RaftlockError {
    const list = only ?? this.endpoints.join(", ");
    if (last?.timedOut) {
      return new RaftlockError(
        "timeout",
        `No answer from ${tried.join(", ")} in time`,
        { endpoint: list, cause: last.error },
      );
    }
    const why = last ? netReason(last.error) : "";
    return new RaftlockError(
      "unreachable",
      `Cannot reach any endpoint (${list})${why ? `: ${why}` : ""}`,
      { endpoint: list, cause: last?.error },
    );
  }

  /**
   * Opens a streaming GET on one endpoint (for watches). Answers the
   * response when it is 2xx; throws a RaftlockError otherwise.
   */
  async openStream(
    url: string,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<Response> {
    const ctl = new AbortController();
    const timer = setTimeout(
      () => ctl.abort(new Error("connect timed out")),
      timeoutMs,
    );
    const onAbort = () => ctl.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.#fetch(`${url}${path}`, {
        headers: { accept: "text/event-stream", ...headers },
        signal: ctl.signal,
      });
      clearTimeout(timer);
      this.observe(res.headers);
      if (!res.ok) {
        throw errorFromResponse(res.status, await res.text(), url);
      }
      // Keep following the caller's signal only.
      return res;
    } catch (e) {
      signal.removeEventListener("abort", onAbort);
      if (signal.aborted) throw signal.reason;
      if (e instanceof RaftlockError) throw e;
      throw new RaftlockError(
        ctl.signal.aborted ? "timeout" : "unreachable",
        `Cannot open a watch on ${url}: ${netReason(e)}`,
        { endpoint: url, cause: e },
      );
    } finally {
      clearTimeout(timer);
    }
  }
}
