/**
 * Test support for auth over a single node: a clock tests move, the users
 * and roles the tests share (root; `ro`, which may read `app/`; `rw`, which
 * may read and write it; `nobody`, with no role), turning auth on, tokens,
 * and a small SSE reader.
 */

import assert from "node:assert/strict";
import type { SingleNode, SingleNodeOptions } from "./single_node.ts";

/** Every test user's password. */
export const PASSWORD = "password-1";

/** A wall clock that moves only when told. */
export class FakeClock {
  /** Now, in ms since the epoch. */
  t: number = Date.now();
  /** The clock function to give the authenticator. */
  now = (): number => this.t;
  /** Moves the clock on. */
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Node options for auth tests: cheap hashes (1000 iterations) and `clock`. */
export function authNodeOptions(
  clock: FakeClock,
  extra: SingleNodeOptions = {},
): SingleNodeOptions {
  return {
    ...extra,
    authOptions: { iterations: 1000, now: clock.now, ...extra.authOptions },
  };
}

/** `Authorization: Bearer <token>`. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** Gets a token for `user`; asserts it was issued. */
export async function login(
  n: SingleNode,
  user: string,
  password = PASSWORD,
): Promise<string> {
  const a = await n.call("POST", "/v1/auth/token", { user, password });
  assert.equal(a.status, 200, JSON.stringify(a.json));
  return String(a.json.token);
}

/** The test users' tokens. */
export interface Tokens {
  root: string;
  ro: string;
  rw: string;
  nobody: string;
}

/**
 * Makes roles `ro` and `rw` (on prefix `app/`) and users `root`, `ro`,
 * `rw` and `nobody`, turns auth on, and logs every user in.
 */
export async function enableAuth(n: SingleNode): Promise<Tokens> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const a = await n.call(method, path, body);
    assert.ok(a.status < 300, `${method} ${path}: ${JSON.stringify(a.json)}`);
  };
  await ok("PUT", "/v1/auth/roles/ro", {
    permissions: [{ prefix: "app/", read: true }],
  });
  await ok("PUT", "/v1/auth/roles/rw", {
    permissions: [{ prefix: "app/", read: true, write: true }],
  });
  await ok("PUT", "/v1/auth/users/root", {
    password: PASSWORD,
    roles: ["root"],
  });
  await ok("PUT", "/v1/auth/users/ro", { password: PASSWORD, roles: ["ro"] });
  await ok("PUT", "/v1/auth/users/rw", { password: PASSWORD, roles: ["rw"] });
  await ok("PUT", "/v1/auth/users/nobody", { password: PASSWORD });
  await ok("POST", "/v1/auth/enable");
  return await tokens(n);
}

/** Logs every test user in. */
export async function tokens(n: SingleNode): Promise<Tokens> {
  return {
    root: await login(n, "root"),
    ro: await login(n, "ro"),
    rw: await login(n, "rw"),
    nobody: await login(n, "nobody"),
  };
}

/** One server-sent event. */
export interface SseEvent {
  /** `id:`, if any. */
  id?: string;
  /** `event:`. */
  event: string;
  /** `data:`, parsed. */
  data: Record<string, unknown>;
}

/** Reads a watch's events one by one. */
export class SseReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buf = "";
  #ended = false;

  /** Reads `response`'s body. */
  constructor(response: Response) {
    this.#reader = response.body!.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** The next event that is not a progress event, or undefined at the end. */
  async next(): Promise<SseEvent | undefined> {
    for (;;) {
      const i = this.#buf.indexOf("\n\n");
      if (i >= 0) {
        const block = this.#buf.slice(0, i);
        this.#buf = this.#buf.slice(i + 2);
        const f: Record<string, string> = {};
        for (const line of block.split("\n")) {
          const m = line.match(/^(\w+): ?(.*)$/);
          if (m) f[m[1]] = m[2];
        }
        if (f.event === undefined || f.event === "progress") continue;
        return { id: f.id, event: f.event, data: JSON.parse(f.data) };
      }
      if (this.#ended) return undefined;
      const { value, done } = await this.#reader.read();
      if (done) this.#ended = true;
      else this.#buf += value;
    }
  }

  /** Stops reading (the server sees the client go). */
  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
