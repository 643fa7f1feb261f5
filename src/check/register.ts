/**
 * A register per key: the model of the key-value store's single-key
 * operations.
 *
 * Operations (`op.f`), each with `op.key`:
 *
 * | f                    | arguments            | result (`ok`)                          |
 * | -------------------- | -------------------- | -------------------------------------- |
 * | `read` / `get`       | —                    | the value, or `null` when absent       |
 * | `write` / `put`      | `value`              | ignored                                |
 * | `cas`                | `expected`, `value`  | `true` (swapped) or `false` (no match) |
 * | `delete`             | —                    | ignored                                |
 * | `fencedWrite`        | `value` (and `lock`) | ignored; a write when `key` is set     |
 *
 * Values compare by their JSON text with object keys sorted; `null` and
 * `undefined` both mean "absent". A `fail` operation did not happen; an
 * `info` write, delete or CAS may have taken effect at any instant after its
 * invocation (a read of a value that only a timed-out write wrote is
 * linearizable); an `info` read says nothing and is left out. A CAS refused
 * with a conflict may be recorded as `ok` with result `false` (then the
 * checker verifies the value differed) or as `fail` (it just did not happen).
 *
 * The state is the current value, interned as a small integer, so steps and
 * hashing are O(1).
 *
 * @module
 */

import type { Operation } from "./history.ts";
import {
  canonicalJson,
  type Model,
  type Partition,
  type PartitionEntry,
  show,
  type StepResult,
  UNKNOWN,
  type Unknown,
} from "./model.ts";
import { LOCK_FUNCTIONS } from "./lock.ts";
import { RECIPE_FUNCTIONS } from "./grants.ts";

const READ = 0;
const WRITE = 1;
const CAS = 2;
const DELETE = 3;

/** A register operation as the model steps it (values interned). */
export interface RegisterInput {
  /** 0 read, 1 write, 2 compare-and-set, 3 delete. */
  code: 0 | 1 | 2 | 3;
  /** The interned value written (write, CAS). */
  value: number;
  /** The interned value expected (CAS). */
  expected: number;
}

/** A register output: an interned value (read) or a CAS outcome. */
export type RegisterOutput = number | boolean | undefined;

/** Options of {@link registerModel}. */
export interface RegisterModelOptions {
  /** The value of every key before the history (default `null`: absent). */
  initial?: unknown;
}

/** The register model: see the module documentation. */
export interface RegisterModel
  extends Model<number, RegisterInput, RegisterOutput> {
  /** The value an interned state stands for. */
  valueOf(state: number): unknown;
}

/** Makes a register model (one register per key). */
export function registerModel(
  options: RegisterModelOptions = {},
): RegisterModel {
  // Interned values: id -> value; id 0 is "absent".
  let values: unknown[] = [null];
  let ids = new Map<string, number>([["null", 0]]);
  const intern = (v: unknown): number => {
    const text = canonicalJson(v ?? null);
    let id = ids.get(text);
    if (id === undefined) {
      id = values.length;
      values.push(v);
      ids.set(text, id);
    }
    return id;
  };
  let initial = intern(options.initial);

  const ok = (state: number): StepResult<number> => ({ ok: true, state });
  const bad = (state: number): StepResult<number> => ({ ok: false, state });

  return {
    name: "register",
    init: () => initial,
    step(
      state: number,
      input: RegisterInput,
      output: RegisterOutput | Unknown,
    ): StepResult<number> {
      switch (input.code) {
        case READ:
          return output === UNKNOWN || output === state
            ? ok(state)
            : bad(state);
        case WRITE:
          return ok(input.value);
        case DELETE:
          return ok(0);
        case CAS:
          if (output === UNKNOWN) {
            return ok(state === input.expected ? input.value : state);
          }
          if (output === true) {
            return state === input.expected ? ok(input.value) : bad(state);
          }
          return state !== input.expected ? ok(state) : bad(state);
      }
    },
    partition(operations: readonly Operation[]) {
      values = [null];
      ids = new Map([["null", 0]]);
      initial = intern(options.initial);
      const parts = new Map<
        string,
        PartitionEntry<RegisterInput, RegisterOutput>[]
      >();
      for (const o of operations) {
        const entry = toEntry(o, intern);
        if (entry === undefined) continue;
        const key = o.op.key as string;
        let list = parts.get(key);
        if (list === undefined) {
          list = [];
          parts.set(key, list);
        }
        list.push(entry);
      }
      const out: Partition<RegisterInput, RegisterOutput>[] = [];
      for (const key of [...parts.keys()].sort()) {
        out.push({ key, entries: parts.get(key)! });
      }
      return out;
    },
    readOnly: (input, output) =>
      input.code === READ || (input.code === CAS && output === false),
    observes(input, output) {
      if (input.code === READ) return [output as number];
      // A CAS that swapped (or may have) needed its expected value.
      if (input.code === CAS && output !== false) return [input.expected];
      return [];
    },
    produces(input, output) {
      if (input.code === WRITE) return input.value;
      if (input.code === DELETE) return 0;
      // A CAS of unknown outcome may have swapped.
      if (input.code === CAS && output !== false) return input.value;
      return undefined;
    },
    equal: (a, b) => a === b,
    hash: (s) => s,
    describe: describeRegisterOp,
    describeState: (s) => show(values[s] ?? null),
    valueOf: (s) => values[s] ?? null,
  };
}

