/**
 * Observing an election's leader over server-sent events, across
 * disconnects, node failures and leader changes: the observer reconnects
 * to the next endpoint and resumes after the last revision it delivered,
 * so it never goes back in time. Get one with `client.observe()`.
 *
 * @module
 */

import { RaftlockError } from "./errors.ts";
import { SseParser } from "./sse.ts";
import { netReason, sleep, type Transport } from "./transport.ts";
import type { ElectionEvent } from "./types.ts";

/** Options of `client.observe()`. */
export interface ObserveOptions {
  /** Ends the observation (iteration then finishes without an error). */
  signal?: AbortSignal;
  /**
   * Resume after this revision (an event's `revision` seen before): the
   * first event is the state now only if it changed since.
   */
  afterRevision?: number;
  /**
   * Reconnect when nothing (not even a progress event) arrived for this
   * long, in ms (default 20 000; the server sends progress every 5 s).
   */
  idleTimeoutMs?: number;
}

// Failures worth another endpoint; any other error ends the observation.
const RETRIABLE = new Set([
  "unreachable",
  "timeout",
  "unavailable",
  "http_error",
  "internal",
]);

/**
 * An election's leader changes: an async iterable of
 * {@linkcode ElectionEvent}s (the leader, or `leader: null` when nobody
 * leads), first the state now, then each change, with strictly increasing
 * revisions. It keeps reconnecting (with backoff) until its signal aborts,
 * {@linkcode Observer.close} is called or the client closes; it throws only
 * on an error that retrying cannot fix (a bad name, a missing permission,
 * an expired token).
 *
 * @example
 * ```ts
 * import type { Client } from "./mod.ts";
 *
 * async function follow(client: Client, signal: AbortSignal) {
 *   for await (const e of client.observe("scheduler", { signal })) {
 *     console.log(e.revision, e.leader?.value ?? "(no leader)");
 *   }
 * }
 * ```
 */
export class Observer implements AsyncIterable<ElectionEvent> {
  readonly #transport: Transport;
  readonly #name: string;
  readonly #ctl = new AbortController();
  readonly #signal: AbortSignal;
  readonly #idleMs: number;
  #started = false;
  #last: number | undefined;
  #lastWasVacant = false;
  #url: string | undefined;

  /** Creates an observer (use `client.observe`); it connects when iterated. */
  constructor(
    transport: Transport,
    name: string,
    options: ObserveOptions = {},
  ) {
    this.#transport = transport;
    this.#name = name;
    if (options.afterRevision !== undefined) {
      if (
        !Number.isSafeInteger(options.afterRevision) ||
        options.afterRevision < 0
      ) {
        throw new TypeError("afterRevision must be a whole number");
      }
      this.#last = options.afterRevision;
    }
    this.#idleMs = options.idleTimeoutMs ?? 20_000;
    const signals = [this.#ctl.signal, transport.closed];
    if (options.signal) signals.push(options.signal);
    this.#signal = AbortSignal.any(signals);
  }

  /** The revision of the last event delivered (undefined: none yet). */
  get revision(): number | undefined {
    return this.#last;
  }

  /** The endpoint the observer is connected to, if any. */
  get endpoint(): string | undefined {
    return this.#url;
  }

  /** Ends the observation. */
  close(): void {
    this.#ctl.abort();
  }

  /** Iterates the changes. */
  async *[Symbol.asyncIterator](): AsyncGenerator<ElectionEvent> {
    if (this.#started) throw new TypeError("An observer can be iterated once");
    this.#started = true;
    const signal = this.#signal;
    let failures = 0;
    // Logins in a row that did not get a stream going.
    let renewals = 0;
    try {
      while (!signal.aborted) {
        if (failures > 0) {
          await sleep(
            Math.min(2000, 50 * 2 ** failures) * (0.5 + Math.random()),
            signal,
          );
        }
        const url = this.#transport.order()[0];
        this.#url = url;
        const opened = Date.now();
        let delivered = false;
        const auth = { header: undefined as string | undefined };
        try {
          for await (const e of this.#connect(url, signal, auth)) {
            delivered = true;
            renewals = 0;
            yield e;
          }
        } catch (e) {
          if (signal.aborted) return;
          // An expired token: log in again and resume (as a watch does).
          if (
            e instanceof RaftlockError && e.code === "unauthenticated" &&
            renewals < 2 && this.#transport.invalidateAuth(auth.header)
          ) {
            if (Date.now() - opened > 1000) renewals = 0;
            renewals++;
            continue;
          }
          if (e instanceof RaftlockError && !RETRIABLE.has(e.code)) throw e;
        }
        if (signal.aborted) return;
        this.#transport.markBad(url);
        this.#url = undefined;
        // A connection that worked for a while starts the count afresh.
        failures = delivered || Date.now() - opened > 1000
          ? 1
          : Math.min(failures + 1, 10);
      }
    } catch (e) {
      if (signal.aborted && !(e instanceof RaftlockError)) return;
      if (signal.aborted && e === this.#transport.closed.reason) return;
      throw e;
    }
  }

  // One connection: yields new events until the stream ends or fails.
  async *#connect(
    url: string,
    outer: AbortSignal,
    auth: { header?: string },
  ): AsyncGenerator<ElectionEvent> {
    const conn = new AbortController();
    const signal = AbortSignal.any([outer, conn.signal]);
    auth.header = await this.#transport.authHeader(signal);
    const res = await this.#transport.openStream(
      url,
      `/v1/elections/${encodeURIComponent(this.#name)}/observe`,
      {
        ...(this.#last === undefined
          ? {}
          : { "last-event-id": String(this.#last) }),
        ...(auth.header ? { authorization: auth.header } : {}),
      },
      signal,
      this.#transport.attemptTimeoutMs,
    );
    if (!res.body) throw new RaftlockError("http_error", "Empty observe body");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    const parser = new SseParser();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(
        () => conn.abort(new Error("observe idle timeout")),
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
            `The observe stream on ${url} broke: ${netReason(e)}`,
            { endpoint: url, cause: e },
          );
        }
        if (chunk.done) {
          if (outer.aborted) throw outer.reason;
          return;
        }
        arm();
        for (const m of parser.push(chunk.value)) {
          if (m.event === "leader") {
            const e = JSON.parse(m.data) as ElectionEvent;
            if (this.#accept(e)) yield e;
          } else if (m.event === "error") {
            const err = (JSON.parse(m.data) as {
              error?: { code?: string; message?: string };
            }).error;
            throw new RaftlockError(
              (err?.code ?? "unauthenticated") as "unauthenticated",
              err?.message ?? "The observe stream was refused",
              { endpoint: url },
            );
          }
        }
      }
    } finally {
      clearTimeout(idle);
      signal.removeEventListener("abort", cancel);
      conn.abort();
      await reader.cancel().catch(() => {});
    }
  }

  // Only newer events; a vacancy repeated by a resume is not news.
  #accept(e: ElectionEvent): boolean {
    if (this.#last !== undefined && e.revision <= this.#last) return false;
    this.#last = e.revision;
    const vacant = e.leader === null;
    if (vacant && this.#lastWasVacant) return false;
    this.#lastWasVacant = vacant;
    return true;
  }
}
