/**
 * Histories of client operations, as a linearizability checker reads them.
 *
 * A history is a list of events. Each client operation contributes an
 * `invoke` event and, later, one completion event:
 *
 * - `ok`: the operation happened and returned `result`;
 * - `fail`: the operation definitely did not happen (for example a write
 *   refused with `conflict`); the checker drops it;
 * - `info`: the outcome is unknown (for example a write that timed out): it
 *   may have taken effect at any instant after its invocation, or never. Its
 *   end is treated as +infinity whatever the event's `time` says.
 *
 * An invocation with no completion at all counts as `info`.
 *
 * Real-time order: operation A precedes B when A's completion comes before
 * B's invocation. Events are ordered by `time`; equal times are ordered by
 * their position in the history (the recorder appends events in the order
 * they happened, so a coarse clock loses nothing).
 *
 * @module
 */

/** A client (process) identifier. */
export type ClientId = string | number;

/**
 * An operation as a client issued it: `f` names the function, the other
 * fields are its arguments (`key`, `value`, `expected`, `lock`, `token`...).
 * The models document which fields they read.
 */
export interface Op {
  /** The function, for example `"read"`, `"write"`, `"cas"`, `"acquire"`. */
  f: string;
  /** The key (registers) the operation touches. */
  key?: string;
  /** The value written. */
  value?: unknown;
  /** The value a compare-and-set expects. */
  expected?: unknown;
  /** The lock name (lock operations, fenced writes). */
  lock?: string;
  /** A fencing token (release, fenced writes). */
  token?: number;
  /** Anything else the client wants to record. */
  [field: string]: unknown;
}

/** The invocation of an operation. */
export interface InvokeEvent {
  /** The event type. */
  type: "invoke";
  /** The operation's id, shared with its completion event. */
  id: number;
  /** The client that issued it. */
  client: ClientId;
  /** When it was invoked (milliseconds, wall-clock or virtual). */
  time: number;
  /** What was invoked. */
  op: Op;
}

/** The operation happened and returned `result`. */
export interface OkEvent {
  /** The event type. */
  type: "ok";
  /** The operation's id. */
  id: number;
  /** The client that issued it. */
  client: ClientId;
  /** When the result arrived. */
  time: number;
  /** What it returned (a read's value, a CAS's boolean, a lock's token). */
  result?: unknown;
  /** The operation again, for readers of the raw history (optional). */
  op?: Op;
}

/** The operation definitely did not happen. */
export interface FailEvent {
  /** The event type. */
  type: "fail";
  /** The operation's id. */
  id: number;
  /** The client that issued it. */
  client: ClientId;
  /** When the refusal arrived. */
  time: number;
  /** Why it failed (an error code or message). */
  error?: unknown;
  /** The operation again (optional). */
  op?: Op;
}

/**
 * The outcome is unknown: the operation may have happened at any instant
 * after its invocation, or not at all. `time` is when the client gave up; the
 * checker treats the operation's end as +infinity.
 */
export interface InfoEvent {
  /** The event type. */
  type: "info";
  /** The operation's id. */
  id: number;
  /** The client that issued it. */
  client: ClientId;
  /** When the client gave up waiting. */
  time: number;
  /** Why the outcome is unknown (for example `"timeout"`). */
  error?: unknown;
  /** The operation again (optional). */
  op?: Op;
}

/** A completion event. */
export type CompletionEvent = OkEvent | FailEvent | InfoEvent;

/** One line of a history. */
export type HistoryEvent = InvokeEvent | CompletionEvent;

/** A history: events in the order they happened. */
export type History = readonly HistoryEvent[];

/** How an operation ended. */
export type Status = "ok" | "fail" | "info";

/**
 * An operation with its invocation and completion paired: the form the
 * checker works on.
 */
