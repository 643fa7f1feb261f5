/**
 * `GET /v1/watch`: key events as server-sent events, from a revision or
 * `Last-Event-ID` on, with progress events while idle and a `compacted`
 * event (then the end) when the history no longer reaches back.
 *
 * The stream pulls: events are encoded only as the connection takes them
 * (a slice of about {@linkcode WATCH_SLICE_BYTES} at a time), so a
 * watcher that resumes from far back is served from the history as it
 * reads, and one that stops reading holds one slice. Live events wait in
 * the watcher's bounded queue (`--watch-queue-bytes`,
 * `--watch-queue-events`); past it the watcher gets a `lagging` event with
 * the revision it was handed up to, and the stream ends (the client
 * resumes after its last event). A node serves at most `--max-watchers`
 * streams; more are refused with 429 `too_many_requests`.
 *
 * With auth on, the token must allow reading the whole watched range; each
 * event is checked again against the roles as they are when it is sent,
 * and the stream ends with an `error` event (`unauthenticated`) once the
 * token expires or its user is gone: reconnect with a new token and
 * `Last-Event-ID`.
 *
 * @module
 */

import { Hono } from "hono";
import { guardOf } from "../auth.ts";
import { ApiError } from "../errors.ts";
import type { AppOptions } from "../options.ts";
import { checked, queryInt } from "../request.ts";
import { keySchema } from "../schemas.ts";
import type { WatchEvent } from "../../state/history.ts";

/** Default `--max-watchers`: watch streams one node serves at once. */
export const DEFAULT_MAX_WATCHERS = 10_000;

/**
 * About how many bytes of events a watch stream encodes at a time, and
 * holds ready beyond what the connection took.
 */
export const WATCH_SLICE_BYTES = 16 * 1024;

/**
 * How long a watcher that fell behind (or a stream ending at shutdown) may
 * take to read its last events before its stream is cut off, in ms.
 */
export const WATCH_END_GRACE_MS = 10_000;

const encoder = new TextEncoder();

function sse(event: string, data: string, id?: string): string {
  return `${
    id === undefined ? "" : `id: ${id}\n`
  }event: ${event}\ndata: ${data}\n\n`;
}

