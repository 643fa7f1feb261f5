/**
 * The commands of the replicated state machine: their types, the bounds
 * they must respect, and their msgpack encoding with full validation.
 *
 * Everything in the Raft log goes through {@linkcode decodeCommand} (or
 * {@linkcode validateCommand} for an in-memory value) before it is applied,
 * so nothing in the log can crash a node: a malformed command becomes a
 * `bad_request` result.
 *
 * @module
 */

import type {
  Compare,
  CompareOp,
  ElectionFence,
  Fence,
  LockFence,
  RwlockFence,
  SemaphoreFence,
} from "../wire/types.ts";
import { decode, encode } from "../codec/msgpack.ts";
import { freshView } from "./bytes.ts";
import {
  type CommandAuth,
  type CommandBase,
  CommandValidationError as ValidationError,
  type RequestId,
} from "./command_base.ts";
import {
  type AuthCommand,
  isAuthCommand,
  validateAuthCommand,
} from "./auth_commands.ts";
import {
  isRecipeCommand,
  type RecipeCommand,
  validateRecipeCommand,
} from "./recipe_commands.ts";

// The API's JSON shapes, defined once with the client's types.
export type {
  Compare,
  CompareOp,
  ElectionFence,
  Fence,
  LockFence,
  RwlockFence,
  SemaphoreFence,
};
export type { CommandAuth, CommandBase, RequestId };
export * from "./auth_commands.ts";
export * from "./recipe_commands.ts";

/** The longest key (and lock name), in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The largest value, in UTF-8 bytes (1 MiB). */
export const MAX_VALUE_BYTES = 1024 * 1024;
/** The shortest lease TTL, in seconds. */
export const MIN_LEASE_TTL = 1;
/** The longest lease TTL, in seconds (one day). */
export const MAX_LEASE_TTL = 86_400;
/** The longest lock delay, in milliseconds. */
export const MAX_LOCK_DELAY_MS = 60_000;
/** The most compares, and the most operations per branch, of a transaction. */
export const MAX_TXN_OPS = 128;
/** The longest owner, waiter id and request client id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 256;
/** The most lease ids one `leaseKeepaliveMany` renews. */
export const MAX_KEEPALIVE_BATCH = 1024;
/** The longest alarm detail, in UTF-8 bytes. */
export const MAX_ALARM_DETAIL_BYTES = 256;

/** Writes one key. */
export interface PutCommand extends CommandBase {
  /** The command type. */
  type: "put";
  /** The key (1..1024 UTF-8 bytes). */
  key: string;
  /** The value (at most 1 MiB of UTF-8). */
  value: string;
  /** Attaches the key to this lease (which must exist); absent detaches it. */
  lease?: number;
  /**
   * Gives the key its own lease of this TTL (seconds) in the same command,
   * instead of `lease`: a new one, or the key's own lease from an earlier
   * put with `ttl`, kept alive with the new TTL.
   */
  ttl?: number;
  /** Applies only if the key's modRevision equals this; 0: must not exist. */
  ifModRevision?: number;
  /** Applies only if the key's version equals this; 0: must not exist. */
  ifVersion?: number;
  /** Applies only while the fence's token holds its grant. */
  fence?: Fence;
}

/** Deletes one key or every key under a prefix. */
export interface DeleteCommand extends CommandBase {
  /** The command type. */
  type: "delete";
  /** The key, or the prefix when `prefix` is true. */
  key: string;
  /** Deletes every key starting with `key`. */
  prefix?: boolean;
  /** Applies only if the key's modRevision equals this; 0: must not exist. */
  ifModRevision?: number;
  /** Applies only if the key's version equals this; 0: must not exist. */
  ifVersion?: number;
  /** Applies only while the fence's token holds its lock. */
  fence?: Fence;
}

/** What a transaction compare looks at. */
export type CompareTarget = Compare["target"];

/** A put inside a transaction. */
export interface TxnPut {
  /** The operation type. */
  type: "put";
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The lease to attach the key to (absent: none). */
  lease?: number;
}

/** A delete inside a transaction. */
export interface TxnDelete {
  /** The operation type. */
  type: "delete";
  /** The key, or the prefix when `prefix` is true. */
  key: string;
  /** Deletes every key starting with `key`. */
  prefix?: boolean;
}

