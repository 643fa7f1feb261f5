/**
 * The wire form of Raft {@linkcode Message}s: compact msgpack with strict
 * validation on the way in.
 *
 * A message is a msgpack map with short keys; fields that are `undefined`
 * are left out, binary data stays binary:
 *
 * | key  | field        | msgpack type                                   |
 * | ---- | ------------ | ---------------------------------------------- |
 * | `y`  | `type`       | uint, see {@linkcode MESSAGE_TYPE_CODES}       |
 * | `f`  | `from`       | str (1–255 chars)                              |
 * | `t`  | `to`         | str (1–255 chars)                              |
 * | `m`  | `term`       | uint                                           |
 * | `lt` | `logTerm`    | uint                                           |
 * | `i`  | `index`      | uint                                           |
 * | `e`  | `entries`    | array of `[term, index, type, data]`           |
 * | `c`  | `commit`     | uint                                           |
 * | `s`  | `snapshot`   | `[index, term, voters, learners, data]`        |
 * | `r`  | `reject`     | bool                                           |
 * | `h`  | `rejectHint` | uint                                           |
 * | `x`  | `context`    | str                                            |
 * | `tr` | `transferee` | str (1–255 chars)                              |
 *
 * Every term must be a whole number from 0 to {@linkcode MAX_TERM} and
 * every index (log index, commit, hint) from 0 to {@linkcode MAX_INDEX}
 * (2^52): far beyond any real cluster, and far enough below
 * `Number.MAX_SAFE_INTEGER` that a node can still add to them. Entry type
 * is 0 or 1; data is bin. Unknown keys, unknown message kinds and the local-only kinds
 * (`hup`, `beat`, `snapStatus`, `unreachable`) are rejected. A `snap`
 * message must carry a snapshot.
 *
 * {@linkcode decodeMessage} never throws: it returns the message or an error.
 *
 * @module
 */

import type {
  Entry,
  Message,
  MessageType,
  NodeId,
  Snapshot,
} from "../raft/types.ts";
import { decode, encode } from "./msgpack.ts";

/**
 * The numeric code of each message kind on the wire. The local kinds have
 * codes too, but only so that a decoder can name them when it rejects them;
 * {@linkcode encodeMessage} refuses to encode them.
 */
export const MESSAGE_TYPE_CODES: Readonly<Record<MessageType, number>> = Object
  .freeze({
    prop: 1,
    app: 2,
    appResp: 3,
    vote: 4,
    voteResp: 5,
    preVote: 6,
    preVoteResp: 7,
    snap: 8,
    heartbeat: 9,
    heartbeatResp: 10,
    transferLeader: 11,
    timeoutNow: 12,
    readIndex: 13,
    readIndexResp: 14,
    hup: 100,
    beat: 101,
    snapStatus: 102,
    unreachable: 103,
  });

const TYPE_BY_CODE = new Map<number, MessageType>(
  Object.entries(MESSAGE_TYPE_CODES).map(([k, v]) => [v, k as MessageType]),
);

const LOCAL_TYPES: ReadonlySet<MessageType> = new Set([
  "hup",
  "beat",
  "snapStatus",
  "unreachable",
]);

/** The longest node id accepted on the wire, in UTF-16 code units. */
export const MAX_NODE_ID_LENGTH = 255;

/**
 * The largest term a message may carry: 2^52. A node takes the term of any
 * newer message, then adds one for each election; refusing larger terms at
 * the wire keeps every term it can reach exact (a term of 2^53 − 1 from a
 * peer would make the next election's term unrepresentable, and the node
 * unable to persist it). Reaching 2^52 by elections alone would take
 * millions of years.
 */
export const MAX_TERM = 2 ** 52;

/** The largest log index (or commit, or hint) a message may carry: 2^52. */
export const MAX_INDEX = 2 ** 52;

/**
 * The largest persisted term or log index a node starts from:
 * `Number.MAX_SAFE_INTEGER − 2^32`. Strictly above {@linkcode MAX_TERM} and
 * {@linkcode MAX_INDEX}, so whatever a node took from the wire, plus
 * billions of elections or entries of its own, it can start from; and 2^32
 * below the largest exact integer, so `term + 1` and index arithmetic stay
 * exact for a node that does start. A store beyond it (written by an older
 * version that took any safe integer from the wire) is refused at start-up
 * with the way out.
 */
export const MAX_START_VALUE = Number.MAX_SAFE_INTEGER - 2 ** 32;

