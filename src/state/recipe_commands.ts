/**
 * The commands of the coordination recipes built on leases and fencing
 * tokens — leader elections, semaphores and read-write locks — their
 * types, bounds and validation. Like a lock, each grant's fencing token is
 * the global revision of the grant.
 *
 * Each recipe has an acquire that grants at once or queues a waiter (named
 * by the caller), a release by token, and a cancel by waiter id that the
 * serving node proposes when a waiting request ends without a grant.
 *
 * @module
 */

import type { RwlockMode } from "../wire/types.ts";
import { type CommandBase, CommandValidationError } from "./command_base.ts";

export type { RwlockMode };

// The bounds of keys, values, ids and TTLs, as in `commands.ts` (which
// imports this file, so they are repeated rather than imported).

/** The longest recipe name, in UTF-8 bytes (as a key or lock name). */
const MAX_NAME_BYTES = 1024;
/** The largest election value, in UTF-8 bytes (as a key's value). */
const MAX_VALUE_BYTES = 1024 * 1024;
/** The longest owner and waiter id, in UTF-8 bytes. */
const MAX_ID_BYTES = 256;
/** The shortest lease TTL, in seconds. */
const MIN_TTL = 1;
/** The longest lease TTL, in seconds. */
const MAX_TTL = 86_400;
/** The most permits a semaphore may have. */
export const MAX_SEMAPHORE_LIMIT = 1_000_000;

/** Fields of an acquire that holds with a lease and may queue. */
export interface QueueingAcquire extends CommandBase {
  /** The recipe's name (1..1024 UTF-8 bytes). */
  name: string;
  /** Creates a lease with this TTL (seconds) in the same command. */
  ttl?: number;
  /** Holds with this existing lease. Exactly one of ttl and lease. */
  lease?: number;
  /** Fails with `lock_held` instead of queueing. */
  tryOnly?: boolean;
  /** Names the waiter when it queues; required unless `tryOnly`. */
  waiterId?: string;
}

/** Campaigns in an election: leads at once, or queues as a candidate. */
export interface ElectionCampaignCommand extends QueueingAcquire {
  /** The command type. */
  type: "electionCampaign";
  /** The candidate's value (at most 1 MiB of UTF-8). */
  value: string;
}

/** Changes the leader's value, keeping its leadership and token. */
export interface ElectionProclaimCommand extends CommandBase {
  /** The command type. */
  type: "electionProclaim";
  /** The election's name. */
  name: string;
  /** The leader's fencing token. */
  token: number;
  /** The new value. */
  value: string;
}

/** Gives up leadership held with `token`; the next candidate leads. */
export interface ElectionResignCommand extends CommandBase {
  /** The command type. */
  type: "electionResign";
  /** The election's name. */
  name: string;
  /** The leader's fencing token. */
  token: number;
}

/** Acquires permits of a semaphore, or queues for them. */
export interface SemaphoreAcquireCommand extends QueueingAcquire {
  /** The command type. */
  type: "semaphoreAcquire";
  /** The semaphore's permits; must equal the limit it already has. */
  limit: number;
  /** How many permits (1..limit, default 1). */
  permits?: number;
  /** Who holds them (informational; default ""). */
  owner?: string;
}

/** Acquires a read-write lock for reading or writing, or queues for it. */
export interface RwlockAcquireCommand extends QueueingAcquire {
  /** The command type. */
  type: "rwlockAcquire";
  /** Shared (read) or exclusive (write). */
  mode: RwlockMode;
  /** Who holds it (informational; default ""). */
  owner?: string;
}

/** Releases a semaphore's or read-write lock's grant held with `token`. */
export interface RecipeReleaseCommand extends CommandBase {
  /** The command type. */
  type: "semaphoreRelease" | "rwlockRelease";
  /** The recipe's name. */
  name: string;
  /** The holder's fencing token. */
  token: number;
}

/**
 * Removes a queued waiter of an election, semaphore or read-write lock; if
 * it was already granted (its client gave up before learning so), releases
 * that grant.
 */
export interface RecipeCancelCommand extends CommandBase {
  /** The command type. */
  type: "electionCancel" | "semaphoreCancel" | "rwlockCancel";
  /** The recipe's name. */
  name: string;
  /** The waiter's id. */
  waiterId: string;
}

/** Every recipe command. */
export type RecipeCommand =
  | ElectionCampaignCommand
  | ElectionProclaimCommand
  | ElectionResignCommand
  | SemaphoreAcquireCommand
  | RwlockAcquireCommand
  | RecipeReleaseCommand
  | RecipeCancelCommand;

/** The recipe command types. */
export const RECIPE_COMMAND_TYPES: ReadonlySet<RecipeCommand["type"]> = new Set(
  [
    "electionCampaign",
    "electionProclaim",
    "electionResign",
    "electionCancel",
    "semaphoreAcquire",
    "semaphoreRelease",
    "semaphoreCancel",
    "rwlockAcquire",
    "rwlockRelease",
    "rwlockCancel",
  ],
);

/** Whether `cmd` is a recipe command (by its type). */
export function isRecipeCommand(cmd: { type: string }): cmd is RecipeCommand {
  return RECIPE_COMMAND_TYPES.has(cmd.type as RecipeCommand["type"]);
}

/**
 * Whether a recipe command may add data to the state (a holder or a
 * waiter, and a lease when it gives a ttl): the acquires. Releases,
 * cancels, resigns and proclaims (which replaces a value) do not grow it.
 */
export function recipeAddsData(cmd: RecipeCommand): boolean {
  return cmd.type === "electionCampaign" || cmd.type === "semaphoreAcquire" ||
    cmd.type === "rwlockAcquire";
}

type Obj = Record<string, unknown>;

