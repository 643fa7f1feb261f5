/**
 * The auth commands of the state machine — users, roles, turning auth on
 * and off, the token signing key — their types, bounds and validation.
 *
 * A user's password reaches the log only as a salted PBKDF2 hash, made by
 * the node that received the request; the signing key is random bytes made
 * by a node and replicated, so every node verifies every token.
 *
 * @module
 */

import {
  type CommandBase,
  CommandValidationError,
  type RequestId,
} from "./command_base.ts";

/** User and role names: 1–64 letters, digits, `_`, `.`, `@` or `-`. */
export const AUTH_NAME_PATTERN: RegExp = /^[A-Za-z0-9_.@-]{1,64}$/;
/** The built-in role with every permission, and the user auth needs to be on. */
export const ROOT = "root";
/** The most permissions of one role. */
export const MAX_ROLE_PERMISSIONS = 64;
/** The most roles of one user. */
export const MAX_USER_ROLES = 32;
/** The fewest PBKDF2 iterations a stored hash may have. */
export const MIN_PBKDF2_ITERATIONS = 1000;
/** The most PBKDF2 iterations a stored hash may have. */
export const MAX_PBKDF2_ITERATIONS = 10_000_000;
/** The longest permission prefix, in UTF-8 bytes (as a key). */
const MAX_PREFIX_BYTES = 1024;

/**
 * Read and/or write access to every key and lock whose name starts with
 * `prefix` ("" covers everything).
 */
export interface Permission {
  /** The name prefix covered. */
  prefix: string;
  /** Reads: get, list, watch, lock status. */
  read: boolean;
  /** Writes: put, delete, txn writes, lock acquire and release. */
  write: boolean;
}

/** A salted slow hash of a password. */
export interface PasswordHash {
  /** The algorithm: PBKDF2 with HMAC-SHA-256. */
  alg: "pbkdf2-sha256";
  /** PBKDF2 iterations. */
  iterations: number;
  /** The random salt (16–64 bytes). */
  salt: Uint8Array;
  /** The derived bits (32 bytes). */
  hash: Uint8Array;
}

/** A token signing key (HMAC-SHA-256) with its id. */
export interface SigningKey {
  /** The key id, carried in each token's header. */
  kid: string;
  /** The key (32–64 random bytes). */
  key: Uint8Array;
}

/** Creates a user or changes one (its password, its roles, or both). */
export interface AuthUserPutCommand extends CommandBase {
  /** The command type. */
  type: "authUserPut";
  /** The user name. */
  name: string;
  /** The new password hash; required for a new user, absent: unchanged. */
  hash?: PasswordHash;
  /** The user's roles (replacing its roles); absent: unchanged (new: none). */
  roles?: string[];
}

/** Deletes a user. */
export interface AuthUserDeleteCommand extends CommandBase {
  /** The command type. */
  type: "authUserDelete";
  /** The user name. */
  name: string;
}

/** Grants a user a role, or revokes it. */
export interface AuthUserRoleCommand extends CommandBase {
  /** The command type. */
  type: "authUserGrant" | "authUserRevoke";
  /** The user name. */
  name: string;
  /** The role. */
  role: string;
}

/** Creates or replaces a role. */
export interface AuthRolePutCommand extends CommandBase {
  /** The command type. */
  type: "authRolePut";
  /** The role name (not `root`, which is built in). */
  name: string;
  /** What the role may do. */
  permissions: Permission[];
}

/** Deletes a role (and takes it from every user). */
export interface AuthRoleDeleteCommand extends CommandBase {
  /** The command type. */
  type: "authRoleDelete";
  /** The role name. */
  name: string;
}

/** Turns auth on (needs user `root` with role `root`, and a signing key) or off. */
export interface AuthToggleCommand extends CommandBase {
  /** The command type. */
  type: "authEnable" | "authDisable";
}

/**
 * Installs a new token signing key: the current key becomes the previous
 * one (still accepted), the one before is dropped.
 */
export interface AuthSigningKeyCommand extends CommandBase, SigningKey {
  /** The command type. */
  type: "authSigningKey";
}

/** Every auth command. */
export type AuthCommand =
  | AuthUserPutCommand
  | AuthUserDeleteCommand
  | AuthUserRoleCommand
  | AuthRolePutCommand
  | AuthRoleDeleteCommand
  | AuthToggleCommand
  | AuthSigningKeyCommand;

/** The `type` of every auth command. */
export const AUTH_COMMAND_TYPES: ReadonlySet<string> = new Set([
  "authUserPut",
  "authUserDelete",
  "authUserGrant",
  "authUserRevoke",
  "authRolePut",
  "authRoleDelete",
  "authEnable",
  "authDisable",
  "authSigningKey",
]);

/** Whether a command is an auth command. */
export function isAuthCommand(cmd: { type: string }): cmd is AuthCommand {
  return AUTH_COMMAND_TYPES.has(cmd.type);
}

type Obj = Record<string, unknown>;

function fail(message: string): never {
  throw new CommandValidationError(message);
}

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v) &&
    !(v instanceof Uint8Array);
}

function field(o: Obj, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, name) ? o[name] : undefined;
}