function toEntry(
  o: Operation,
  intern: (v: unknown) => number,
): PartitionEntry<RegisterInput, RegisterOutput> | undefined {
  const op = o.op;
  const f = op.f;
  if (f === "fencedWrite" && op.key === undefined) return undefined;
  // Lock and recipe operations may share the history: they are their
  // models'.
  if (LOCK_FUNCTIONS.has(f) || RECIPE_FUNCTIONS.has(f)) return undefined;
  if (typeof op.key !== "string") {
    throw new TypeError(
      `Register operation ${o.id} (${f}) has no string key`,
    );
  }
  switch (f) {
    case "read":
    case "get":
      // An info read constrains nothing.
      if (o.status !== "ok") return undefined;
      return {
        operation: o,
        input: { code: READ, value: 0, expected: 0 },
        output: intern(o.result ?? null),
      };
    case "write":
    case "put":
    case "fencedWrite":
      return {
        operation: o,
        input: { code: WRITE, value: intern(op.value), expected: 0 },
        output: undefined,
      };
    case "delete":
      return {
        operation: o,
        input: { code: DELETE, value: 0, expected: 0 },
        output: undefined,
      };
    case "cas": {
      if (o.status === "ok" && typeof o.result !== "boolean") {
        throw new TypeError(
          `Register operation ${o.id} (cas) needs a boolean result`,
        );
      }
      return {
        operation: o,
        input: {
          code: CAS,
          value: intern(op.value),
          expected: intern(op.expected),
        },
        output: o.status === "ok" ? o.result as boolean : undefined,
      };
    }
    default:
      throw new TypeError(
        `Register model cannot check operation ${o.id}: unknown f ${
          JSON.stringify(f)
        }`,
      );
  }
}

/** Describes a register operation, e.g. `read(x) → 5`, `cas(x, 1→2) → true`. */
export function describeRegisterOp(o: Operation): string {
  const op = o.op;
  const key = show(op.key);
  const res = o.status === "ok" ? show(o.result ?? null) : "?";
  switch (op.f) {
    case "read":
    case "get":
      return `${op.f}(${key}) → ${res}`;
    case "write":
    case "put":
      return `${op.f}(${key}, ${show(op.value)})`;
    case "fencedWrite":
      return `fencedWrite(${key}, ${show(op.value)}, ${show(op.lock)}#${
        show(op.token)
      })`;
    case "delete":
      return `delete(${key})`;
    case "cas":
      return `cas(${key}, ${show(op.expected ?? null)}→${
        show(op.value)
      }) → ${res}`;
    default:
      return `${op.f}(${key})`;
  }
}