function fail(message: string): never {
  throw new CommandValidationError(message);
}

function field(o: Obj, name: string): unknown {
  const v = Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;
  return v === null ? undefined : v;
}

function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).byteLength;
}

function text(o: Obj, name: string, max: number, allowEmpty: boolean): string {
  const v = field(o, name);
  if (typeof v !== "string") fail(`Field '${name}' must be a string`);
  if (!allowEmpty && v.length === 0) fail(`Field '${name}' must not be empty`);
  if (!v.isWellFormed()) fail(`Field '${name}' is not well-formed Unicode`);
  if (v.length > max || utf8Bytes(v) > max) {
    fail(`Field '${name}' is longer than ${max} bytes`);
  }
  return v;
}

function optText(o: Obj, name: string, max: number): string | undefined {
  return field(o, name) === undefined ? undefined : text(o, name, max, true);
}

function int(o: Obj, name: string, min: number, max: number): number {
  const v = field(o, name);
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    fail(`Field '${name}' must be an integer`);
  }
  if (v < min || v > max) {
    fail(`Field '${name}' must be between ${min} and ${max}`);
  }
  return v === 0 ? 0 : v;
}

function optInt(
  o: Obj,
  name: string,
  min: number,
  max: number,
): number | undefined {
  return field(o, name) === undefined ? undefined : int(o, name, min, max);
}

function optBool(o: Obj, name: string): boolean | undefined {
  const v = field(o, name);
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(`Field '${name}' must be a boolean`);
  return v;
}

// An object with the fields in a fixed order and without undefined ones,
// so equal commands encode to equal bytes.
function compact<T>(o: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o)) if (o[k] !== undefined) out[k] = o[k];
  return out as T;
}

function queueing(o: Obj): Omit<QueueingAcquire, keyof CommandBase> {
  const ttl = optInt(o, "ttl", MIN_TTL, MAX_TTL);
  const lease = optInt(o, "lease", 1, Number.MAX_SAFE_INTEGER);
  if ((ttl === undefined) === (lease === undefined)) {
    fail("Exactly one of 'ttl' and 'lease' must be given");
  }
  const tryOnly = optBool(o, "tryOnly");
  const waiterId = field(o, "waiterId") === undefined
    ? undefined
    : text(o, "waiterId", MAX_ID_BYTES, false);
  if (tryOnly !== true && waiterId === undefined) {
    fail("Field 'waiterId' is required unless 'tryOnly' is true");
  }
  return {
    name: text(o, "name", MAX_NAME_BYTES, false),
    ttl,
    lease,
    tryOnly,
    waiterId,
  };
}

/**
 * Validates a recipe command (its `type` already known to be one) and
 * returns a normalized copy with `base` (request id and user) added.
 * Throws a {@linkcode CommandValidationError} naming what is wrong.
 */
export function validateRecipeCommand(
  o: Obj,
  base: CommandBase,
): RecipeCommand {
  const type = o.type as RecipeCommand["type"];
  const tail = { requestId: base.requestId, auth: base.auth };
  switch (type) {
    case "electionCampaign": {
      const q = queueing(o);
      return compact<ElectionCampaignCommand>({
        type,
        name: q.name,
        value: text(o, "value", MAX_VALUE_BYTES, true),
        ttl: q.ttl,
        lease: q.lease,
        tryOnly: q.tryOnly,
        waiterId: q.waiterId,
        ...tail,
      });
    }
    case "electionProclaim":
      return compact<ElectionProclaimCommand>({
        type,
        name: text(o, "name", MAX_NAME_BYTES, false),
        token: int(o, "token", 0, Number.MAX_SAFE_INTEGER),
        value: text(o, "value", MAX_VALUE_BYTES, true),
        ...tail,
      });
    case "electionResign":
    case "semaphoreRelease":
    case "rwlockRelease":
      return compact<ElectionResignCommand | RecipeReleaseCommand>({
        type,
        name: text(o, "name", MAX_NAME_BYTES, false),
        token: int(o, "token", 0, Number.MAX_SAFE_INTEGER),
        ...tail,
      });
    case "electionCancel":
    case "semaphoreCancel":
    case "rwlockCancel":
      return compact<RecipeCancelCommand>({
        type,
        name: text(o, "name", MAX_NAME_BYTES, false),
        waiterId: text(o, "waiterId", MAX_ID_BYTES, false),
        ...tail,
      });
    case "semaphoreAcquire": {
      const q = queueing(o);
      const limit = int(o, "limit", 1, MAX_SEMAPHORE_LIMIT);
      const permits = optInt(o, "permits", 1, MAX_SEMAPHORE_LIMIT);
      if (permits !== undefined && permits > limit) {
        fail(`Field 'permits' must be at most the limit (${limit})`);
      }
      return compact<SemaphoreAcquireCommand>({
        type,
        name: q.name,
        limit,
        permits,
        owner: optText(o, "owner", MAX_ID_BYTES),
        ttl: q.ttl,
        lease: q.lease,
        tryOnly: q.tryOnly,
        waiterId: q.waiterId,
        ...tail,
      });
    }
    case "rwlockAcquire": {
      const q = queueing(o);
      const mode = field(o, "mode");
      if (mode !== "read" && mode !== "write") {
        fail("Field 'mode' must be read or write");
      }
      return compact<RwlockAcquireCommand>({
        type,
        name: q.name,
        mode,
        owner: optText(o, "owner", MAX_ID_BYTES),
        ttl: q.ttl,
        lease: q.lease,
        tryOnly: q.tryOnly,
        waiterId: q.waiterId,
        ...tail,
      });
    }
    default:
      return fail(`Unknown command type '${String(type).slice(0, 64)}'`);
  }
}