function name(o: Obj, key: string, where = ""): string {
  const v = field(o, key);
  if (typeof v !== "string" || !AUTH_NAME_PATTERN.test(v)) {
    fail(
      `Field '${where}${key}' must be 1-64 letters, digits, '_', '.', '@' or '-'`,
    );
  }
  return v;
}

function bool(o: Obj, key: string, where: string): boolean {
  const v = field(o, key);
  if (typeof v !== "boolean") fail(`Field '${where}${key}' must be a boolean`);
  return v;
}

function bytes(o: Obj, key: string, where: string, min: number, max: number) {
  const v = field(o, key);
  if (!(v instanceof Uint8Array)) fail(`Field '${where}${key}' must be bytes`);
  if (v.byteLength < min || v.byteLength > max) {
    fail(`Field '${where}${key}' must be ${min} to ${max} bytes`);
  }
  // A copy: the decoded bytes may share the log entry's buffer.
  return new Uint8Array(v);
}

function utf8Bytes(s: string): number {
  return new TextEncoder().encode(s).byteLength;
}

function passwordHash(v: unknown): PasswordHash {
  if (!isObj(v)) fail("Field 'hash' must be an object");
  if (field(v, "alg") !== "pbkdf2-sha256") {
    fail("Field 'hash.alg' must be pbkdf2-sha256");
  }
  const iterations = field(v, "iterations");
  if (
    typeof iterations !== "number" || !Number.isSafeInteger(iterations) ||
    iterations < MIN_PBKDF2_ITERATIONS || iterations > MAX_PBKDF2_ITERATIONS
  ) {
    fail(
      `Field 'hash.iterations' must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`,
    );
  }
  return {
    alg: "pbkdf2-sha256",
    iterations,
    salt: bytes(v, "salt", "hash.", 16, 64),
    hash: bytes(v, "hash", "hash.", 32, 32),
  };
}

function roleList(v: unknown): string[] {
  if (!Array.isArray(v)) fail("Field 'roles' must be an array");
  if (v.length > MAX_USER_ROLES) {
    fail(`Field 'roles' has more than ${MAX_USER_ROLES} entries`);
  }
  const roles = v.map((r, i) => {
    if (typeof r !== "string" || !AUTH_NAME_PATTERN.test(r)) {
      fail(`Field 'roles[${i}]' must be a role name`);
    }
    return r;
  });
  // A set, in a defined order, so equal users encode to equal bytes.
  return [...new Set(roles)].sort();
}

function permission(v: unknown, i: number): Permission {
  const where = `permissions[${i}].`;
  if (!isObj(v)) fail(`Field 'permissions[${i}]' must be an object`);
  const prefix = field(v, "prefix");
  if (typeof prefix !== "string" || !prefix.isWellFormed()) {
    fail(`Field '${where}prefix' must be a string`);
  }
  if (utf8Bytes(prefix) > MAX_PREFIX_BYTES) {
    fail(`Field '${where}prefix' is longer than ${MAX_PREFIX_BYTES} bytes`);
  }
  return {
    prefix,
    read: bool(v, "read", where),
    write: bool(v, "write", where),
  };
}

/**
 * Validates an auth command (`o.type` is one of
 * {@linkcode AUTH_COMMAND_TYPES}) and returns a normalized copy with the
 * base fields given. Throws {@linkcode CommandValidationError}.
 */
export function validateAuthCommand(
  o: Obj,
  base: { requestId?: RequestId; auth?: CommandBase["auth"] },
): AuthCommand {
  const type = o.type as AuthCommand["type"];
  const out = (cmd: Obj): AuthCommand => {
    const c: Obj = { ...cmd };
    if (base.requestId) c.requestId = base.requestId;
    if (base.auth) c.auth = base.auth;
    return c as unknown as AuthCommand;
  };
  switch (type) {
    case "authUserPut": {
      const h = field(o, "hash");
      const r = field(o, "roles");
      const cmd: Obj = { type, name: name(o, "name") };
      if (h !== undefined && h !== null) cmd.hash = passwordHash(h);
      if (r !== undefined && r !== null) cmd.roles = roleList(r);
      return out(cmd);
    }
    case "authUserDelete":
    case "authRoleDelete":
      return out({ type, name: name(o, "name") });
    case "authUserGrant":
    case "authUserRevoke":
      return out({ type, name: name(o, "name"), role: name(o, "role") });
    case "authRolePut": {
      const p = field(o, "permissions");
      if (!Array.isArray(p)) fail("Field 'permissions' must be an array");
      if (p.length > MAX_ROLE_PERMISSIONS) {
        fail(
          `Field 'permissions' has more than ${MAX_ROLE_PERMISSIONS} entries`,
        );
      }
      return out({
        type,
        name: name(o, "name"),
        permissions: p.map(permission),
      });
    }
    case "authEnable":
    case "authDisable":
      return out({ type });
    case "authSigningKey":
      return out({
        type,
        kid: name(o, "kid"),
        key: bytes(o, "key", "", 32, 64),
      });
    default:
      return fail(`Unknown command type '${String(type).slice(0, 64)}'`);
  }
}
