/**
 * Users, roles and the token signing keys, as replicated state
 * ({@linkcode AuthTable}), and the permission rules every node applies the
 * same way: what a command needs ({@linkcode commandAccess}) and whether a
 * user's roles allow it ({@linkcode permits}).
 *
 * A permission `{prefix, read, write}` covers every key, lock, election,
 * semaphore and read-write lock whose name starts with `prefix`. A range (a listing, a prefix delete, a watch
 * of prefix `p`) is covered when `p` itself starts with the prefix, so the
 * test is the same for one name and for a range. The role `root` is built
 * in and allows everything.
 *
 * @example
 * ```ts
 * import { permits } from "./auth.ts";
 *
 * const perms = [{ prefix: "app/", read: true, write: false }];
 * console.log(permits(perms, { action: "read", key: "app/mode" })); // true
 * console.log(permits(perms, { action: "write", key: "app/mode" })); // false
 * console.log(permits(perms, { action: "read", key: "" })); // false: all keys
 * ```
 *
 * @module
 */

import type { Command } from "./commands.ts";
import {
  type AuthCommand,
  MAX_USER_ROLES,
  type PasswordHash,
  type Permission,
  ROOT,
  type SigningKey,
} from "./auth_commands.ts";
import { type AuthResult, failure } from "./results.ts";

/** A stored user. */
export interface UserRecord {
  /** The user name. */
  name: string;
  /** The password's salted hash. */
  hash: PasswordHash;
  /** Role names, sorted. */
  roles: string[];
  /**
   * The auth revision at which the password was last set: a token carries
   * it, and one with another epoch (an older password, or a deleted and
   * re-created user) is refused.
   */
  epoch: number;
}

/** A stored role. */
export interface RoleRecord {
  /** The role name. */
  name: string;
  /** What it allows. */
  permissions: Permission[];
}

/** A user as the API shows it (never the hash). */
export interface UserInfo {
  /** The user name. */
  name: string;
  /** Role names, sorted. */
  roles: string[];
}

/** One access a request makes. */
export interface Access {
  /** Reading or writing. */
  action: "read" | "write";
  /** The key or lock name, or the prefix of a range. */
  key: string;
}

/** What a lease holds, for the access its revocation needs. */
export interface LeaseHoldings {
  /** Keys attached to the lease. */
  keys: Iterable<string>;
  /** Locks it holds or waits for. */
  locks: Iterable<string>;
}

/**
 * What a command needs: `"root"`, or a list of accesses (empty: any
 * authenticated user).
 */
export type CommandNeeds = "root" | Access[];

/** Whether `permissions` allow `access`. */
export function permits(
  permissions: readonly Permission[],
  access: Access,
): boolean {
  for (const p of permissions) {
    if (
      (access.action === "read" ? p.read : p.write) &&
      access.key.startsWith(p.prefix)
    ) return true;
  }
  return false;
}

/**
 * What a command needs of the user it is made for. `lease` tells what a
 * lease holds (its revocation needs write access to all of it); an unknown
 * lease needs nothing (the command fails with `not_found` anyway).
 */
export function commandAccess(
  cmd: Command,
  lease: (id: number) => LeaseHoldings | undefined = () => undefined,
): CommandNeeds {
  const read = (key: string): Access => ({ action: "read", key });
  const write = (key: string): Access => ({ action: "write", key });
  switch (cmd.type) {
    case "put":
    case "delete":
      return [write(cmd.key)];
    case "txn": {
      const out: Access[] = cmd.compare.map((c) => read(c.key));
      for (const op of [...cmd.success, ...cmd.failure]) {
        out.push(op.type === "get" ? read(op.key) : write(op.key));
      }
      return out;
    }
    case "leaseGrant":
    case "leaseKeepalive":
      return [];
    case "leaseRevoke": {
      const h = lease(cmd.id);
      if (!h) return [];
      return [...h.keys, ...h.locks].map(write);
    }
    case "lockAcquire":
    case "lockRelease":
    case "lockCancel":
    // Elections, semaphores and read-write locks share the lock names'
    // permissions: write on the name to take part, read to look.
    case "electionCampaign":
    case "electionProclaim":
    case "electionResign":
    case "electionCancel":
    case "semaphoreAcquire":
    case "semaphoreRelease":
    case "semaphoreCancel":
    case "rwlockAcquire":
    case "rwlockRelease":
    case "rwlockCancel":
      return [write(cmd.name)];
    default:
      // Lease expiry and lock-delay ends are the leader's own commands;
      // auth commands are administration.
      return "root";
  }
}