/** The wire keys, for the unknown-key check. */
const WIRE_KEYS: ReadonlySet<string> = new Set([
  "y",
  "f",
  "t",
  "m",
  "lt",
  "i",
  "e",
  "c",
  "s",
  "r",
  "h",
  "x",
  "tr",
]);

/** The result of {@linkcode decodeMessage}. */
export type DecodeResult =
  | { ok: true; message: Message }
  | {
    ok: false;
    /**
     * `undecodable` when the bytes are not one msgpack value, `invalid` when
     * the value is not a valid message.
     */
    reason: "undecodable" | "invalid";
    /** A sentence-case description of what is wrong. */
    error: string;
  };

/** A message in its wire shape (a plain object with short keys). */
export type WireMessage = Record<string, unknown>;

/**
 * Converts a message to its wire shape, leaving out undefined fields.
 *
 * @throws {TypeError} for a local-only message kind or an unknown kind.
 */
export function toWire(m: Message): WireMessage {
  const code = MESSAGE_TYPE_CODES[m.type];
  if (code === undefined || LOCAL_TYPES.has(m.type)) {
    throw new TypeError(`Message kind ${m.type} cannot be sent on the wire`);
  }
  const w: WireMessage = { y: code, f: m.from, t: m.to, m: m.term };
  if (m.logTerm !== undefined) w.lt = m.logTerm;
  if (m.index !== undefined) w.i = m.index;
  if (m.entries !== undefined) {
    w.e = m.entries.map((e) => [e.term, e.index, e.type, e.data]);
  }
  if (m.commit !== undefined) w.c = m.commit;
  if (m.snapshot !== undefined) {
    const s = m.snapshot;
    w.s = [
      s.metadata.index,
      s.metadata.term,
      s.metadata.conf.voters,
      s.metadata.conf.learners,
      s.data,
    ];
  }
  if (m.reject !== undefined) w.r = m.reject;
  if (m.rejectHint !== undefined) w.h = m.rejectHint;
  if (m.context !== undefined) w.x = m.context;
  if (m.transferee !== undefined) w.tr = m.transferee;
  return w;
}

/**
 * Encodes a message to msgpack bytes.
 *
 * The encoding is not validated here: pair with {@linkcode validateMessage}
 * when the message does not come from trusted code.
 *
 * @throws {TypeError} for a local-only message kind or an unknown kind.
 */
export function encodeMessage(m: Message): Uint8Array {
  return encode(toWire(m));
}

/**
 * Decodes and validates one message. Never throws: malformed bytes and
 * invalid messages come back as `{ ok: false, reason, error }`.
 */
export function decodeMessage(bytes: Uint8Array): DecodeResult {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (e) {
    return {
      ok: false,
      reason: "undecodable",
      error: `Undecodable message: ${errorText(e)}`,
    };
  }
  return fromWire(value);
}

/**
 * Validates a value in the wire shape and builds the message from it. Never
 * throws.
 */
export function fromWire(value: unknown): DecodeResult {
  try {
    const r = parseWire(value);
    if (typeof r === "string") {
      return { ok: false, reason: "invalid", error: `Invalid message: ${r}` };
    }
    return { ok: true, message: r };
  } catch (e) {
    // Defensive: a hostile value (for example a throwing getter) must not
    // escape as an exception.
    return {
      ok: false,
      reason: "invalid",
      error: `Invalid message: ${errorText(e)}`,
    };
  }
}

/**
 * Checks that `m` is a message that may go on the wire: the same rules the
 * decoder applies. Returns undefined when valid, else what is wrong.
 */
export function validateMessage(m: Message): string | undefined {
  let w: WireMessage;
  try {
    w = toWire(m);
  } catch (e) {
    return errorText(e);
  }
  const r = parseWire(w);
  return typeof r === "string" ? r : undefined;
}

/**
 * Checks a value in the wire shape (as produced by {@linkcode toWire}) with
 * the decoder's rules. Returns undefined when valid, else what is wrong.
 */
