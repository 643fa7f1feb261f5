/**
 * Watches over Server-Sent Events that survive disconnects, node failures
 * and leader changes: the watch reconnects to the next endpoint and resumes
 * from the last revision it delivered, so every event is seen exactly once
 * and in revision order. A node that drops the watch for reading too
 * slowly (a `lagging` event) is asked again at once, and serves the rest
 * from its history.
 *
 * @module
 */

import { RaftlockError } from "./errors.ts";
import { SseParser } from "./sse.ts";
import { netReason, sleep, type Transport } from "./transport.ts";
import type { WatchEvent } from "./types.ts";

// Errors after which a watch reconnects (to the next endpoint): a node
// that is down, slow, leaderless or serving its most watchers.
const RETRIABLE = [
  "unreachable",
  "timeout",
  "unavailable",
  "http_error",
  "too_many_requests",
];

/** What to watch: one key, or every key under a prefix ("" for all). */
export type WatchFilter = { key: string } | { prefix: string };

/** Options of a watch. */
export interface WatchOptions {
  /**
   * The first revision to deliver events of (events at this revision and
   * later). Default: events after the cluster's revision when the watch
   * starts.
   */
  fromRevision?: number;
  /** Ends the watch (iteration then finishes without an error). */
  signal?: AbortSignal;
  /**
   * Reconnect when nothing (not even a progress event) arrived for this
   * long, in ms (default 20 000; the server sends progress every 5 s).
   */
  idleTimeoutMs?: number;
}

/**
 * A running watch: an async iterable of {@linkcode WatchEvent}s, in
 * revision order, each exactly once. Iterate it once. It ends when its
 * signal aborts, when {@linkcode Watch.close} is called, or when the
 * client closes; it throws a {@linkcode RaftlockError} with code
 * `compacted` (and `compactRevision`) when the cluster no longer holds the
 * events it must resume from, and `unreachable` when no endpoint answers
 * for a long time.
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * async function logChanges(client: Client, signal: AbortSignal) {
 *   for await (const e of client.watch({ prefix: "app/" }, { signal })) {
 *     console.log(e.revision, e.type, e.key, e.value);
 *   }
 * }
 * ```
 */
export class Watch implements AsyncIterable<WatchEvent> {
  readonly #transport: Transport;
  readonly #filter: WatchFilter;
  readonly #ctl = new AbortController();
  readonly #signal: AbortSignal;
  readonly #idleMs: number;
  #started = false;
  // Every matching event with revision <= #after has been delivered.
  #after: number | undefined;
  // Events of #partialRev delivered so far (the revision may have more).
  #partialRev: number | undefined;
  #partialCount = 0;
  #skip = 0;
  #url: string | undefined;
  // The last stream ended with a `lagging` event.
  #lagging = false;