export interface Operation {
  /** The operation's id. */
  id: number;
  /** The client that issued it. */
  client: ClientId;
  /** What was invoked. */
  op: Op;
  /** How it ended (`info` also for an invocation that never completed). */
  status: Status;
  /** What it returned (`ok` only). */
  result?: unknown;
  /** Why it failed or why its outcome is unknown. */
  error?: unknown;
  /** Invocation time. */
  start: number;
  /**
   * Completion time; `Infinity` for `info` operations, which may take effect
   * at any instant after `start`.
   */
  end: number;
  /** For `info` operations: when the client gave up, if it said so. */
  gaveUpAt?: number;
  /**
   * Position of the invocation in the history, to order events of equal
   * time. Operations built by hand may leave it out: then an invocation
   * and a completion at the same time count as concurrent.
   */
  startIndex?: number;
  /**
   * Position of the completion event in the history (see `startIndex`);
   * for an `info` operation, of the event that gave up.
   */
  endIndex?: number;
}

/** True when `history` holds events rather than paired operations. */
export function isEventHistory(
  history: History | readonly Operation[],
): history is History {
  if (history.length === 0) return true;
  return typeof (history[0] as { type?: unknown }).type === "string";
}

/**
 * Pairs invocations with completions. Events are taken in time order
 * (stable, so equal times keep their history order); an invocation without
 * a completion becomes an `info` operation. Throws on a completion without
 * an invocation, a second completion, a reused id, or a completion earlier
 * than its invocation.
 */
export function toOperations(history: History): Operation[] {
  const order = stableTimeOrder(history);
  const ops: Operation[] = [];
  const byId = new Map<number, Operation>();
  const done = new Set<number>();
  for (let rank = 0; rank < order.length; rank++) {
    const e = history[order[rank]];
    if (e.type === "invoke") {
      if (byId.has(e.id)) {
        throw new Error(`Operation id ${e.id} is invoked twice`);
      }
      const op: Operation = {
        id: e.id,
        client: e.client,
        op: e.op,
        status: "info",
        start: e.time,
        end: Infinity,
        startIndex: rank,
      };
      byId.set(e.id, op);
      ops.push(op);
      continue;
    }
    const op = byId.get(e.id);
    if (op === undefined) {
      throw new Error(
        `Completion of operation ${e.id} has no earlier invocation`,
      );
    }
    if (done.has(e.id)) {
      throw new Error(`Operation ${e.id} completes twice`);
    }
    done.add(e.id);
    op.status = e.type;
    if (e.type === "ok") {
      op.result = e.result;
      op.end = e.time;
      op.endIndex = rank;
    } else if (e.type === "fail") {
      op.error = e.error;
      op.end = e.time;
      op.endIndex = rank;
    } else {
      op.error = e.error;
      op.gaveUpAt = e.time;
      op.endIndex = rank;
    }
  }
  return ops;
}

/**
 * Turns operations back into events, ordered by time (ties: by the
 * operations' recorded positions, else invocations first). An `info`
 * operation's completion is written at `gaveUpAt` when known, else right
 * after the last event.
 */
export function toEvents(operations: readonly Operation[]): HistoryEvent[] {
  interface Item {
    time: number;
    tie: number;
    event: HistoryEvent;
  }
  const items: Item[] = [];
  let last = -Infinity;
  for (const o of operations) {
    if (o.start > last) last = o.start;
    if (Number.isFinite(o.end) && o.end > last) last = o.end;
    if (o.gaveUpAt !== undefined && o.gaveUpAt > last) last = o.gaveUpAt;
  }
  for (const o of operations) {
    items.push({
      time: o.start,
      tie: o.startIndex ?? -1,
      event: {
        type: "invoke",
        id: o.id,
        client: o.client,
        time: o.start,
        op: o.op,
      },
    });
    let event: CompletionEvent;
    let time: number;
    const tie = o.endIndex ?? Number.MAX_SAFE_INTEGER;
    if (o.status === "ok") {
      time = o.end;
      event = { type: "ok", id: o.id, client: o.client, time };
      if (o.result !== undefined) event.result = o.result;
    } else if (o.status === "fail") {
      time = o.end;
      event = { type: "fail", id: o.id, client: o.client, time };
      if (o.error !== undefined) event.error = o.error;
    } else {
      time = o.gaveUpAt ?? (Number.isFinite(last) ? last : o.start);
      event = { type: "info", id: o.id, client: o.client, time };
      if (o.error !== undefined) event.error = o.error;
    }
    items.push({ time, tie, event });
  }
  const hasIndex = operations.every((o) => o.startIndex !== undefined);
  items.sort((a, b) => {
    if (a.time !== b.time) return a.time - b.time;
    if (hasIndex) return a.tie - b.tie;
    // Without positions: invocations before completions at equal times.
    const ka = a.event.type === "invoke" ? 0 : 1;
    const kb = b.event.type === "invoke" ? 0 : 1;
    return ka - kb;
  });
  return items.map((i) => i.event);
}