export function validateWire(w: unknown): string | undefined {
  try {
    const r = parseWire(w);
    return typeof r === "string" ? r : undefined;
  } catch (e) {
    return errorText(e);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Checks a term or index: undefined when valid, else what is wrong. */
function checkUint(v: unknown, what: string, max: number): string | undefined {
  if (!isUint(v)) return `${what} is not a non-negative integer`;
  if (v > max) return `${what} ${v} is over the limit of ${max}`;
  return undefined;
}

function isNodeId(v: unknown): v is NodeId {
  return typeof v === "string" && v.length > 0 &&
    v.length <= MAX_NODE_ID_LENGTH;
}

function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

function has(o: Record<string, unknown>, k: string): boolean {
  return Object.hasOwn(o, k) && o[k] !== undefined;
}

function parseEntry(v: unknown, i: number): Entry | string {
  if (!Array.isArray(v) || v.length !== 4) {
    return `entry ${i} is not a 4-element array`;
  }
  const [term, index, type, data] = v;
  const bad = checkUint(term, `entry ${i} term`, MAX_TERM) ??
    checkUint(index, `entry ${i} index`, MAX_INDEX);
  if (bad !== undefined) return bad;
  if (type !== 0 && type !== 1) return `entry ${i} type is not 0 or 1`;
  if (!isBytes(data)) return `entry ${i} data is not binary`;
  return { term, index, type, data };
}

function parseIds(v: unknown, what: string): NodeId[] | string {
  if (!Array.isArray(v)) return `snapshot ${what} is not an array`;
  const out: NodeId[] = [];
  for (const id of v) {
    if (!isNodeId(id)) return `snapshot ${what} holds an invalid node id`;
    out.push(id);
  }
  return out;
}

function parseSnapshot(v: unknown): Snapshot | string {
  if (!Array.isArray(v) || v.length !== 5) {
    return "snapshot is not a 5-element array";
  }
  const [index, term, voters, learners, data] = v;
  const bad = checkUint(index, "snapshot index", MAX_INDEX) ??
    checkUint(term, "snapshot term", MAX_TERM);
  if (bad !== undefined) return bad;
  const vs = parseIds(voters, "voters");
  if (typeof vs === "string") return vs;
  const ls = parseIds(learners, "learners");
  if (typeof ls === "string") return ls;
  if (!isBytes(data)) return "snapshot data is not binary";
  return {
    metadata: { index, term, conf: { voters: vs, learners: ls } },
    data,
  };
}

const UINT_FIELDS = [
  ["lt", "logTerm", MAX_TERM],
  ["i", "index", MAX_INDEX],
  ["c", "commit", MAX_INDEX],
  ["h", "rejectHint", MAX_INDEX],
] as const;

function parseWire(w: unknown): Message | string {
  if (!isPlainObject(w)) return "not a map";
  for (const k of Object.keys(w)) {
    if (!WIRE_KEYS.has(k)) return `unknown field ${JSON.stringify(k)}`;
  }
  const code = w.y;
  if (!has(w, "y")) return "missing field type";
  const type = typeof code === "number" ? TYPE_BY_CODE.get(code) : undefined;
  if (type === undefined) return `unknown message kind ${String(code)}`;
  if (LOCAL_TYPES.has(type)) {
    return `local message kind ${type} is not allowed on the wire`;
  }
  if (!has(w, "f")) return "missing field from";
  if (!isNodeId(w.f)) return "from is not a valid node id";
  if (!has(w, "t")) return "missing field to";
  if (!isNodeId(w.t)) return "to is not a valid node id";
  if (!has(w, "m")) return "missing field term";
  const badTerm = checkUint(w.m, "term", MAX_TERM);
  if (badTerm !== undefined) return badTerm;
  const m: Message = { type, from: w.f, to: w.t, term: w.m as number };
  for (const [k, name, max] of UINT_FIELDS) {
    if (!has(w, k)) continue;
    const v = w[k];
    const bad = checkUint(v, name, max);
    if (bad !== undefined) return bad;
    m[name] = v as number;
  }
  if (has(w, "e")) {
    if (!Array.isArray(w.e)) return "entries is not an array";
    const entries: Entry[] = new Array(w.e.length);
    for (let i = 0; i < w.e.length; i++) {
      const e = parseEntry(w.e[i], i);
      if (typeof e === "string") return e;
      entries[i] = e;
    }
    m.entries = entries;
  }
  if (has(w, "s")) {
    const s = parseSnapshot(w.s);
    if (typeof s === "string") return s;
    m.snapshot = s;
  } else if (type === "snap") {
    return "snap message without a snapshot";
  }
  if (has(w, "r")) {
    if (typeof w.r !== "boolean") return "reject is not a boolean";
    m.reject = w.r;
  }
  if (has(w, "x")) {
    if (typeof w.x !== "string") return "context is not a string";
    m.context = w.x;
  }
  if (has(w, "tr")) {
    if (!isNodeId(w.tr)) return "transferee is not a valid node id";
    m.transferee = w.tr;
  }
  return m;
}
