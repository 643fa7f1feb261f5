/**
 * Auth administration over the client's connection: the switch, tokens,
 * key rotation, users and roles (`/v1/auth/*`). Reached as
 * `client.auth`; everything but {@linkcode AuthAdmin.status} and
 * {@linkcode AuthAdmin.token} needs root once auth is on.
 *
 * @module
 */

import type { CallOptions, Transport } from "./transport.ts";
import type {
  AuthDeleteResult,
  AuthPermissionInput,
  AuthRole,
  AuthRoleResult,
  AuthStatus,
  AuthToggleResult,
  AuthUser,
  AuthUserResult,
  IssuedToken,
  RotateKeyResult,
  UserPut,
} from "./types.ts";

const enc = encodeURIComponent;

/**
 * Users, roles, tokens and the auth switch. Get it from `client.auth`.
 *
 * @example
 * ```ts
 * import { Client } from "./mod.ts";
 *
 * // Turns auth on for a new cluster: root first, then an application
 * // user that may read and write `app/`.
 * async function setUp(rootPassword: string, appPassword: string) {
 *   await using client = new Client({
 *     endpoints: ["http://127.0.0.1:8001"],
 *     user: "root",
 *     password: rootPassword,
 *   });
 *   await client.auth.putRole("app-rw", [
 *     { prefix: "app/", read: true, write: true },
 *   ]);
 *   await client.auth.putUser("root", {
 *     password: rootPassword,
 *     roles: ["root"],
 *   });
 *   await client.auth.putUser("app", {
 *     password: appPassword,
 *     roles: ["app-rw"],
 *   });
 *   await client.auth.enable();
 * }
 * ```
 */
export class AuthAdmin {
  readonly #t: Transport;

  /** Wraps a client's transport (use `client.auth`). */
  constructor(transport: Transport) {
    this.#t = transport;
  }

  /** Whether auth is on (open to anyone). */
  status(options: CallOptions = {}): Promise<AuthStatus> {
    return this.#t.request<AuthStatus>({
      method: "GET",
      path: "/v1/auth/status",
      kind: "read",
      options,
    });
  }

  /**
   * Trades a user and password for a token (`expiresAt` in ms since the
   * epoch). The client's own token is not changed.
   */
  token(
    user: string,
    password: string,
    options: CallOptions = {},
  ): Promise<IssuedToken> {
    return this.#t.login(user, password, options.signal);
  }

  /**
   * Turns auth on; needs user `root` with role `root`. From then on every
   * request but the open ones needs a token.
   */
  enable(options: CallOptions = {}): Promise<AuthToggleResult> {
    // Idempotent, so it is retried like a read; no request id (the node
    // may propose a signing key first, then the switch).
    return this.#t.request<AuthToggleResult>({
      method: "POST",
      path: "/v1/auth/enable",
      kind: "read",
      options,
    });
  }

  /** Turns auth off (users, roles and keys are kept). */
  disable(options: CallOptions = {}): Promise<AuthToggleResult> {
    return this.#t.request<AuthToggleResult>({
      method: "POST",
      path: "/v1/auth/disable",
      kind: "read",
      options,
    });
  }

  /**
   * Makes a new signing key: new tokens are signed with it, tokens of the
   * previous key stay valid until they expire, older ones fail. Never
   * retried after it may have reached a node (twice would retire the
   * previous key).
   */
  rotateKey(options: CallOptions = {}): Promise<RotateKeyResult> {
    return this.#t.request<RotateKeyResult>({
      method: "POST",
      path: "/v1/auth/rotate-key",
      kind: "unsafe",
      options,
    });
  }

  // ------------------------------------------------------------------ users

  /** Every user (name and roles), by name. */
  async users(options: CallOptions = {}): Promise<AuthUser[]> {
    const r = await this.#t.request<{ users: AuthUser[] }>({
      method: "GET",
      path: "/v1/auth/users",
      kind: "read",
      options,
    });
    return r.users;
  }

  /** One user; null when there is none of that name. */
  user(name: string, options: CallOptions = {}): Promise<AuthUser | null> {
    return this.#t.request<AuthUser | null>({
      method: "GET",
      path: `/v1/auth/users/${enc(name)}`,
      kind: "read",
      nullOn404: true,
      options,
    });
  }

  /**
   * Creates a user (a password is required) or changes one: a new
   * password logs out its tokens; `roles` replaces its roles (absent:
   * kept).
   */
  putUser(
    name: string,
    user: UserPut,
    options: CallOptions = {},
  ): Promise<AuthUserResult> {
    return this.#t.request<AuthUserResult>({
      method: "PUT",
      path: `/v1/auth/users/${enc(name)}`,
      body: { password: user.password, roles: user.roles },
      kind: "write",
      options,
    });
  }

  /** Deletes a user (not root while auth is on). */
  deleteUser(
    name: string,
    options: CallOptions = {},
  ): Promise<AuthDeleteResult> {
    return this.#t.request<AuthDeleteResult>({
      method: "DELETE",
      path: `/v1/auth/users/${enc(name)}`,
      kind: "write",
      options,
    });
  }

  /** Gives a user a role. */
  grantRole(
    user: string,
    role: string,
    options: CallOptions = {},
  ): Promise<AuthUserResult> {
    return this.#t.request<AuthUserResult>({
      method: "POST",
      path: `/v1/auth/users/${enc(user)}/roles`,
      body: { role },
      kind: "write",
      options,
    });
  }

  /** Takes a role from a user. */
  revokeRole(
    user: string,
    role: string,
    options: CallOptions = {},
  ): Promise<AuthUserResult> {
    return this.#t.request<AuthUserResult>({
      method: "DELETE",
      path: `/v1/auth/users/${enc(user)}/roles/${enc(role)}`,
      kind: "write",
      options,
    });
  }

  // ------------------------------------------------------------------ roles

  /** Every role but the built-in `root`, by name. */
  async roles(options: CallOptions = {}): Promise<AuthRole[]> {
    const r = await this.#t.request<{ roles: AuthRole[] }>({
      method: "GET",
      path: "/v1/auth/roles",
      kind: "read",
      options,
    });
    return r.roles;
  }

  /** One role; null when there is none of that name. */
  role(name: string, options: CallOptions = {}): Promise<AuthRole | null> {
    return this.#t.request<AuthRole | null>({
      method: "GET",
      path: `/v1/auth/roles/${enc(name)}`,
      kind: "read",
      nullOn404: true,
      options,
    });
  }

  /** Creates or replaces a role's permissions. */
  putRole(
    name: string,
    permissions: AuthPermissionInput[],
    options: CallOptions = {},
  ): Promise<AuthRoleResult> {
    return this.#t.request<AuthRoleResult>({
      method: "PUT",
      path: `/v1/auth/roles/${enc(name)}`,
      body: { permissions },
      kind: "write",
      options,
    });
  }

  /** Deletes a role; every user loses it. */
  deleteRole(
    name: string,
    options: CallOptions = {},
  ): Promise<AuthDeleteResult> {
    return this.#t.request<AuthDeleteResult>({
      method: "DELETE",
      path: `/v1/auth/roles/${enc(name)}`,
      kind: "write",
      options,
    });
  }
}