/** Users, roles, the switch and the signing keys. */
export class AuthTable {
  /** Whether requests need a token. */
  enabled = false;
  /** Raised by every change of this table. */
  revision = 0;
  /** The key new tokens are signed with. */
  current: SigningKey | null = null;
  /** The key before it, still accepted until its tokens expire. */
  previous: SigningKey | null = null;
  readonly #users = new Map<string, UserRecord>();
  readonly #roles = new Map<string, RoleRecord>();

  /** The user, or undefined. */
  user(name: string): UserRecord | undefined {
    return this.#users.get(name);
  }

  /** The role, or undefined (`root` is built in: not stored). */
  role(name: string): RoleRecord | undefined {
    return this.#roles.get(name);
  }

  /** Every user, by name. */
  users(): UserRecord[] {
    return [...this.#users.values()].sort(byName);
  }

  /** Every stored role, by name. */
  roles(): RoleRecord[] {
    return [...this.#roles.values()].sort(byName);
  }

  /** The signing key with this id (current or previous), or undefined. */
  key(kid: string): SigningKey | undefined {
    if (this.current?.kid === kid) return this.current;
    if (this.previous?.kid === kid) return this.previous;
    return undefined;
  }

  /** Whether the user has the role `root`. */
  isRoot(user: UserRecord): boolean {
    return user.roles.includes(ROOT);
  }

  /** The user's permissions: the union of its roles'. */
  permissions(user: UserRecord): Permission[] {
    const out: Permission[] = [];
    for (const r of user.roles) {
      const role = this.#roles.get(r);
      if (role) out.push(...role.permissions);
    }
    return out;
  }

  /** Whether the user may make `needs` (root may do anything). */
  allows(user: UserRecord, needs: CommandNeeds): boolean {
    if (this.isRoot(user)) return true;
    if (needs === "root") return false;
    if (needs.length === 0) return true;
    const perms = this.permissions(user);
    return needs.every((a) => permits(perms, a));
  }

  /** Applies an auth command (already authorized). */
  apply(cmd: AuthCommand): AuthResult {
    switch (cmd.type) {
      case "authUserPut": {
        const prev = this.#users.get(cmd.name);
        if (!prev && !cmd.hash) {
          return failure(
            "bad_request",
            `User ${cmd.name} does not exist; a new user needs a password`,
          );
        }
        const roles = cmd.roles ?? prev?.roles ?? [];
        const missing = roles.find((r) => r !== ROOT && !this.#roles.has(r));
        if (missing !== undefined) {
          return failure("not_found", `Role ${missing} does not exist`);
        }
        const kept = this.#rootKept(cmd.name, roles);
        if (kept) return kept;
        this.revision++;
        this.#users.set(cmd.name, {
          name: cmd.name,
          hash: cmd.hash ?? prev!.hash,
          roles,
          epoch: cmd.hash ? this.revision : prev!.epoch,
        });
        return this.#ok();
      }
      case "authUserDelete": {
        if (!this.#users.has(cmd.name)) return userMissing(cmd.name);
        if (this.enabled && cmd.name === ROOT) {
          return failure(
            "conflict",
            "User root cannot be deleted while auth is on; disable auth first",
          );
        }
        this.#users.delete(cmd.name);
        this.revision++;
        return this.#ok();
      }
      case "authUserGrant": {
        const u = this.#users.get(cmd.name);
        if (!u) return userMissing(cmd.name);
        if (cmd.role !== ROOT && !this.#roles.has(cmd.role)) {
          return failure("not_found", `Role ${cmd.role} does not exist`);
        }
        if (!u.roles.includes(cmd.role)) {
          if (u.roles.length >= MAX_USER_ROLES) {
            return failure(
              "bad_request",
              `User ${cmd.name} already has ${MAX_USER_ROLES} roles`,
            );
          }
          u.roles = [...u.roles, cmd.role].sort();
        }
        this.revision++;
        return this.#ok();
      }
      case "authUserRevoke": {
        const u = this.#users.get(cmd.name);
        if (!u) return userMissing(cmd.name);
        if (!u.roles.includes(cmd.role)) {
          return failure(
            "not_found",
            `User ${cmd.name} does not have role ${cmd.role}`,
          );
        }
        const roles = u.roles.filter((r) => r !== cmd.role);
        const kept = this.#rootKept(cmd.name, roles);
        if (kept) return kept;
        u.roles = roles;
        this.revision++;
        return this.#ok();
      }
      case "authRolePut": {
        if (cmd.name === ROOT) return rootBuiltIn();
        this.#roles.set(cmd.name, {
          name: cmd.name,
          permissions: cmd.permissions,
        });
        this.revision++;
        return this.#ok();
      }
      case "authRoleDelete": {
        if (cmd.name === ROOT) return rootBuiltIn();
        if (!this.#roles.delete(cmd.name)) {
          return failure("not_found", `Role ${cmd.name} does not exist`);
        }
        for (const u of this.#users.values()) {
          if (u.roles.includes(cmd.name)) {
            u.roles = u.roles.filter((r) => r !== cmd.name);
          }
        }
        this.revision++;
        return this.#ok();
      }
      case "authEnable": {
        if (!this.#users.get(ROOT)?.roles.includes(ROOT)) {
          return failure(
            "conflict",
            "Create user root with role root before turning auth on",
          );
        }
        if (!this.current) {
          return failure(
            "conflict",
            "No token signing key yet; propose one before turning auth on",
          );
        }
        if (!this.enabled) {
          this.enabled = true;
          this.revision++;
        }
        return this.#ok();
      }
      case "authDisable":
        if (this.enabled) {
          this.enabled = false;
          this.revision++;
        }
        return this.#ok();
      case "authSigningKey": {
        if (this.key(cmd.kid)) {
          return failure("conflict", `Signing key ${cmd.kid} is already known`);
        }
        this.previous = this.current;
        this.current = { kid: cmd.kid, key: cmd.key };
        this.revision++;
        return this.#ok();
      }
    }
  }

