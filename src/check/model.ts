/**
 * The sequential specification a history is checked against.
 *
 * @module
 */

import type { Operation } from "./history.ts";

/**
 * The output the checker passes to {@link Model.step} for an operation whose
 * outcome is unknown (`info`): the step must accept any output and apply the
 * operation's effect as if it happened.
 */
export const UNKNOWN: unique symbol = Symbol("unknown outcome");

/** The type of {@link UNKNOWN}. */
export type Unknown = typeof UNKNOWN;

/** What a step of the sequential specification says. */
export interface StepResult<State> {
  /** Whether the operation, with that output, is legal in that state. */
  ok: boolean;
  /** The state after it (meaningful only when `ok`). */
  state: State;
}

/** One operation as a model sees it: the recorded operation, mapped. */
export interface PartitionEntry<Input, Output> {
  /** The operation as recorded (reports show this). */
  operation: Operation;
  /** The model's input for it. */
  input: Input;
  /** The model's output for it (ignored for `info` operations). */
  output: Output;
}

/** A part of a history that can be checked on its own. */
export interface Partition<Input, Output> {
  /** A name for reports, for example the key. */
  key: string;
  /** The operations of this part. */
  entries: PartitionEntry<Input, Output>[];
}

/**
 * A sequential specification. Steps must be deterministic: given a state,
 * an input and an output (or {@link UNKNOWN}) there is one next state.
 */
export interface Model<State, Input = unknown, Output = unknown> {
  /** A short name for reports, for example `"register"`. */
  name: string;
  /** The initial state. */
  init(): State;
  /**
   * Applies `input` with its observed `output` to `state`: `ok: false` when
   * the output is impossible there. `output` is {@link UNKNOWN} for
   * operations whose outcome is unknown; then the step applies the
   * operation's effect (not happening at all is the checker's business).
   */
  step(state: State, input: Input, output: Output | Unknown): StepResult<State>;
  /**
   * Splits the history (without `fail` operations) into independent parts
   * (P-compositionality: for example one part per key) and maps each
   * operation to the model's input and output. It may leave out operations
   * that cannot matter (an `info` read). Without it the whole history is one
   * part, with `op` as input and `result` as output.
   */
  partition?(operations: readonly Operation[]): Partition<Input, Output>[];
  /** State equality (default: `Object.is`, then JSON text). */
  equal?(a: State, b: State): boolean;
  /**
   * A hash of a state, consistent with `equal` (default: a hash of the
   * number or of the JSON text).
   */
  hash?(state: State): number | string;
  /**
   * Whether an operation with this (known) output is read-only: wherever
   * it is legal without changing the state, it stays so in every state
   * reachable from there (a read, a CAS that failed). The search linearizes
   * a read-only operation as soon as it is legal and changes nothing,
   * without trying later points, which removes the exponential cost of
   * many concurrent reads. Leave it out or answer false when unsure: a
   * write of the current value changes nothing here but would elsewhere,
   * so it is not read-only.
   */
  readOnly?(input: Input, output: Output): boolean;
  /**
   * The values an operation observes (if it happened), as primitive keys:
   * a read's value, a successful CAS's expected value, a fenced write's
   * token; `output` is {@link UNKNOWN} for an operation of unknown outcome. A
   * failing sub-history keeps the operations that {@link Model.produces}
   * them, so a reader sees where an observed value came from (and
   * minimization does not invent "value never written" failures).
   */
  observes?(
    input: Input,
    output: Output | Unknown,
  ): readonly (string | number)[];
  /**
   * The value an operation produces (a write's value, a grant's token);
   * `output` is {@link UNKNOWN} for an operation of unknown outcome, which
   * may have produced it.
   */
  produces?(
    input: Input,
    output: Output | Unknown,
  ): string | number | undefined;
  /** A short description of an operation for reports, e.g. `write(x, 5)`. */
  describe?(operation: Operation): string;
  /** A short description of a state for reports. */
  describeState?(state: State): string;
}

/** 32-bit FNV-1a hash of a string. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** A 32-bit hash of a number. */
export function hashNumber(n: number): number {
  if (Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff) {
    let h = Math.imul(n ^ (n >>> 16), 0x45d9f3b);
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return (h ^ (h >>> 16)) | 0;
  }
  return hashString(String(n));
}

/** JSON text with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") {
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) {
    return "[" + value.map(canonicalJson).join(",") + "]";
  }
  const keys = Object.keys(value).sort();
  const parts: string[] = [];
  for (const k of keys) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined) continue;
    parts.push(JSON.stringify(k) + ":" + canonicalJson(v));
  }
  return "{" + parts.join(",") + "}";
}

/** The default state hash: numbers and strings directly, else JSON text. */
export function defaultHash(state: unknown): number {
  if (typeof state === "number") return hashNumber(state);
  if (typeof state === "string") return hashString(state);
  if (typeof state === "boolean") return state ? 1 : 2;
  if (state === null || state === undefined) return 0;
  return hashString(canonicalJson(state));
}

/** The default state equality: `Object.is`, then JSON text. */
export function defaultEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object") return false;
  if (a === null || b === null) return false;
  return canonicalJson(a) === canonicalJson(b);
}

/** Renders a value briefly for reports. */
export function show(value: unknown): string {
  if (value === undefined) return "?";
  if (typeof value === "string") {
    const bare = /^[A-Za-z_][\w.:/@+-]{0,23}$/.test(value) &&
      value !== "null" && value !== "true" && value !== "false";
    return bare ? value : JSON.stringify(value);
  }
  const s = canonicalJson(value);
  return s.length > 40 ? s.slice(0, 37) + "..." : s;
}
