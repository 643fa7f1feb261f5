/**
 * {@linkcode WatchFeed}: one watcher's events, pulled by its stream as it
 * can take them, with a bounded send queue.
 *
 * A feed starts behind (catching up): it reads the watch history a slice at
 * a time, only when its stream asks, so a watcher that resumes from far
 * back holds one slice, not everything since its revision (etcd's slow
 * watchers catch up from the store the same way). Once it has read to the
 * newest revision it is live: new events are queued as they are applied,
 * up to a bound in events and bytes. A watcher whose queue goes past the
 * bound has fallen behind: its queue is dropped and it is told `lagging`,
 * with the revision it was handed up to, and ends; the client resumes from
 * its last revision and catches up from the history again.
 *
 * @module
 */

import {
  eventBytes,
  type EventsSince,
  matchesFilter,
  type SinceLimit,
  type WatchEvent,
  type WatchFilter,
} from "../state/history.ts";

/** Bounds of a watcher's send queue. */
export interface WatchQueueLimits {
  /** The most events queued (default 10 000). */
  maxEvents?: number;
  /**
   * The most bytes queued, by {@linkcode eventBytes} (default 1 MiB). A
   * single event larger than this is still queued alone.
   */
  maxBytes?: number;
}

/** Default bounds of a watcher's send queue. */
export const DEFAULT_WATCH_QUEUE: Readonly<Required<WatchQueueLimits>> = {
  maxEvents: 10_000,
  maxBytes: 1024 * 1024,
};

/** What {@linkcode WatchFeed.take} hands out. */
export type FeedItem =
  | {
    /** Events, oldest first, whole revisions. */
    kind: "events";
    events: WatchEvent[];
  }
  | {
    /** The history no longer reaches back to the feed's revision; the feed ended. */
    kind: "compacted";
    /** The oldest revision whose events are all still available. */
    compactRevision: number;
  }
  | {
    /** The queue went past its bound; the feed ended. */
    kind: "lagging";
    /** Every event up to this revision was handed out (resume after it). */
    revision: number;
  };

/** What a feed reads: the state machine's history and its live events. */
export interface FeedSource {
  /** The current revision. */
  readonly revision: number;
  /** A slice of the history (see `ServiceStateMachine.eventsSince`). */
  eventsSince(
    revision: number,
    filter: WatchFilter,
    limit: SinceLimit,
  ): EventsSince;
  /** Calls `fn` with each apply's events; returns an unsubscribe function. */
  onEvents(fn: (events: readonly WatchEvent[]) => void): () => void;
}

/** Options of a {@linkcode WatchFeed}. */
export interface WatchFeedOptions {
  /** The send queue's bounds. */
  queue?: WatchQueueLimits;
  /** Called when `take` may have something new (events, the end). */
  onReady?: () => void;
  /** Called with each change of the queued bytes (for a node-wide gauge). */
  onQueueBytes?: (delta: number) => void;
  /** Called once when the feed ends (lagging, compacted or closed). */
  onEnd?: () => void;
  /** Called when the queue goes past its bounds (the feed then ends as lagging). */
  onOverflow?: () => void;
}

/**
 * One watcher's events after a revision: first from the history, a slice
 * per {@linkcode WatchFeed.take}, then live through a bounded queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServiceStateMachine } from "../state/mod.ts";
 * import { WatchFeed } from "./watch_feed.ts";
 *
 * const state = new ServiceStateMachine();
 * state.applyCommand({ type: "put", key: "a", value: "1" }, { index: 1, term: 1 });
 * const feed = new WatchFeed(state, { prefix: "" }, 0);
 * const item = feed.take(64 * 1024);
 * assert.equal(item?.kind, "events");
 * assert.equal(feed.take(64 * 1024), undefined); // caught up: live now
 * feed.close();
 * ```
 */
export class WatchFeed {
  readonly #source: FeedSource;
  readonly #filter: WatchFilter;
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #onReady: () => void;
  readonly #onQueueBytes: (delta: number) => void;
  readonly #onEnd: () => void;
  readonly #onOverflow: () => void;
  readonly #unsubscribe: () => void;
  // catchUp: read the history after #cursor on take. live: new events are
  // queued as they come. Then the end: lagging, compacted or closed.
  #mode: "catchUp" | "live" | "lagging" | "compacted" | "closed" = "catchUp";
  // Every matching event up to #cursor is handed out or queued.
  #cursor: number;
  // Every matching event up to #handed is handed out.
  #handed: number;
  #queue: WatchEvent[] = [];
  #head = 0;
  #queuedBytes = 0;
  #compactRevision = 0;