/** A read inside a transaction (it sees the transaction's earlier writes). */
export interface TxnGet {
  /** The operation type. */
  type: "get";
  /** The key, or the prefix when `prefix` is true. */
  key: string;
  /** Reads every key starting with `key`. */
  prefix?: boolean;
  /** At most this many keys (absent: all). */
  limit?: number;
}

/** One operation of a transaction branch. */
export type TxnOp = TxnPut | TxnDelete | TxnGet;

/** Compares, then runs `success` if all hold, else `failure`, atomically. */
export interface TxnCommand extends CommandBase {
  /** The command type. */
  type: "txn";
  /** The compares (all must hold). */
  compare: Compare[];
  /** Run when every compare holds. */
  success: TxnOp[];
  /** Run otherwise. */
  failure: TxnOp[];
  /** The whole transaction applies only while the fence holds. */
  fence?: Fence;
}

/** Grants a lease. */
export interface LeaseGrantCommand extends CommandBase {
  /** The command type. */
  type: "leaseGrant";
  /** Time to live in seconds (1..86400). */
  ttl: number;
}

/** Renews a lease (restarts its TTL on the leader's clock). */
export interface LeaseKeepaliveCommand extends CommandBase {
  /** The command type. */
  type: "leaseKeepalive";
  /** The lease id. */
  id: number;
}

/**
 * Renews several leases at once: what a node sends for the leases of the
 * lock waiters whose requests are open on it (one command per interval,
 * not one per waiter). Ids of leases that are gone are skipped.
 */
export interface LeaseKeepaliveManyCommand extends CommandBase {
  /** The command type. */
  type: "leaseKeepaliveMany";
  /** The lease ids (1..{@linkcode MAX_KEEPALIVE_BATCH}). */
  ids: number[];
}

/** Revokes a lease: deletes its keys, releases its locks, drops its waiters. */
export interface LeaseRevokeCommand extends CommandBase {
  /** The command type. */
  type: "leaseRevoke";
  /** The lease id. */
  id: number;
}

/**
 * Expires a lease, proposed by the leader's {@linkcode LeaseClock}. Ignored
 * when the lease's keepaliveIndex has moved on (a later keepalive applied).
 */
export interface LeaseExpireCommand extends CommandBase {
  /** The command type. */
  type: "leaseExpire";
  /** The lease id. */
  id: number;
  /** The lease's keepaliveIndex the leader saw when it decided expiry. */
  keepaliveIndex: number;
}

/** Acquires a lock, or queues for it. */
export interface LockAcquireCommand extends CommandBase {
  /** The command type. */
  type: "lockAcquire";
  /** The lock's name (1..1024 UTF-8 bytes). */
  name: string;
  /** Who holds it (informational; default ""). */
  owner?: string;
  /** Creates a lease with this TTL (seconds) in the same command. */
  ttl?: number;
  /** Holds the lock with this existing lease. Exactly one of ttl and lease. */
  lease?: number;
  /** Fails with `lock_held` instead of queueing. */
  tryOnly?: boolean;
  /** Names the waiter when it queues; required unless `tryOnly`. */
  waiterId?: string;
  /** Milliseconds the lock stays ungranted after this holder's lease expires. */
  lockDelay?: number;
  /**
   * Refuses to queue (`too_many_waiters`) when this many waiters are
   * queued already: the proposing node's per-lock limit, carried in the
   * command so every node decides alike.
   */
  maxWaiters?: number;
}

/** Releases a lock held with `token`. */
export interface LockReleaseCommand extends CommandBase {
  /** The command type. */
  type: "lockRelease";
  /** The lock's name. */
  name: string;
  /** The holder's fencing token. */
  token: number;
}

/**
 * Removes a queued waiter; if that waiter was already granted the lock
 * (its client gave up before learning so), releases the lock.
 */
export interface LockCancelCommand extends CommandBase {
  /** The command type. */
  type: "lockCancel";
  /** The lock's name. */
  name: string;
  /** The waiter's id. */
  waiterId: string;
}

/** Ends a lock's lock-delay, proposed by the leader when it has elapsed. */
export interface LockDelayEndCommand extends CommandBase {
  /** The command type. */
  type: "lockDelayEnd";
  /** The lock's name. */
  name: string;
  /** Ends only the delay that started at this revision (absent: any). */
  revision?: number;
}

