/**
 * Who is asking: issuing tokens for a user and password (a bounded number
 * of password checks at a time), verifying a bearer token against the
 * replicated users and signing keys, and hashing new passwords before they
 * are proposed (so no plaintext reaches the Raft log).
 *
 * @module
 */

import type { AuthView } from "../state/machine.ts";
import type { PasswordHash, SigningKey } from "../state/auth_commands.ts";
import { AuthError } from "./errors.ts";
import { ConcurrencyLimiter } from "./limiter.ts";
import {
  DEFAULT_PBKDF2_ITERATIONS,
  hashPassword,
  verifyPassword,
} from "./password.ts";
import { signToken, TokenVerifier } from "./tokens.ts";

/** Default lifetime of a token, in seconds (10 minutes). */
export const DEFAULT_TOKEN_TTL_SECONDS = 600;

/** Options of an {@linkcode Authenticator}. */
export interface AuthenticatorOptions {
  /** The wall clock in ms since the epoch (default `Date.now`); tests move it. */
  now?: () => number;
  /** Lifetime of issued tokens, in seconds (default 600). */
  tokenTtlSeconds?: number;
  /** PBKDF2 iterations for new password hashes (default 600 000). */
  iterations?: number;
  /** Password hashes running at once on this node (default 2). */
  maxConcurrentChecks?: number;
  /** Password hashes waiting for a slot (default 8); more get `too_many_requests`. */
  maxQueuedChecks?: number;
}

/** A verified token: who it is for, and until when. */
export interface Principal {
  /** The user name. */
  user: string;
  /** The user's epoch the token was issued at. */
  epoch: number;
  /** The id of the key that signed it. */
  kid: string;
  /** Issued at, in seconds since the epoch. */
  issuedAt: number;
  /** Expires at, in seconds since the epoch. */
  expiresAt: number;
}

/** An issued token. */
export interface IssuedToken {
  /** The bearer token (a JWT). */
  token: string;
  /** When it expires, in ms since the epoch. */
  expiresAt: number;
  /** Its lifetime in seconds. */
  ttl: number;
}

/**
 * Issues and verifies tokens over a node's replicated auth state.
 *
 * @example
 * ```ts ignore
 * import { Authenticator } from "./authenticator.ts";
 *
 * const authn = new Authenticator(stateMachine);
 * const { token } = await authn.issue("alice", "correct horse");
 * const who = await authn.verify(token); // { user: "alice", ... }
 * ```
 */
export class Authenticator {
  readonly #source: { readonly auth: AuthView };
  readonly #now: () => number;
  readonly #ttl: number;
  readonly #iterations: number;
  readonly #limiter: ConcurrencyLimiter;
  readonly #verifier = new TokenVerifier();
  #dummy?: Promise<PasswordHash>;
  /** Logins, for metrics. */
  readonly counters: { issued: number; failed: number } = {
    issued: 0,
    failed: 0,
  };

  /**
   * @param source the state machine (its `auth` is read on every call, so
   * a restored snapshot is seen at once)
   */
  constructor(
    source: { readonly auth: AuthView },
    options: AuthenticatorOptions = {},
  ) {
    this.#source = source;
    this.#now = options.now ?? Date.now;
    this.#ttl = options.tokenTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    this.#iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
    this.#limiter = new ConcurrencyLimiter({
      maxActive: options.maxConcurrentChecks,
      maxQueued: options.maxQueuedChecks,
    });
  }

  /** The replicated auth state. */
  get auth(): AuthView {
    return this.#source.auth;
  }

  /** Whether requests need a token. */
  get enabled(): boolean {
    return this.#source.auth.enabled;
  }

  /** The limiter of password hashes (for metrics and tests). */
  get limiter(): ConcurrencyLimiter {
    return this.#limiter;
  }

  /** The wall clock in ms. */
  now(): number {
    return this.#now();
  }

  /**
   * Hashes a new password (through the limiter: `too_many_requests` when
   * it is full).
   */
  hashPassword(password: string): Promise<PasswordHash> {
    return this.#limiter.run(() =>
      hashPassword(password, { iterations: this.#iterations })
    );
  }

  /**
   * Checks the user's password and issues a token signed with the current
   * key. A wrong user or password is `unauthenticated` (the same message,
   * after the same work, for both); a full limiter is `too_many_requests`.
   * The caller should read at a linearizable point first, so a user just
   * created or changed on another node is seen.
   */
  async issue(user: string, password: string): Promise<IssuedToken> {
    const rec = this.auth.user(user);
    const ok = await this.#limiter.run(async () =>
      // An unknown user costs the same hash, so timing does not tell
      // which users exist.
      await verifyPassword(password, rec?.hash ?? await this.#dummyHash()) &&
      rec !== undefined
    );
    if (!ok || !rec) {
      this.counters.failed++;
      throw new AuthError("unauthenticated", "Wrong user name or password");
    }
    const key = this.auth.current;
    if (!key) {
      throw new AuthError(
        "unauthenticated",
        "No token signing key exists yet; turn auth on first",
      );
    }
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + this.#ttl;
    const token = await signToken(
      { sub: rec.name, epoch: rec.epoch, iat, exp },
      key,
    );
    this.counters.issued++;
    return { token, expiresAt: exp * 1000, ttl: this.#ttl };
  }

  /**
   * The principal of a bearer token: its signature checks with the current
   * or previous key, it has not expired, and its user still exists with the
   * same epoch. Else throws `unauthenticated` saying which.
   */
  async verify(token: string): Promise<Principal> {
    const claims = await this.#verifier.verify(
      token,
      (kid) => this.auth.key(kid),
    );
    const p: Principal = {
      user: claims.sub,
      epoch: claims.epoch,
      kid: claims.kid,
      issuedAt: claims.iat,
      expiresAt: claims.exp,
    };
    const why = this.invalidReason(p);
    if (why) throw new AuthError("unauthenticated", why);
    return p;
  }

  /**
   * Why a verified principal is no longer valid now (expired, user gone,
   * password changed, key retired), or undefined while it is. A long
   * request (a watch) asks again as time passes.
   */
  invalidReason(p: Principal): string | undefined {
    if (p.expiresAt * 1000 <= this.#now()) {
      return "Token has expired; get a new one";
    }
    const u = this.auth.user(p.user);
    if (!u || u.epoch !== p.epoch) {
      return `User ${p.user} no longer exists or its password changed; get a new token`;
    }
    if (!this.auth.key(p.kid)) {
      return "Token was signed with a key this cluster no longer accepts; get a new token";
    }
    return undefined;
  }

  /** A fresh random signing key (the leader proposes it as `authSigningKey`). */
  static newSigningKey(): SigningKey {
    const id = crypto.getRandomValues(new Uint8Array(8));
    return {
      kid: [...id].map((b) => b.toString(16).padStart(2, "0")).join(""),
      key: crypto.getRandomValues(new Uint8Array(32)),
    };
  }

  #dummyHash(): Promise<PasswordHash> {
    this.#dummy ??= hashPassword(crypto.randomUUID(), {
      iterations: this.#iterations,
    });
    return this.#dummy;
  }
}