/** The watch route, relative to `/v1`. */
export function watchRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const metrics = options.metrics;
  const authn = options.authenticator!;
  const maxWatchers = options.maxWatchers ?? DEFAULT_MAX_WATCHERS;
  const app = new Hono();

  app.get("/watch", (c) => {
    const key = c.req.query("key");
    const prefix = c.req.query("prefix");
    if (key !== undefined && prefix !== undefined) {
      throw new ApiError("bad_request", "Give key or prefix, not both");
    }
    if (key !== undefined) checked(keySchema, key, "key");
    const guard = guardOf(c);
    guard.read(key ?? prefix ?? "");
    const lastId = c.req.header("last-event-id");
    let after: number;
    if (lastId !== undefined && lastId !== "") {
      after = queryInt(lastId, "Last-Event-ID")!;
    } else {
      const from = queryInt(c.req.query("fromRevision"), "fromRevision");
      // fromRevision r: events at r and later. Default: from now on.
      after = from === undefined || from === 0 ? svc.state.revision : from - 1;
    }
    if (metrics.watchers.value >= maxWatchers) {
      metrics.watchRefused.inc();
      throw new ApiError(
        "too_many_requests",
        `This node serves ${maxWatchers} watches, its limit (--max-watchers); retry later or on another node`,
        { limit: "watchers" },
      );
    }
    const progressMs = (options.watchProgressSeconds ?? 5) * 1000;
    const graceMs = options.watchEndGraceMs ?? WATCH_END_GRACE_MS;

    // Why this stream may no longer be served (auth turned on without a
    // token, token expired, user gone), or undefined.
    const refusal = (): string | undefined => {
      if (!authn.enabled) return undefined;
      if (!guard.principal) {
        return "Auth was turned on; reconnect with a token";
      }
      return authn.invalidReason(guard.principal);
    };

    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let finished = false;
    // The last event is queued: close at the next pull.
    let ending = false;
    let lastSent = Date.now();
    // A pull waiting for something to send, and what ends its wait.
    let wake: (() => void) | undefined;
    let napTimer: ReturnType<typeof setTimeout> | undefined;
    let cutOffTimer: ReturnType<typeof setTimeout> | undefined;
    const stopping = options.shutdown;

    const feed = svc.watch(
      key !== undefined ? { key } : { prefix: prefix ?? "" },
      after,
      {
        queue: options.watchQueue,
        onReady: () => {
          // Fell behind while not reading: it has the grace period to read
          // on (and see `lagging`), or its stream is cut off.
          if (feed?.ended && !wake) cutOffAfter(graceMs);
          wake?.();
        },
        onQueueBytes: (d) => metrics.watchQueueBytes.add(d),
        onOverflow: () => metrics.watchOverflows.inc(),
      },
    );
    metrics.watchers.inc();

    // Releases everything once, however the stream ends.
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(napTimer);
      clearTimeout(cutOffTimer);
      stopping?.removeEventListener("abort", onShutdown);
      feed.close();
      metrics.watchers.dec();
      wake?.();
    };
    // Ends the stream now, dropping what the client has not read.
    const cutOff = () => {
      try {
        controller.error(
          new Error("The watcher did not read its last events in time"),
        );
      } catch {
        // Already closed.
      }
      finish();
    };
    const cutOffAfter = (ms: number) => {
      if (finished) return;
      clearTimeout(cutOffTimer);
      cutOffTimer = setTimeout(cutOff, ms);
    };
    const enqueue = (text: string) => {
      controller.enqueue(encoder.encode(text));
      lastSent = Date.now();
    };
    // The stream's last event is queued (or none is due): the next pull,
    // once the client has read on, closes it.
    const end = (last?: string) => {
      if (ending || finished) return;
      ending = true;
      if (last !== undefined) enqueue(last);
      feed.close();
      cutOffAfter(graceMs);
    };
    function onShutdown() {
      if (wake) {
        end();
        wake();
      } else {
        // Not reading: nothing to wait for.
        cutOff();
      }
    }

    // Queues what is due now; false when there is nothing (then wait).
    const step = (): boolean => {
      const why = refusal();
      if (why !== undefined) {
        end(sse(
          "error",
          JSON.stringify({ error: { code: "unauthenticated", message: why } }),
        ));
        return true;
      }
      for (;;) {
        const item = feed.take(WATCH_SLICE_BYTES);
        if (item === undefined) break;
        if (item.kind === "compacted") {
          end(sse(
            "compacted",
            JSON.stringify({ compactRevision: item.compactRevision }),
          ));
          return true;
        }
        if (item.kind === "lagging") {
          end(sse("lagging", JSON.stringify({ revision: item.revision })));
          return true;
        }
        const text = encodeEvents(item.events, (k) => guard.canRead(k));
        // Every event of the slice was hidden by the roles: take more.
        if (text === "") continue;
        enqueue(text);
        return true;
      }
      if (feed.ended) {
        end();
        return true;
      }
      const progress = feed.progress();
      if (progress !== undefined && Date.now() - lastSent >= progressMs) {
        enqueue(sse("progress", JSON.stringify({ revision: progress })));
        return true;
      }
      return false;
    };

    const body = new ReadableStream<Uint8Array>({
      start(ctl) {
        controller = ctl;
      },
      // Called whenever the connection has taken what was queued.
      async pull() {
        while (!finished) {
          if (ending) {
            controller.close();
            finish();
            return;
          }
          if (step()) return;
          // Nothing to send: wait for events, the next progress or auth
          // check (at most a second away), or the end.
          await new Promise<void>((resolve) => {
            wake = resolve;
            napTimer = setTimeout(
              resolve,
              Math.max(1, Math.min(1000, lastSent + progressMs - Date.now())),
            );
          });
          clearTimeout(napTimer);
          wake = undefined;
        }
      },
      // The client went.
      cancel() {
        finish();
      },
    }, {
      highWaterMark: WATCH_SLICE_BYTES,
      size: (chunk) => chunk.byteLength,
    });
    stopping?.addEventListener("abort", onShutdown, { once: true });
    if (stopping?.aborted) onShutdown();
    return c.body(body, 200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache",
      "Connection": "keep-alive",
      "X-Accel-Buffering": "no",
    });
  });

  return app;
}

// The SSE text of recent events, made once however many watchers send
// them (events are frozen and shared by every watcher and the history):
// at most about 4 MiB of text, oldest dropped first.
const CACHE_CHARS = 4 * 1024 * 1024;
const encoded = new Map<WatchEvent, string>();
let encodedChars = 0;

function sseOf(e: WatchEvent): string {
  let t = encoded.get(e);
  if (t !== undefined) return t;
  t = sse(e.type, JSON.stringify(e), String(e.revision));
  if (t.length <= CACHE_CHARS / 64) {
    encoded.set(e, t);
    encodedChars += t.length;
    for (const [old, text] of encoded) {
      if (encodedChars <= CACHE_CHARS) break;
      encoded.delete(old);
      encodedChars -= text.length;
    }
  }
  return t;
}

// The SSE text of a slice of events, leaving out those `canRead` refuses
// (roles as they are now: a revoked read stops at once).
function encodeEvents(
  events: readonly WatchEvent[],
  canRead: (key: string) => boolean,
): string {
  let text = "";
  for (const e of events) {
    if (canRead(e.key)) text += sseOf(e);
  }
  return text;
}
