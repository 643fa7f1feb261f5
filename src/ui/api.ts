/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The console's calls to the API of the node that served it (same
 * origin): JSON requests with the bearer token kept in sessionStorage,
 * failures as {@linkcode ApiFailure}, and watches read with fetch and a
 * stream parser (EventSource cannot send the Authorization header).
 *
 * @module
 */

const TOKEN_KEY = "raftlock.token";

/** The bearer token of this tab's session, if logged in. */
export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps (or, with null, forgets) the session's token. */
export function setToken(t: string | null): void {
  if (t === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, t);
}

/** An answer that was not 2xx, with the API's error code and message. */
export class ApiFailure extends Error {
  /** The HTTP status (0: the node did not answer). */
  readonly status: number;
  /** The error code (`conflict`, `permission_denied`...). */
  readonly code: string;
  /** The whole body (`current` of a conflict, `holder` of lock_held). */
  readonly body: Record<string, unknown>;

  /** Wraps a failed answer. */
  constructor(status: number, body: Record<string, unknown>) {
    const e = body.error as { code?: string; message?: string } | undefined;
    super(e?.message ?? `HTTP ${status}`);
    this.name = "ApiFailure";
    this.status = status;
    this.code = e?.code ?? "internal";
    this.body = body;
  }
}

/** Called when a request is refused for want of a (valid) token. */
let onUnauthenticated: () => void = () => {};

/** Sets what to do on a 401 (show the login form). */
export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

function headers(json: boolean): Record<string, string> {
  const hs: Record<string, string> = {};
  if (json) hs["content-type"] = "application/json";
  const t = token();
  if (t) hs.authorization = `Bearer ${t}`;
  return hs;
}

// This tab's client id for X-Request-Id, and its sequence.
const CLIENT = `console-${crypto.randomUUID().slice(0, 13)}`;
let sequence = 0;

// Writes the node applies once per X-Request-Id, so a retry is safe.
const IDEMPOTENT =
  /^\/v1\/(kv|txn|leases|locks|elections|semaphores|rwlocks)(\/|$|\?)/;

/** Attempts of a request that may be retried (reads, idempotent writes). */
const ATTEMPTS = 5;

async function once(
  method: string,
  path: string,
  body: unknown,
  requestId: string | undefined,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const hs = headers(body !== undefined);
  if (requestId) hs["x-request-id"] = requestId;
  let r: Response;
  try {
    r = await fetch(path, {
      method,
      headers: hs,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    return {
      status: 0,
      json: { error: { code: "unavailable", message: (e as Error).message } },
    };
  }
  const text = await r.text();
  try {
    return { status: r.status, json: text ? JSON.parse(text) : {} };
  } catch {
    return {
      status: r.status,
      json: { error: { code: "internal", message: text.slice(0, 200) } },
    };
  }
}

/**
 * Calls the API; resolves with the JSON answer, rejects with an
 * {@linkcode ApiFailure}. While no leader is known (503, 504, no answer)
 * a read, or a write the node applies once per `X-Request-Id` (keys,
 * leases, locks and their relatives), is tried again with the same id;
 * membership and auth changes are not.
 */
export async function call<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const read = method === "GET";
  const retriable = read || IDEMPOTENT.test(path);
  const requestId = !read && retriable ? `${CLIENT}/${++sequence}` : undefined;
  let a = await once(method, path, body, requestId);
  for (let i = 1; i < ATTEMPTS && retriable; i++) {
    if (a.status !== 0 && a.status !== 503 && a.status !== 504) break;
    await new Promise((r) => setTimeout(r, 250 * i));
    a = await once(method, path, body, requestId);
  }
  if (a.status < 200 || a.status >= 300) {
    if (a.status === 401) onUnauthenticated();
    throw new ApiFailure(a.status, a.json);
  }
  return a.json as T;
}

/** `GET path`. */
export function get<T>(path: string): Promise<T> {
  return call<T>("GET", path);
}

/** Percent-encodes each segment of a key for a path (keeps the slashes). */
export function keyPath(key: string): string {
  return key.split("/").map(encodeURIComponent).join("/");
}

/** One server-sent event. */
export interface StreamEvent {
  /** Its type (`put`, `delete`, `progress`...). */
  event: string;
  /** Its data, parsed. */
  data: Record<string, unknown>;
  /** Its id, if any. */
  id?: string;
}

/**
 * Reads a server-sent event stream with fetch, calling `onOpen` once the
 * node has accepted it and `onEvent` for each event until `signal` aborts
 * or the stream ends; resolves then (rejects with an
 * {@linkcode ApiFailure} when the request is refused).
 */
export async function stream(
  path: string,
  handlers: { onOpen?: () => void; onEvent: (e: StreamEvent) => void },
  signal: AbortSignal,
): Promise<void> {
  const r = await fetch(path, { headers: headers(false), signal });
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    if (r.status === 401) onUnauthenticated();
    throw new ApiFailure(r.status, body);
  }
  handlers.onOpen?.();
  const onEvent = handlers.onEvent;
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, "\n");
      let end: number;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const e = parseBlock(block);
        if (e) onEvent(e);
      }
    }
  } catch (e) {
    if (!signal.aborted) throw e;
  } finally {
    reader.releaseLock();
  }
}

// One event's lines: `field: value`, data lines joined by newlines.
function parseBlock(block: string): StreamEvent | undefined {
  let event = "message";
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (data.length === 0) return undefined;
  try {
    return { event, id, data: JSON.parse(data.join("\n")) };
  } catch {
    return { event, id, data: { text: data.join("\n") } };
  }
}
