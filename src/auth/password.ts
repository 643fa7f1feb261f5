/**
 * Password hashing: PBKDF2 with HMAC-SHA-256 from WebCrypto, a 16-byte
 * random salt, 32 bytes out. `crypto.subtle.deriveBits` runs on a worker
 * thread, so a slow hash does not hold up the event loop (a blocked loop
 * would miss heartbeats and depose a leader).
 *
 * @module
 */

import type { PasswordHash } from "../state/auth_commands.ts";

/**
 * PBKDF2 iterations for new hashes: OWASP's figure for PBKDF2-HMAC-SHA256
 * (2023). About 100 ms per hash on the development machine (see
 * docs/security.md); each stored hash keeps its own count, so this can
 * change without breaking existing passwords.
 */
export const DEFAULT_PBKDF2_ITERATIONS = 600_000;

const SALT_BYTES = 16;
const HASH_BITS = 256;
const encoder = new TextEncoder();

async function derive(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    {
      name: "PBKDF2",
      hash: "SHA-256",
      salt: salt as Uint8Array<ArrayBuffer>,
      iterations,
    },
    key,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

/**
 * Hashes a password with a fresh random salt.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "./password.ts";
 *
 * const h = await hashPassword("correct horse", { iterations: 1000 });
 * console.log(await verifyPassword("correct horse", h)); // true
 * console.log(await verifyPassword("wrong horse", h)); // false
 * ```
 */
export async function hashPassword(
  password: string,
  options: { iterations?: number } = {},
): Promise<PasswordHash> {
  const iterations = options.iterations ?? DEFAULT_PBKDF2_ITERATIONS;
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  return {
    alg: "pbkdf2-sha256",
    iterations,
    salt,
    hash: await derive(password, salt, iterations),
  };
}

/** Whether `password` matches the hash (compared in constant time). */
export async function verifyPassword(
  password: string,
  stored: PasswordHash,
): Promise<boolean> {
  const h = await derive(password, stored.salt, stored.iterations);
  return constantTimeEqual(h, stored.hash);
}

/** Whether two byte arrays are equal, in time that depends only on their length. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
