/**
 * The client's credentials (internal): a fixed bearer token, or a user and
 * password that it trades for a token at `POST /v1/auth/token` and renews
 * by itself before the token expires, or after a 401 says it no longer
 * works (expired early, signing key rotated, password changed).
 *
 * @module
 */

import { RaftlockError } from "./errors.ts";
import type { IssuedToken } from "./types.ts";

/** How the client proves who it is when the cluster has auth on. */
export interface AuthOptions {
  /**
   * A bearer token (from `POST /v1/auth/token`, `raftctl auth token` or
   * `RAFTLOCK_TOKEN`), sent as it is; it is not renewed, so it works until
   * it expires. Not with `user`.
   */
  token?: string;
  /**
   * A user name: the client logs in with `password` when it first needs a
   * token and logs in again before the token expires.
   */
  user?: string;
  /** The password of `user`. */
  password?: string;
}

/** Logs in: answers an issued token. */
export type LoginFn = (
  user: string,
  password: string,
  signal: AbortSignal,
) => Promise<IssuedToken>;

/** A token this client holds, with when to renew it by the local clock. */
interface Held {
  /** The `Authorization` header value. */
  header: string;
  /** Renew once the local clock passes this (ms since the epoch). */
  renewAt: number;
}

// Waits, or rejects with the signal's reason (transport.ts has the same;
// this file stays free of it so the two do not import each other).
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** How many times a login answered 429 is tried before giving up. */
const LOGIN_TRIES = 8;

/**
 * The client's credentials: answers the `Authorization` header to send,
 * logging in first when needed (one login at a time, shared by every
 * request waiting for it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Credentials } from "./auth.ts";
 *
 * const creds = new Credentials({ token: "abc" });
 * const never = () => Promise.reject(new Error("no login with a token"));
 * assert.equal(
 *   await creds.header(never, new AbortController().signal),
 *   "Bearer abc",
 * );
 * assert.equal(creds.renewable, false);
 * ```
 */
export class Credentials {
  readonly #token: string | undefined;
  readonly #user: string | undefined;
  readonly #password: string | undefined;
  readonly #now: () => number;
  #held: Held | undefined;
  // Auth was off at the last login: send no token until a 401 says otherwise.
  #authOff = false;
  #login: Promise<Held | undefined> | undefined;
  #logins = 0;

  /** Checks the options; throws a TypeError when they do not fit together. */
  constructor(options: AuthOptions, now: () => number = Date.now) {
    const { token, user, password } = options;
    if (token !== undefined && (user !== undefined || password !== undefined)) {
      throw new TypeError("Give either token or user and password, not both");
    }
    if ((user === undefined) !== (password === undefined)) {
      throw new TypeError("user and password go together");
    }
    if (token !== undefined && !/^[\x21-\x7e]+$/.test(token)) {
      throw new TypeError("token must be printable ASCII without spaces");
    }
    this.#token = token;
    this.#user = user;
    this.#password = password;
    this.#now = now;
  }

  /** Whether any credentials were given. */
  get configured(): boolean {
    return this.#token !== undefined || this.#user !== undefined;
  }

  /** Whether a failed token can be replaced (a user and password were given). */
  get renewable(): boolean {
    return this.#user !== undefined;
  }

  /** The user name, when logging in with one. */
  get user(): string | undefined {
    return this.#user;
  }

  /** How many logins this client has made. */
  get logins(): number {
    return this.#logins;
  }

  /**
   * The `Authorization` header to send (undefined: none), logging in when
   * the client holds no token or the one it holds is about to expire.
   */
  async header(
    login: LoginFn,
    signal: AbortSignal,
  ): Promise<string | undefined> {
    if (this.#token !== undefined) return `Bearer ${this.#token}`;
    if (this.#user === undefined || this.#authOff) return undefined;
    const held = this.#held;
    if (held && this.#now() < held.renewAt) return held.header;
    if (!this.#login) {
      this.#login = this.#logIn(login, signal).finally(() => {
        this.#login = undefined;
      });
    }
    return (await this.#login)?.header;
  }

  /**
   * Forgets the token that got a 401 (`header`, as sent), so that the next
   * request logs in again; a token renewed meanwhile is kept. Answers
   * whether a new token may help (a user and password were given).
   */
  invalidate(header: string | undefined): boolean {
    if (this.#user === undefined) return false;
    if (header === undefined) this.#authOff = false;
    else if (this.#held?.header === header) this.#held = undefined;
    return true;
  }

  async #logIn(login: LoginFn, signal: AbortSignal): Promise<Held | undefined> {
    for (let attempt = 1;; attempt++) {
      // Counted from before the request: the token was issued after this.
      const sentAt = this.#now();
      try {
        const t = await login(this.#user!, this.#password!, signal);
        this.#logins++;
        this.#authOff = false;
        // The node counts the lifetime from the start of its current
        // second (whole seconds), so up to a second of it is gone already.
        // The client's clock may differ from the node's: `expiresAt` is
        // not used, only the lifetime.
        const ttlMs = Math.max(0, t.ttl * 1000 - 1000);
        // Renew with a quarter of the lifetime left (at most a minute
        // early), so a token never expires while it is in use.
        this.#held = {
          header: `Bearer ${t.token}`,
          renewAt: sentAt + ttlMs - Math.min(60_000, ttlMs / 4),
        };
        return this.#held;
      } catch (e) {
        if (e instanceof RaftlockError && e.code === "conflict") {
          // 409: auth is off, so no token is needed (and none is issued).
          this.#authOff = true;
          this.#held = undefined;
          return undefined;
        }
        if (
          e instanceof RaftlockError && e.code === "too_many_requests" &&
          attempt < LOGIN_TRIES
        ) {
          // The node's password checks are busy: it asks for a second.
          await pause(Math.min(2000, 250 * 2 ** attempt), signal);
          continue;
        }
        if (e instanceof RaftlockError && e.code === "unauthenticated") {
          throw new RaftlockError(
            "unauthenticated",
            `Cannot log in as ${this.#user}: ${e.message}`,
            { status: e.status, endpoint: e.endpoint, cause: e },
          );
        }
        throw e;
      }
    }
  }
}