  /** Creates a watch (use `client.watch`); it connects when iterated. */
  constructor(
    transport: Transport,
    filter: WatchFilter,
    options: WatchOptions = {},
  ) {
    this.#transport = transport;
    if ("key" in filter && typeof filter.key === "string") {
      this.#filter = { key: filter.key };
    } else if ("prefix" in filter && typeof filter.prefix === "string") {
      this.#filter = { prefix: filter.prefix };
    } else {
      throw new TypeError("Watch a key ({key}) or a prefix ({prefix})");
    }
    const from = options.fromRevision;
    if (from !== undefined) {
      if (!Number.isSafeInteger(from) || from < 0) {
        throw new TypeError("fromRevision must be a whole number");
      }
      this.#after = Math.max(0, from - 1);
    }
    this.#idleMs = options.idleTimeoutMs ?? 20_000;
    const signals = [this.#ctl.signal, transport.closed];
    if (options.signal) signals.push(options.signal);
    this.#signal = AbortSignal.any(signals);
  }

  /** The highest revision whose events (for this filter) were delivered. */
  get revision(): number {
    return Math.max(this.#after ?? 0, this.#partialRev ?? 0);
  }

  /** The endpoint the watch is connected to, if any. */
  get endpoint(): string | undefined {
    return this.#url;
  }

  /** Ends the watch. */
  close(): void {
    this.#ctl.abort();
  }

  /** Iterates the events one by one. */
  async *[Symbol.asyncIterator](): AsyncGenerator<WatchEvent> {
    for await (const batch of this.batches()) yield* batch;
  }

  /**
   * Iterates the events in batches as they arrive (events of one
   * transaction usually come in one batch).
   */
  async *batches(): AsyncGenerator<WatchEvent[]> {
    if (this.#started) throw new TypeError("A watch can be iterated once");
    this.#started = true;
    const signal = this.#signal;
    try {
      if (this.#after === undefined) {
        const st = await this.#transport.request<{ revision: number }>({
          method: "GET",
          path: "/v1/status",
          kind: "read",
          options: { signal },
        });
        this.#after = st.revision;
      }
      let failures = 0;
      const maxFailures = Math.max(
        this.#transport.retries,
        3 * this.#transport.order().length,
      );
      // Logins in a row that did not get a stream going (see below).
      let renewals = 0;
      while (!signal.aborted) {
        if (failures >= 2) {
          await sleep(
            Math.min(1000, 50 * 2 ** failures) * (0.5 + Math.random()),
            signal,
          );
        }
        const url = this.#transport.order()[0];
        this.#url = url;
        const opened = Date.now();
        let delivered = false;
        let error: unknown;
        const auth = { header: undefined as string | undefined };
        this.#lagging = false;
        try {
          for await (const batch of this.#connect(url, signal, auth)) {
            delivered = true;
            renewals = 0;
            yield batch;
          }
        } catch (e) {
          if (signal.aborted) return;
          // The token expired (or was cut off): log in again and resume
          // from the last event delivered; twice in a row without a
          // working stream means the new token does not help either.
          if (
            e instanceof RaftlockError && e.code === "unauthenticated" &&
            renewals < 2 && this.#transport.invalidateAuth(auth.header)
          ) {
            if (Date.now() - opened > 1000) renewals = 0;
            renewals++;
            continue;
          }
          if (
            e instanceof RaftlockError &&
            !RETRIABLE.includes(e.code)
          ) throw e;
          error = e;
        }
        if (signal.aborted) return;
        if (this.#lagging) {
          // The node dropped this watcher for reading too slowly: resume
          // at once, on the same node, from the history.
          failures = 0;
          continue;
        }
        this.#transport.markBad(url);
        this.#url = undefined;
        // A connection that worked for a while starts the count afresh.
        failures = delivered || Date.now() - opened > 1000 ? 1 : failures + 1;
        if (failures > maxFailures) {
          if (error instanceof RaftlockError && error.code !== "http_error") {
            throw error;
          }
          const list = this.#transport.endpoints.join(", ");
          throw new RaftlockError(
            "unreachable",
            error
              ? `The watch lost every endpoint (${list}): ${
                (error as Error)?.message ?? error
              }`
              : `The watch stream kept ending as soon as it opened (${list})`,
            { cause: error, endpoint: list },
          );
        }
      }
    } catch (e) {
      if (signal.aborted && !(e instanceof RaftlockError)) return;
      if (signal.aborted && e === this.#transport.closed.reason) return;
      throw e;
    }
  }

  // One connection: yields batches until the stream ends or fails.
  async *#connect(
    url: string,
    outer: AbortSignal,
    auth: { header?: string },
  ): AsyncGenerator<WatchEvent[]> {
    const conn = new AbortController();
    const signal = AbortSignal.any([outer, conn.signal]);
    const q = new URLSearchParams(
      "key" in this.#filter
        ? { key: this.#filter.key }
        : { prefix: this.#filter.prefix },
    );
    const resumeAfter = this.#partialRev !== undefined
      ? this.#partialRev - 1
      : this.#after!;
    this.#skip = this.#partialRev !== undefined ? this.#partialCount : 0;
    auth.header = await this.#transport.authHeader(signal);
    const res = await this.#transport.openStream(
      url,
      `/v1/watch?${q}`,
      {
        "last-event-id": String(resumeAfter),
        ...(auth.header ? { authorization: auth.header } : {}),
      },
      signal,
      this.#transport.attemptTimeoutMs,
    );
    if (!res.body) throw new RaftlockError("http_error", "Empty watch body");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    // Aborting the fetch does not always end a pending read of its body
    // (seen under load in Deno 2.9), so a stop or an idle timeout also
    // cancels the reader itself; the pending read then resolves done.
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    const parser = new SseParser();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => conn.abort(new Error("watch idle timeout")),
        this.#idleMs,
      );
    };
    try {
      arm();
      while (true) {
        let chunk: ReadableStreamReadResult<string>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (outer.aborted) throw outer.reason;
          throw new RaftlockError(
            "unreachable",
            `The watch on ${url} broke: ${netReason(e)}`,
            { endpoint: url, cause: e },
          );
        }
        if (chunk.done) {
          if (outer.aborted) throw outer.reason;
          if (conn.signal.aborted) {
            throw new RaftlockError(
              "unreachable",
              `The watch on ${url} went silent for ${this.#idleMs} ms`,
              { endpoint: url },
            );
          }
          return;
        }
        arm();
        const batch: WatchEvent[] = [];
        let ended: RaftlockError | undefined;
        for (const m of parser.push(chunk.value)) {
          if (m.event === "put" || m.event === "delete") {
            const e = JSON.parse(m.data) as WatchEvent;
            if (this.#accept(e)) batch.push(e);
          } else if (m.event === "progress") {
            const p = (JSON.parse(m.data) as { revision: number }).revision;
            if (p > this.#after!) this.#after = p;
            if (
              this.#partialRev !== undefined && this.#partialRev <= this.#after!
            ) {
              this.#after = Math.max(this.#after!, this.#partialRev);
              this.#partialRev = undefined;
              this.#partialCount = 0;
            }
          } else if (m.event === "error") {
            // The server ended the stream: with `unauthenticated` when the
            // token expired or its user changed.
            const e = (JSON.parse(m.data) as {
              error?: { code?: string; message?: string };
            }).error;
            ended = new RaftlockError(
              (e?.code ?? "http_error") as RaftlockError["code"],
              e?.message ?? "The watch stream ended with an error",
              { endpoint: url },
            );
            break;
          } else if (m.event === "lagging") {
            // The stream ends here; the events before it were delivered.
            this.#lagging = true;
          } else if (m.event === "compacted") {
            const c = (JSON.parse(m.data) as { compactRevision: number })
              .compactRevision;
            throw new RaftlockError(
              "compacted",
              `Revision ${
                resumeAfter + 1
              } has been compacted; the oldest revision still available is ${c}`,
              { status: 410, compactRevision: c, endpoint: url },
            );
          }
        }
        // Events before the end are delivered, or resuming would skip them.
        if (batch.length > 0) yield batch;
        if (ended) throw ended;
        if (this.#lagging) return;
      }
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", cancel);
      conn.abort();
      await reader.cancel().catch(() => {});
    }
  }

  // Exactly-once bookkeeping; true when `e` is new.
  #accept(e: WatchEvent): boolean {
    const r = e.revision;
    if (r <= this.#after!) return false;
    if (this.#partialRev !== undefined) {
      if (r < this.#partialRev) return false;
      if (r === this.#partialRev) {
        if (this.#skip > 0) {
          this.#skip--;
          return false;
        }
        this.#partialCount++;
        return true;
      }
      this.#after = this.#partialRev;
    }
    this.#partialRev = r;
    this.#partialCount = 1;
    this.#skip = 0;
    return true;
  }
}