/**
 * Cluster time, proposed by the leader while the duplicate-request table
 * has results to stamp or to forget: the time of the previous `time`
 * command plus what the leader's monotonic clock measured since it applied
 * it. Never ahead of real time, and the same on every node: the
 * duplicate-suppression window is measured in it.
 */
export interface TimeCommand extends CommandBase {
  /** The command type. */
  type: "time";
  /** Cluster time in ms (apply never lets it go back). */
  now: number;
}

/**
 * Compacts the watch history: drops its events up to `revision` (at most
 * the current revision), so watchers resuming from before it get
 * `compacted`. Proposed by the leader while the quota alarm is on and only
 * the history keeps the state over 95 % of the quota.
 */
export interface CompactCommand extends CommandBase {
  /** The command type. */
  type: "compact";
  /** The last revision whose events go. */
  revision: number;
}

/** What an alarm is about. */
export type AlarmKind = "quota" | "nospace";

/**
 * Raises or clears an alarm: `quota` (proposed by the leader when the
 * state's size passes its `--quota-bytes`, cleared under 95 % of it) or
 * `nospace` for one node (its disk is full). While any alarm is on, writes
 * that add data are refused with `quota_exceeded`.
 */
export interface AlarmCommand extends CommandBase {
  /** The command type. */
  type: "alarm";
  /** Raise or clear. */
  action: "raise" | "clear";
  /** Which alarm. */
  kind: AlarmKind;
  /** The node whose disk is full (`nospace` only). */
  node?: string;
  /** What the node that raised it saw (shown in refusals). */
  detail?: string;
}

/** Every command of the state machine. */
export type Command =
  | PutCommand
  | DeleteCommand
  | TxnCommand
  | LeaseGrantCommand
  | LeaseKeepaliveCommand
  | LeaseKeepaliveManyCommand
  | LeaseRevokeCommand
  | LeaseExpireCommand
  | LockAcquireCommand
  | LockReleaseCommand
  | LockCancelCommand
  | LockDelayEndCommand
  | RecipeCommand
  | TimeCommand
  | AlarmCommand
  | CompactCommand
  | AuthCommand;

/** The `type` of a {@linkcode Command}. */
export type CommandType = Command["type"];

/** Why a command was refused. */
export interface InvalidCommand {
  /** Always `bad_request`, with what is wrong. */
  error: { code: "bad_request"; message: string };
}

/** Encodes a command for the log (no validation; apply validates). */
export function encodeCommand(cmd: Command): Uint8Array {
  return encode(cmd);
}

/**
 * Decodes and validates a command from the log. Never throws: anything
 * that is not a well-formed command gives an {@linkcode InvalidCommand}.
 */
export function decodeCommand(bytes: Uint8Array): Command | InvalidCommand {
  let value: unknown;
  try {
    value = decode(freshView(bytes));
  } catch (e) {
    return invalid(
      `Command is not valid msgpack: ${
        e instanceof Error ? e.message : String(e)
      }`,
    );
  }
  return validateCommand(value);
}

/**
 * Validates an in-memory command and returns a normalized copy holding only
 * the known fields. Never throws.
 */
