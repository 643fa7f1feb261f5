/**
 * Shared by the real-process auth tests: the users and roles they use
 * (root; `ro`, which may read `app/`; `rw`, which may read and write it;
 * `nobody`, with no role), turning auth on over HTTP and waiting until
 * every node knows, logging in, running raftctl, and reading a watch.
 */

import assert from "node:assert/strict";
import { signToken } from "../../src/auth/mod.ts";
import { type E2ECluster, http, sleep } from "./harness.ts";

/** Every test user's password. */
export const PASSWORD = "password-1";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A 2xx call or a failed assertion naming it; answers the body. */
export async function ok(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  token?: string,
): Promise<Record<string, unknown>> {
  const r = await http(`${url}${path}`, {
    method,
    body,
    token,
    timeoutMs: 10_000,
  });
  assert.ok(
    r.status >= 200 && r.status < 300,
    `${method} ${path}: ${r.status} ${r.error ?? JSON.stringify(r.body)}`,
  );
  return r.body;
}

/**
 * Makes roles `ro` and `rw` (on `app/`) and users `root`, `ro`, `rw` and
 * `nobody` through node `via`, turns auth on, waits until every running
 * node has it on, and gives the harness root's credentials.
 */
export async function enableAuth(c: E2ECluster, via: string): Promise<void> {
  const url = c.url(via);
  await ok(url, "PUT", "/v1/auth/roles/ro", {
    permissions: [{ prefix: "app/", read: true }],
  });
  await ok(url, "PUT", "/v1/auth/roles/rw", {
    permissions: [{ prefix: "app/", read: true, write: true }],
  });
  await ok(url, "PUT", "/v1/auth/users/root", {
    password: PASSWORD,
    roles: ["root"],
  });
  await ok(url, "PUT", "/v1/auth/users/ro", {
    password: PASSWORD,
    roles: ["ro"],
  });
  await ok(url, "PUT", "/v1/auth/users/rw", {
    password: PASSWORD,
    roles: ["rw"],
  });
  await ok(url, "PUT", "/v1/auth/users/nobody", { password: PASSWORD });
  await ok(url, "POST", "/v1/auth/enable");
  await waitAuth(c, true);
  c.auth = { user: "root", password: PASSWORD };
}

/** Waits until every running node says auth is `on` (or off). */
export async function waitAuth(
  c: E2ECluster,
  on: boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await Promise.all(
      c.running().map((id) => http(`${c.url(id)}/v1/auth/status`)),
    );
    if (st.every((r) => r.status === 200 && r.body.enabled === on)) return;
    if (Date.now() > deadline) {
      throw new Error(`Auth did not turn ${on ? "on" : "off"} everywhere`);
    }
    await sleep(50);
  }
}

/** Logs `user` in on node `via`; asserts a token was issued. */
export async function login(
  c: E2ECluster,
  via: string,
  user: string,
  password = PASSWORD,
): Promise<string> {
  const r = await http<{ token: string }>(`${c.url(via)}/v1/auth/token`, {
    method: "POST",
    body: { user, password },
    timeoutMs: 10_000,
  });
  assert.equal(r.status, 200, `login ${user} on ${via}: ${JSON.stringify(r)}`);
  return r.body.token;
}

/** A JWT's header and claims (not verified). */
export function decodeToken(
  token: string,
): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const part = (s: string) =>
    JSON.parse(atob(s.replace(/-/g, "+").replace(/_/g, "/")));
  const [h, p] = token.split(".");
  return { header: part(h), claims: part(p) };
}

/**
 * A token with the claims and key id of `real` (a root token, say) but
 * signed with a key the cluster never made.
 */
export function forge(real: string): Promise<string> {
  const { header, claims } = decodeToken(real);
  return signToken(
    {
      sub: String(claims.sub),
      epoch: Number(claims.epoch),
      iat: Number(claims.iat),
      exp: Number(claims.exp),
    },
    {
      kid: String(header.kid),
      key: crypto.getRandomValues(new Uint8Array(32)),
    },
  );
}

/** What a raftctl run printed. */
export interface CtlRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Runs raftctl with `args`; of the RAFTLOCK_ variables, only those in `env`. */
export async function raftctl(
  args: string[],
  env: Record<string, string> = {},
  options: { netns?: string } = {},
): Promise<CtlRun> {
  // In a network namespace of its own (a client on another host), if asked.
  const wrap = options.netns
    ? ["ip", "netns", "exec", options.netns, Deno.execPath()]
    : [Deno.execPath()];
  const out = await new Deno.Command(wrap[0], {
    args: [
      ...wrap.slice(1),
      "run",
      "-A",
      "--quiet",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}cli/raftctl.ts`,
      ...args,
    ],
    stdin: "null",
    // Nothing of raftlock's from the outer environment.
    clearEnv: true,
    env: {
      ...Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([k]) =>
          !k.startsWith("RAFTLOCK_")
        ),
      ),
      NO_COLOR: "1",
      ...env,
    },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Asserts a raftctl run succeeded; answers its output. */
export function ctlOk(r: CtlRun): string {
  assert.equal(r.code, 0, `raftctl exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One server-sent event. */
export interface SseEvent {
  /** `event:`. */
  event: string;
  /** `data:`, parsed. */
  data: Record<string, unknown>;
}

/**
 * Opens a watch and collects its events (progress events left out) until
 * `close()`; `opened` is the status of the answer.
 */
export async function collectWatch(
  url: string,
  token: string | undefined,
): Promise<{
  status: number;
  events: SseEvent[];
  close(): Promise<void>;
}> {
  const ctl = new AbortController();
  const r = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    signal: ctl.signal,
  });
  const events: SseEvent[] = [];
  if (!r.ok || !r.body) {
    await r.body?.cancel();
    return { status: r.status, events, close: () => Promise.resolve() };
  }
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  const done = (async () => {
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buf += value;
        let i;
        while ((i = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const f: Record<string, string> = {};
          for (const line of block.split("\n")) {
            const m = line.match(/^(\w+): ?(.*)$/);
            if (m) f[m[1]] = m[2];
          }
          if (f.event && f.event !== "progress") {
            events.push({ event: f.event, data: JSON.parse(f.data) });
          }
        }
      }
    } catch {
      // Closed.
    }
  })();
  return {
    status: r.status,
    events,
    async close() {
      ctl.abort();
      await reader.cancel().catch(() => {});
      await done;
    },
  };
}