function stableTimeOrder(history: History): number[] {
  const order = history.map((_, i) => i);
  let sorted = true;
  for (let i = 1; i < history.length; i++) {
    if (history[i].time < history[i - 1].time) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    order.sort((a, b) => history[a].time - history[b].time || a - b);
  }
  return order;
}

/** Options of a {@link HistoryRecorder}. */
export interface HistoryRecorderOptions {
  /**
   * The clock, in milliseconds. Defaults to `performance.now()`; pass a
   * virtual clock in simulations.
   */
  clock?: () => number;
  /** The first operation id (default 0). */
  firstId?: number;
  /** Called with each event as it is recorded (to stream it elsewhere). */
  onEvent?: (event: HistoryEvent) => void;
  /**
   * Whether to keep the events for `events()` (default true; a recorder
   * that only streams them through `onEvent` need not).
   */
  retain?: boolean;
}

/**
 * Records a history as clients run: call `invoke` before sending a request
 * and exactly one of `ok`, `fail` or `info` when its outcome is known.
 *
 * ```ts
 * const rec = new HistoryRecorder();
 * const id = rec.invoke("c1", { f: "write", key: "x", value: "5" });
 * rec.ok(id);
 * ```
 */
export class HistoryRecorder {
  readonly #clock: () => number;
  readonly #events: HistoryEvent[] = [];
  readonly #open = new Map<number, InvokeEvent>();
  readonly #onEvent: ((event: HistoryEvent) => void) | undefined;
  readonly #retain: boolean;
  #nextId: number;

  /** Makes an empty recorder. */
  constructor(options: HistoryRecorderOptions = {}) {
    this.#clock = options.clock ?? (() => performance.now());
    this.#nextId = options.firstId ?? 0;
    this.#onEvent = options.onEvent;
    this.#retain = options.retain ?? true;
  }

  /** Records that `client` invokes `op`; returns the operation's id. */
  invoke(client: ClientId, op: Op): number {
    const id = this.#nextId++;
    const event: InvokeEvent = {
      type: "invoke",
      id,
      client,
      time: this.#clock(),
      op,
    };
    if (this.#retain) this.#events.push(event);
    this.#open.set(id, event);
    this.#onEvent?.(event);
    return id;
  }

  /** Records that operation `id` happened and returned `result`. */
  ok(id: number, result?: unknown): void {
    this.#complete("ok", id, "result", result);
  }

  /** Records that operation `id` definitely did not happen. */
  fail(id: number, error?: unknown): void {
    this.#complete("fail", id, "error", error);
  }

  /** Records that the outcome of operation `id` is unknown (e.g. a timeout). */
  info(id: number, error?: unknown): void {
    this.#complete("info", id, "error", error);
  }

  // Closes `id` with a completion event of `type`, carrying `value` under
  // `field` when given.
  #complete(
    type: "ok" | "fail" | "info",
    id: number,
    field: "result" | "error",
    value: unknown,
  ): void {
    const inv = this.#close(id);
    const event = {
      type,
      id,
      client: inv.client,
      time: this.#clock(),
      op: inv.op,
    } as
      & (OkEvent | FailEvent | InfoEvent)
      & { result?: unknown; error?: unknown };
    if (value !== undefined) event[field] = value;
    if (this.#retain) this.#events.push(event);
    this.#onEvent?.(event);
  }

  /** Ids of the operations invoked but not yet completed. */
  pending(): number[] {
    return [...this.#open.keys()];
  }

  /** The events so far (a copy). */
  events(): HistoryEvent[] {
    return this.#events.slice();
  }

  /** The operations so far, paired (open ones count as `info`). */
  operations(): Operation[] {
    return toOperations(this.#events);
  }

  #close(id: number): InvokeEvent {
    const inv = this.#open.get(id);
    if (inv === undefined) {
      throw new Error(`Operation ${id} is not open: unknown or completed`);
    }
    this.#open.delete(id);
    return inv;
  }
}
