/**
 * Bearer tokens: JWTs signed with HMAC-SHA-256 (HS256) by Hono's JWT
 * helpers, with the signing key's id in the header (`kid`) so a node picks
 * the current or the previous replicated key. Claims: `sub` (the user),
 * `epoch` (the user's epoch when issued), `iat` and `exp` (seconds).
 *
 * Expiry is checked by the caller against its own clock (see
 * `Authenticator`), so tests can move time without sleeping.
 *
 * @module
 */

import { Jwt } from "hono/utils/jwt";
import type { SigningKey } from "../state/auth_commands.ts";
import { AUTH_NAME_PATTERN } from "../state/auth_commands.ts";
import { AuthError } from "./errors.ts";

/** What a raftlock token says. */
export interface TokenClaims {
  /** The user. */
  sub: string;
  /** The user's epoch at issue (a password change moves it on). */
  epoch: number;
  /** Issued at, in seconds since the epoch. */
  iat: number;
  /** Expires at, in seconds since the epoch. */
  exp: number;
  /** The id of the key that signed it. */
  kid: string;
}

const ALG = "HS256";

function jwk(key: SigningKey) {
  return {
    kty: "oct",
    k: btoa(String.fromCharCode(...key.key)).replace(/\+/g, "-")
      .replace(/\//g, "_").replace(/=+$/, ""),
    alg: ALG,
    kid: key.kid,
  };
}

/**
 * Signs a token.
 *
 * @example
 * ```ts
 * import { signToken, TokenVerifier } from "./tokens.ts";
 *
 * const key = { kid: "k1", key: crypto.getRandomValues(new Uint8Array(32)) };
 * const token = await signToken({ sub: "alice", epoch: 3, iat: 0, exp: 600 }, key);
 * const claims = await new TokenVerifier().verify(token, (kid) =>
 *   kid === key.kid ? key : undefined
 * );
 * console.log(claims.sub, claims.kid); // alice k1
 * ```
 */
export function signToken(
  claims: Omit<TokenClaims, "kid">,
  key: SigningKey,
): Promise<string> {
  return Jwt.sign(
    { sub: claims.sub, epoch: claims.epoch, iat: claims.iat, exp: claims.exp },
    jwk(key),
    ALG,
  );
}

function bad(message: string): AuthError {
  return new AuthError("unauthenticated", message);
}

/** How many verified tokens a {@linkcode TokenVerifier} remembers. */
const VERIFIED_CACHE = 1024;

/**
 * Checks token signatures against the replicated keys. Keeps the imported
 * WebCrypto keys (at most a few), and the claims of the last 1024 tokens it
 * verified with the key that verified them, so a client sending the same
 * token again costs a map lookup, not an HMAC (only verified tokens are
 * kept: garbage cannot evict them).
 */
export class TokenVerifier {
  readonly #keys = new Map<string, { bytes: Uint8Array; key: CryptoKey }>();
  readonly #verified = new Map<
    string,
    { claims: TokenClaims; key: Uint8Array }
  >();

  /**
   * The token's claims if it is well formed and signed by the key `keyOf`
   * gives for its `kid`; else throws `unauthenticated`. Expiry is not
   * checked here.
   */
  async verify(
    token: string,
    keyOf: (kid: string) => SigningKey | undefined,
  ): Promise<TokenClaims> {
    const seen = this.#verified.get(token);
    // Still signed by a key the cluster has (a rotation may retire it).
    if (seen && keyOf(seen.claims.kid)?.key === seen.key) {
      return { ...seen.claims };
    }
    let kid: unknown;
    try {
      kid = Jwt.decode(token).header.kid;
    } catch {
      throw bad("Token is malformed");
    }
    if (typeof kid !== "string") throw bad("Token has no key id");
    const key = keyOf(kid);
    if (!key) {
      throw bad(
        "Token was signed with a key this cluster no longer accepts; get a new token",
      );
    }
    let payload: Record<string, unknown>;
    try {
      payload = await Jwt.verify(token, await this.#cryptoKey(key), {
        alg: ALG,
        // Checked by the caller against its own clock.
        exp: false,
        nbf: false,
        iat: false,
      });
    } catch {
      throw bad("Token signature is invalid");
    }
    const { sub, epoch, iat, exp } = payload;
    if (
      typeof sub !== "string" || !AUTH_NAME_PATTERN.test(sub) ||
      !Number.isSafeInteger(epoch) || !Number.isSafeInteger(iat) ||
      !Number.isSafeInteger(exp)
    ) {
      throw bad("Token claims are malformed");
    }
    const claims: TokenClaims = {
      sub,
      epoch: epoch as number,
      iat: iat as number,
      exp: exp as number,
      kid,
    };
    if (this.#verified.size >= VERIFIED_CACHE) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(token, { claims, key: key.key });
    return { ...claims };
  }

  async #cryptoKey(k: SigningKey): Promise<CryptoKey> {
    const cached = this.#keys.get(k.kid);
    if (cached && cached.bytes === k.key) return cached.key;
    const key = await crypto.subtle.importKey(
      "raw",
      k.key.slice(),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["verify"],
    );
    // The current and previous keys are all that verify; a few more are
    // harmless, an unbounded map is not.
    if (this.#keys.size >= 4) this.#keys.clear();
    this.#keys.set(k.kid, { bytes: k.key, key });
    return key;
  }
}