export function validateCommand(value: unknown): Command | InvalidCommand {
  try {
    return validate(value);
  } catch (e) {
    if (e instanceof ValidationError) return invalid(e.message);
    return invalid(
      `Command is invalid: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Whether a {@linkcode decodeCommand} answer is an error. */
export function isInvalidCommand(
  value: Command | InvalidCommand,
): value is InvalidCommand {
  return "error" in value;
}

/** The length of `s` in UTF-8 bytes (a lone surrogate counts 3, as U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (
      c >= 0xd800 && c < 0xdc00 && i + 1 < s.length &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function invalid(message: string): InvalidCommand {
  return { error: { code: "bad_request", message } };
}

function fail(message: string): never {
  throw new ValidationError(message);
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    !(v instanceof Uint8Array);
}

function field(o: Obj, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;
}

function str(o: Obj, name: string, where: string): string {
  const v = field(o, name);
  if (typeof v !== "string") fail(`Field '${where}${name}' must be a string`);
  return v;
}

function optStr(o: Obj, name: string, where: string): string | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  return str(o, name, where);
}

function int(
  o: Obj,
  name: string,
  where: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const v = field(o, name);
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    fail(`Field '${where}${name}' must be an integer`);
  }
  if (v < min || v > max) {
    fail(`Field '${where}${name}' must be between ${min} and ${max}`);
  }
  return v === 0 ? 0 : v; // no -0
}

function optInt(
  o: Obj,
  name: string,
  where: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  return int(o, name, where, min, max);
}

function optBool(o: Obj, name: string, where: string): boolean | undefined {
  const v = field(o, name);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") fail(`Field '${where}${name}' must be a boolean`);
  return v;
}

function boundedStr(
  s: string,
  what: string,
  maxBytes: number,
  allowEmpty: boolean,
): string {
  if (!allowEmpty && s.length === 0) fail(`${what} must not be empty`);
  if (!s.isWellFormed()) fail(`${what} is not well-formed Unicode`);
  if (s.length > maxBytes || utf8Length(s) > maxBytes) {
    fail(`${what} is longer than ${maxBytes} bytes`);
  }
  return s;
}

function keyField(o: Obj, where: string, allowEmpty: boolean): string {
  return boundedStr(
    str(o, "key", where),
    `Field '${where}key'`,
    MAX_KEY_BYTES,
    allowEmpty,
  );
}

function valueField(o: Obj, where: string): string {
  const v = str(o, "value", where);
  // A UTF-8 encoding is never shorter than the UTF-16 length.
  if (v.length > MAX_VALUE_BYTES || utf8Length(v) > MAX_VALUE_BYTES) {
    fail(`Field '${where}value' is larger than ${MAX_VALUE_BYTES} bytes`);
  }
  return v;
}

function nameField(o: Obj, name: string): string {
  return boundedStr(
    str(o, name, ""),
    `Field '${name}'`,
    MAX_KEY_BYTES,
    false,
  );
}

function idStr(o: Obj, name: string, where: string): string {
  return boundedStr(
    str(o, name, where),
    `Field '${where}${name}'`,
    MAX_ID_BYTES,
    false,
  );
}

function leaseId(o: Obj, name: string, where = ""): number {
  return int(o, name, where, 1);
}

// The name fields of a fence, one per kind of grant.
const FENCE_KINDS = ["lock", "election", "semaphore", "rwlock"] as const;

function fenceField(o: Obj): Fence | undefined {
  const v = field(o, "fence");
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail("Field 'fence' must be an object");
  const kinds = FENCE_KINDS.filter((k) => {
    const x = field(v, k);
    return x !== undefined && x !== null;
  });
  if (kinds.length !== 1) {
    fail(
      "Field 'fence' must name exactly one of lock, election, semaphore, rwlock",
    );
  }
  const kind = kinds[0];
  const name = boundedStr(
    str(v, kind, "fence."),
    `Field 'fence.${kind}'`,
    MAX_KEY_BYTES,
    false,
  );
  const token = int(v, "token", "fence.", 0);
  switch (kind) {
    case "lock":
      return { lock: name, token } satisfies LockFence;
    case "election":
      return { election: name, token } satisfies ElectionFence;
    case "semaphore":
      return { semaphore: name, token } satisfies SemaphoreFence;
    case "rwlock":
      return { rwlock: name, token } satisfies RwlockFence;
  }
}

function authField(o: Obj): CommandAuth | undefined {
  const v = field(o, "auth");
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail("Field 'auth' must be an object");
  const user = field(v, "user");
  return compact<CommandAuth>({
    user: user === undefined || user === null
      ? undefined
      : idStr(v, "user", "auth."),
    epoch: optInt(v, "epoch", "auth.", 0),
  });
}

function requestIdField(o: Obj): RequestId | undefined {
  const v = field(o, "requestId");
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) fail("Field 'requestId' must be an object");
  return {
    client: idStr(v, "client", "requestId."),
    seq: int(v, "seq", "requestId.", 0),
  };
}

// Builds an object with the fields in a fixed order and without undefined
// ones, so equal commands encode to equal bytes.
function compact<T>(o: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (o[k] !== undefined) out[k] = o[k];
  return out as T;
}

const COMPARE_TARGETS: ReadonlySet<string> = new Set([
  "value",
  "version",
  "modRevision",
  "createRevision",
  "lease",
]);
const COMPARE_OPS: ReadonlySet<string> = new Set(["==", "!=", "<", ">"]);

function validateCompare(v: unknown, i: number): Compare {
  const where = `compare[${i}].`;
  if (!isObj(v)) fail(`Field 'compare[${i}]' must be an object`);
  const key = keyField(v, where, false);
  const target = str(v, "target", where);
  if (!COMPARE_TARGETS.has(target)) {
    fail(
      `Field '${where}target' must be one of value, version, modRevision, createRevision, lease`,
    );
  }
  const op = str(v, "op", where);
  if (!COMPARE_OPS.has(op)) {
    fail(`Field '${where}op' must be one of ==, !=, <, >`);
  }
  if (target === "value") {
    return { key, target, op: op as CompareOp, value: valueField(v, where) };
  }
  return {
    key,
    target: target as "version",
    op: op as CompareOp,
    value: int(v, "value", where, 0),
  };
}

function validateTxnOp(v: unknown, where: string): TxnOp {
  if (!isObj(v)) fail(`Field '${where}' must be an object`);
  const w = `${where}.`;
  const type = str(v, "type", w);
  switch (type) {
    case "put":
      return compact<TxnPut>({
        type,
        key: keyField(v, w, false),
        value: valueField(v, w),
        lease: optInt(v, "lease", w, 1),
      });
    case "delete": {
      const prefix = optBool(v, "prefix", w);
      return compact<TxnDelete>({
        type,
        key: keyField(v, w, prefix === true),
        prefix,
      });
    }
    case "get": {
      const prefix = optBool(v, "prefix", w);
      return compact<TxnGet>({
        type,
        key: keyField(v, w, prefix === true),
        prefix,
        limit: optInt(v, "limit", w, 1),
      });
    }
    default:
      return fail(`Field '${w}type' must be one of put, delete, get`);
  }
}

function validateList<T>(
  o: Obj,
  name: string,
  item: (v: unknown, where: string, i: number) => T,
): T[] {
  const v = field(o, name);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`Field '${name}' must be an array`);
  if (v.length > MAX_TXN_OPS) {
    fail(`Field '${name}' has more than ${MAX_TXN_OPS} entries`);
  }
  return v.map((x, i) => item(x, `${name}[${i}]`, i));
}

function validate(value: unknown): Command {
  if (!isObj(value)) fail("Command must be an object");
  const type = field(value, "type");
  if (typeof type !== "string") fail("Field 'type' must be a string");
  const o = value;
  const requestId = requestIdField(o);
  const auth = authField(o);
  if (isAuthCommand({ type })) {
    return validateAuthCommand(o, { requestId, auth });
  }
  if (isRecipeCommand({ type })) {
    return validateRecipeCommand(o, { requestId, auth });
  }
  switch (type) {
    case "put": {
      const lease = optInt(o, "lease", "", 1);
      const ttl = optInt(o, "ttl", "", MIN_LEASE_TTL, MAX_LEASE_TTL);
      if (lease !== undefined && ttl !== undefined) {
        fail("Give 'ttl' or 'lease', not both");
      }
      return compact<PutCommand>({
        type,
        key: keyField(o, "", false),
        value: valueField(o, ""),
        lease,
        ttl,
        ifModRevision: optInt(o, "ifModRevision", "", 0),
        ifVersion: optInt(o, "ifVersion", "", 0),
        fence: fenceField(o),
        requestId,
        auth,
      });
    }
    case "delete": {
      const prefix = optBool(o, "prefix", "");
      const ifModRevision = optInt(o, "ifModRevision", "", 0);
      const ifVersion = optInt(o, "ifVersion", "", 0);
      if (
        prefix === true &&
        (ifModRevision !== undefined || ifVersion !== undefined)
      ) {
        fail("A prefix delete cannot be conditional");
      }
      return compact<DeleteCommand>({
        type,
        key: keyField(o, "", prefix === true),
        prefix,
        ifModRevision,
        ifVersion,
        fence: fenceField(o),
        requestId,
        auth,
      });
    }
    case "txn":
      return compact<TxnCommand>({
        type,
        compare: validateList(
          o,
          "compare",
          (v, _w, i) => validateCompare(v, i),
        ),
        success: validateList(o, "success", (v, w) => validateTxnOp(v, w)),
        failure: validateList(o, "failure", (v, w) => validateTxnOp(v, w)),
        fence: fenceField(o),
        requestId,
        auth,
      });
    case "leaseGrant":
      return compact<LeaseGrantCommand>({
        type,
        ttl: int(o, "ttl", "", MIN_LEASE_TTL, MAX_LEASE_TTL),
        requestId,
        auth,
      });
    case "leaseKeepalive":
    case "leaseRevoke":
      return compact<LeaseKeepaliveCommand | LeaseRevokeCommand>({
        type,
        id: leaseId(o, "id"),
        requestId,
        auth,
      });
    case "leaseKeepaliveMany": {
      const v = field(o, "ids");
      if (!Array.isArray(v) || v.length === 0) {
        fail("Field 'ids' must be a non-empty array");
      }
      if (v.length > MAX_KEEPALIVE_BATCH) {
        fail(`Field 'ids' has more than ${MAX_KEEPALIVE_BATCH} entries`);
      }
      return compact<LeaseKeepaliveManyCommand>({
        type,
        ids: v.map((x, i) => {
          if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 1) {
            fail(`Field 'ids[${i}]' must be a positive integer`);
          }
          return x;
        }),
        requestId,
        auth,
      });
    }
    case "time":
      return compact<TimeCommand>({
        type,
        now: int(o, "now", "", 0),
        requestId,
        auth,
      });
    case "compact":
      return compact<CompactCommand>({
        type,
        revision: int(o, "revision", "", 0),
        requestId,
        auth,
      });
    case "alarm": {
      const action = str(o, "action", "");
      if (action !== "raise" && action !== "clear") {
        fail("Field 'action' must be raise or clear");
      }
      const kind = str(o, "kind", "");
      if (kind !== "quota" && kind !== "nospace") {
        fail("Field 'kind' must be quota or nospace");
      }
      const rawNode = field(o, "node");
      const node = rawNode === undefined || rawNode === null
        ? undefined
        : idStr(o, "node", "");
      if ((kind === "nospace") !== (node !== undefined)) {
        fail("Field 'node' is required for nospace and only for it");
      }
      const detail = optStr(o, "detail", "");
      return compact<AlarmCommand>({
        type,
        action,
        kind,
        node,
        detail: detail === undefined ? undefined : boundedStr(
          detail,
          "Field 'detail'",
          MAX_ALARM_DETAIL_BYTES,
          true,
        ),
        requestId,
        auth,
      });
    }
    case "leaseExpire":
      return compact<LeaseExpireCommand>({
        type,
        id: leaseId(o, "id"),
        keepaliveIndex: int(o, "keepaliveIndex", "", 0),
        requestId,
        auth,
      });
    case "lockAcquire": {
      const ttl = optInt(o, "ttl", "", MIN_LEASE_TTL, MAX_LEASE_TTL);
      const lease = optInt(o, "lease", "", 1);
      if ((ttl === undefined) === (lease === undefined)) {
        fail("Exactly one of 'ttl' and 'lease' must be given");
      }
      const tryOnly = optBool(o, "tryOnly", "");
      const rawWaiter = field(o, "waiterId");
      const waiterId = rawWaiter === undefined || rawWaiter === null
        ? undefined
        : idStr(o, "waiterId", "");
      if (tryOnly !== true && waiterId === undefined) {
        fail("Field 'waiterId' is required unless 'tryOnly' is true");
      }
      const owner = optStr(o, "owner", "");
      return compact<LockAcquireCommand>({
        type,
        name: nameField(o, "name"),
        owner: owner === undefined
          ? undefined
          : boundedStr(owner, "Field 'owner'", MAX_ID_BYTES, true),
        ttl,
        lease,
        tryOnly,
        waiterId,
        lockDelay: optInt(o, "lockDelay", "", 0, MAX_LOCK_DELAY_MS),
        maxWaiters: optInt(o, "maxWaiters", "", 1),
        requestId,
        auth,
      });
    }
    case "lockRelease":
      return compact<LockReleaseCommand>({
        type,
        name: nameField(o, "name"),
        token: int(o, "token", "", 0),
        requestId,
        auth,
      });
    case "lockCancel":
      return compact<LockCancelCommand>({
        type,
        name: nameField(o, "name"),
        waiterId: idStr(o, "waiterId", ""),
        requestId,
        auth,
      });
    case "lockDelayEnd":
      return compact<LockDelayEndCommand>({
        type,
        name: nameField(o, "name"),
        revision: optInt(o, "revision", "", 0),
        requestId,
        auth,
      });
    default:
      return fail(`Unknown command type '${type.slice(0, 64)}'`);
  }
}