  /** The table as a snapshot tuple (see {@linkcode AuthTable.fromTuple}). */
  toTuple(): unknown[] {
    return [
      this.enabled,
      this.revision,
      this.users().map((u) => [
        u.name,
        [u.hash.alg, u.hash.iterations, u.hash.salt, u.hash.hash],
        u.roles,
        u.epoch,
      ]),
      this.roles().map((r) => [
        r.name,
        r.permissions.map((p) => [p.prefix, p.read, p.write]),
      ]),
      keyTuple(this.current),
      keyTuple(this.previous),
    ];
  }

  /** Reads a table back from {@linkcode AuthTable.toTuple}. Throws if malformed. */
  static fromTuple(t: unknown): AuthTable {
    const [enabled, revision, users, roles, current, previous] = tuple(t, 6);
    const a = new AuthTable();
    a.enabled = bool(enabled);
    a.revision = int(revision);
    for (const u of arr(users)) {
      const [name, hash, userRoles, epoch] = tuple(u, 4);
      const [alg, iterations, salt, h] = tuple(hash, 4);
      if (alg !== "pbkdf2-sha256") throw new Error("unknown hash algorithm");
      a.#users.set(text(name), {
        name: text(name),
        hash: {
          alg,
          iterations: int(iterations),
          salt: bin(salt),
          hash: bin(h),
        },
        roles: arr(userRoles).map(text),
        epoch: int(epoch),
      });
    }
    for (const r of arr(roles)) {
      const [name, perms] = tuple(r, 2);
      a.#roles.set(text(name), {
        name: text(name),
        permissions: arr(perms).map((p) => {
          const [prefix, read, write] = tuple(p, 3);
          return { prefix: text(prefix), read: bool(read), write: bool(write) };
        }),
      });
    }
    a.current = keyFrom(current);
    a.previous = keyFrom(previous);
    return a;
  }

  // Auth that is on needs user root to keep role root.
  #rootKept(name: string, roles: readonly string[]): AuthResult | undefined {
    if (this.enabled && name === ROOT && !roles.includes(ROOT)) {
      return failure(
        "conflict",
        "User root must keep role root while auth is on",
      );
    }
    return undefined;
  }

  #ok(): AuthResult {
    return { ok: true, authRevision: this.revision };
  }
}

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function userMissing(name: string): AuthResult {
  return failure("not_found", `User ${name} does not exist`);
}

function rootBuiltIn(): AuthResult {
  return failure(
    "bad_request",
    "Role root is built in (it allows everything) and cannot be changed",
  );
}

function keyTuple(k: SigningKey | null): unknown {
  return k ? [k.kid, k.key] : null;
}

function keyFrom(v: unknown): SigningKey | null {
  if (v === null) return null;
  const [kid, key] = tuple(v, 2);
  return { kid: text(kid), key: bin(key) };
}

function int(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) {
    throw new Error(`expected an integer, got ${typeof v}`);
  }
  return v;
}

function text(v: unknown): string {
  if (typeof v !== "string") {
    throw new Error(`expected a string, got ${typeof v}`);
  }
  return v;
}

function bool(v: unknown): boolean {
  if (typeof v !== "boolean") {
    throw new Error(`expected a boolean, got ${typeof v}`);
  }
  return v;
}

function bin(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new Error("expected bytes");
  return new Uint8Array(v);
}

function arr(v: unknown): unknown[] {
  if (!Array.isArray(v)) throw new Error(`expected an array, got ${typeof v}`);
  return v;
}

function tuple(v: unknown, n: number): unknown[] {
  const a = arr(v);
  if (a.length !== n) throw new Error(`expected ${n} fields, got ${a.length}`);
  return a;
}