  /**
   * Follows the events of `source` that pass `filter`, after revision
   * `after` (0: from the start of the history).
   */
  constructor(
    source: FeedSource,
    filter: WatchFilter,
    after: number,
    options: WatchFeedOptions = {},
  ) {
    this.#source = source;
    this.#filter = filter;
    this.#cursor = after;
    this.#handed = after;
    this.#maxEvents = Math.max(
      1,
      options.queue?.maxEvents ?? DEFAULT_WATCH_QUEUE.maxEvents,
    );
    this.#maxBytes = Math.max(
      1,
      options.queue?.maxBytes ?? DEFAULT_WATCH_QUEUE.maxBytes,
    );
    this.#onReady = options.onReady ?? (() => {});
    this.#onQueueBytes = options.onQueueBytes ?? (() => {});
    this.#onEnd = options.onEnd ?? (() => {});
    this.#onOverflow = options.onOverflow ?? (() => {});
    this.#unsubscribe = source.onEvents((events) => this.#push(events));
  }

  /** Every matching event up to this revision was handed out by `take`. */
  get revision(): number {
    return this.#handed;
  }

  /** Bytes queued (live events not yet taken). */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** True once the feed ended (lagging, compacted or closed). */
  get ended(): boolean {
    return this.#mode !== "catchUp" && this.#mode !== "live";
  }

  /**
   * The revision a progress event may announce: every matching event up to
   * it was handed out. Only when live with nothing queued; otherwise
   * undefined.
   */
  progress(): number | undefined {
    return this.#mode === "live" && this.#queue.length === this.#head
      ? this.#source.revision
      : undefined;
  }

  /**
   * The next events, up to about `maxBytes` (whole revisions, at least
   * one event), or the feed's end (`lagging`, `compacted`, then
   * undefined), or undefined when there is nothing now (`onReady` is
   * called when there may be).
   */
  take(maxBytes: number): FeedItem | undefined {
    if (this.#mode === "lagging") {
      this.#mode = "closed";
      return { kind: "lagging", revision: this.#handed };
    }
    if (this.#mode === "compacted") {
      this.#mode = "closed";
      return { kind: "compacted", compactRevision: this.#compactRevision };
    }
    if (this.#mode === "closed") return undefined;
    if (this.#head < this.#queue.length) return this.#takeQueued(maxBytes);
    if (this.#mode === "live") return undefined;
    const since = this.#source.eventsSince(this.#cursor, this.#filter, {
      maxBytes,
    });
    if (since.compacted) {
      this.#end("closed");
      return { kind: "compacted", compactRevision: since.compactRevision };
    }
    const events = since.events;
    if (since.more) {
      this.#cursor = events[events.length - 1].revision;
    } else {
      // Read to the end of the history in this same turn: every event up
      // to now is in hand, later ones will come through #push.
      this.#cursor = Math.max(this.#cursor, this.#source.revision);
      this.#mode = "live";
    }
    this.#handed = this.#cursor;
    return events.length === 0 ? undefined : { kind: "events", events };
  }

  /**
   * The state was replaced by a snapshot: live events may have been
   * missed, so read the history again from the feed's revision (which
   * may answer compacted).
   */
  resync(): void {
    if (this.#mode !== "live") return;
    this.#mode = "catchUp";
    this.#onReady();
  }

  /** Stops following the state and drops the queue. */
  close(): void {
    this.#end("closed");
  }

  #takeQueued(maxBytes: number): FeedItem {
    const q = this.#queue;
    let end = this.#head;
    let bytes = 0;
    while (
      end < q.length &&
      (end === this.#head || bytes < maxBytes ||
        q[end].revision === q[end - 1].revision)
    ) {
      bytes += eventBytes(q[end]);
      end++;
    }
    const events = q.slice(this.#head, end);
    if (end === q.length) {
      this.#queue = [];
      this.#head = 0;
    } else {
      this.#head = end;
      // Drop the taken prefix now and then, not on every take.
      if (this.#head > 1024 && this.#head * 2 > q.length) {
        this.#queue = q.slice(this.#head);
        this.#head = 0;
      }
    }
    this.#setQueuedBytes(this.#queuedBytes - bytes);
    this.#handed = events[events.length - 1].revision;
    if (this.#head === this.#queue.length && this.#mode === "live") {
      // Nothing left: every event up to the cursor (non-matching ones
      // included) is handed out.
      this.#handed = this.#cursor;
    }
    return { kind: "events", events };
  }

  #push(events: readonly WatchEvent[]): void {
    if (this.#mode === "catchUp") {
      // The history has them; a waiting take should read on.
      this.#onReady();
      return;
    }
    if (this.#mode !== "live") return;
    let added = 0;
    let bytes = 0;
    // Events of one revision (a transaction) all pass or all do not.
    const from = this.#cursor;
    for (const e of events) {
      if (e.revision <= from) continue;
      this.#cursor = e.revision;
      if (!matchesFilter(e, this.#filter)) continue;
      this.#queue.push(e);
      bytes += eventBytes(e);
      added++;
    }
    if (added === 0) {
      if (this.#head === this.#queue.length) this.#handed = this.#cursor;
      return;
    }
    this.#setQueuedBytes(this.#queuedBytes + bytes);
    const queued = this.#queue.length - this.#head;
    if (
      queued > 1 &&
      (queued > this.#maxEvents || this.#queuedBytes > this.#maxBytes)
    ) {
      // Fallen behind: the events it has not taken are dropped; it resumes
      // from #handed, from the history.
      this.#end("lagging");
      this.#onOverflow();
    }
    this.#onReady();
  }

  #end(mode: "lagging" | "compacted" | "closed"): void {
    if (this.ended) return;
    this.#mode = mode;
    this.#unsubscribe();
    this.#queue = [];
    this.#head = 0;
    this.#setQueuedBytes(0);
    this.#onEnd();
  }

  #setQueuedBytes(n: number): void {
    if (n === this.#queuedBytes) return;
    this.#onQueueBytes(n - this.#queuedBytes);
    this.#queuedBytes = n;
  }
}
