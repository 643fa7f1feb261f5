/**
 * What one request may do: a {@linkcode Guard} holds the request's verified
 * principal (or none) and answers each check against the replicated roles
 * as they are at that moment, so a role change takes effect at once. With
 * auth off every check passes.
 *
 * @module
 */

import {
  type Access,
  commandAccess,
  type CommandNeeds,
  type LeaseHoldings,
} from "../state/auth.ts";
import type { Command, CommandAuth } from "../state/commands.ts";
import type { UserRecord } from "../state/auth.ts";
import type { AuthView } from "../state/machine.ts";
import type { Principal } from "./authenticator.ts";
import { AuthError } from "./errors.ts";

/**
 * A request's permission checks; each throws {@linkcode AuthError}
 * (`unauthenticated` without a valid user, `permission_denied` when the
 * roles do not allow it).
 *
 * @example
 * ```ts ignore
 * import { Guard } from "./guard.ts";
 *
 * const guard = new Guard(stateMachine, principal);
 * guard.read("app/mode"); // throws permission_denied unless allowed
 * ```
 */
export class Guard {
  readonly #source: { readonly auth: AuthView };
  /** The verified principal, if the request carried a token. */
  readonly principal: Principal | undefined;

  /**
   * A guard for a request by `principal` (none: no token) over `source`'s
   * auth state, read afresh on every check (a restored snapshot replaces
   * it).
   */
  constructor(source: { readonly auth: AuthView }, principal?: Principal) {
    this.#source = source;
    this.principal = principal;
  }

  get #auth(): AuthView {
    return this.#source.auth;
  }

  /** Whether auth is on (else every check passes). */
  get enabled(): boolean {
    return this.#auth.enabled;
  }

  /** Requires an authenticated user. */
  user(): void {
    this.#user();
  }

  /** Requires the role root. */
  root(): void {
    this.need("root");
  }

  /** Requires read access to a key or lock name, or to a range's prefix. */
  read(key: string): void {
    this.need([{ action: "read", key }]);
  }

  /** Requires write access to a key or lock name, or to a range's prefix. */
  write(key: string): void {
    this.need([{ action: "write", key }]);
  }

  /** Requires what `cmd` needs (as the state machine checks it at apply). */
  command(
    cmd: Command,
    lease?: (id: number) => LeaseHoldings | undefined,
  ): void {
    this.need(commandAccess(cmd, lease));
  }

  /** Requires `needs`. */
  need(needs: CommandNeeds): void {
    const u = this.#user();
    if (!u || this.#auth.allows(u, needs)) return;
    throw new AuthError("permission_denied", denial(u.name, needs));
  }

  /** Whether the request may read `key` (false without a valid user). */
  canRead(key: string): boolean {
    if (!this.#auth.enabled) return true;
    const u = this.#valid();
    return u !== undefined &&
      this.#auth.allows(u, [{ action: "read", key }]);
  }

  /** Whether the request's user is root (true with auth off). */
  isRoot(): boolean {
    if (!this.#auth.enabled) return true;
    const u = this.#valid();
    return u !== undefined && this.#auth.isRoot(u);
  }

  /**
   * Who a command is made for, checked again at apply: `{}` without a
   * token, so that with auth on by then the command is refused.
   */
  commandAuth(): CommandAuth {
    const p = this.principal;
    return p ? { user: p.user, epoch: p.epoch } : {};
  }

  // The user, undefined with auth off; throws without a valid one.
  #user(): UserRecord | undefined {
    if (!this.#auth.enabled) return undefined;
    if (!this.principal) {
      throw new AuthError(
        "unauthenticated",
        "Auth is on: send Authorization: Bearer <token> (POST /v1/auth/token)",
      );
    }
    const u = this.#valid();
    if (!u) {
      throw new AuthError(
        "unauthenticated",
        `User ${this.principal.user} no longer exists or its password changed; get a new token`,
      );
    }
    return u;
  }

  #valid(): UserRecord | undefined {
    const p = this.principal;
    if (!p) return undefined;
    const u = this.#auth.user(p.user);
    return u && u.epoch === p.epoch ? u : undefined;
  }
}

function denial(user: string, needs: CommandNeeds): string {
  if (needs === "root") return `User ${user} is not root`;
  const a: Access | undefined = needs[0];
  if (needs.length === 1 && a) {
    return `User ${user} may not ${a.action} '${a.key}'`;
  }
  return `User ${user} may not ${
    needs.map((x) => `${x.action} '${x.key}'`).join(", ")
  }`;
}
