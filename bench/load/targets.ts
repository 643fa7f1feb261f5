/**
 * What the load generator talks to: raftlock's HTTP API or etcd's HTTP/JSON
 * gateway, behind one interface so both are measured by the same client.
 *
 * @module
 */

/** One system under test. */
export interface Target {
  /** "raftlock" or "etcd". */
  readonly name: string;
  /** Writes a key. */
  put(conn: number, key: string, value: string): Promise<void>;
  /** Reads a key, linearizably or not. */
  get(conn: number, key: string, serializable: boolean): Promise<void>;
  /** One lock cycle as a user of the system would do it. */
  lockCycle(conn: number, name: string): Promise<void>;
  /** Grants then revokes a lease. */
  leaseCycle(conn: number): Promise<void>;
  /** Campaigns in an election (a lease made with it), then resigns; absent when unsupported. */
  campaignCycle?(conn: number, name: string): Promise<void>;
  /** Acquires a permit of a semaphore of `limit`, then releases it; absent when unsupported. */
  semaphoreCycle?(conn: number, name: string, limit: number): Promise<void>;
  /** Watches a prefix; calls `onEvent` per event. Resolves once the watch is established. */
  watch(
    conn: number,
    prefix: string,
    onEvent: () => void,
    signal: AbortSignal,
  ): Promise<void>;
}

async function ok(r: Response, what: string): Promise<unknown> {
  const text = await r.text();
  if (!r.ok) throw new Error(`${what}: ${r.status} ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : {};
}

function pick(endpoints: string[], conn: number): string {
  return endpoints[conn % endpoints.length];
}

/** raftlock over its HTTP API, connections spread over every node. */
export class RaftlockTarget implements Target {
  readonly name = "raftlock";
  /** The nodes' base URLs. */
  constructor(readonly endpoints: string[]) {}

  async put(conn: number, key: string, value: string): Promise<void> {
    await ok(
      await fetch(`${pick(this.endpoints, conn)}/v1/kv/${key}`, {
        method: "PUT",
        body: JSON.stringify({ value }),
      }),
      "put",
    );
  }

  async get(conn: number, key: string, serializable: boolean): Promise<void> {
    const r = await fetch(
      `${pick(this.endpoints, conn)}/v1/kv/${key}${
        serializable ? "?consistency=serializable" : ""
      }`,
    );
    if (r.status === 404) {
      await r.body?.cancel();
      return;
    }
    await ok(r, "get");
  }

  async lockCycle(conn: number, name: string): Promise<void> {
    const base = pick(this.endpoints, conn);
    const g = await ok(
      await fetch(`${base}/v1/locks/${name}/acquire`, {
        method: "POST",
        body: JSON.stringify({ ttl: 10, wait: 10_000 }),
      }),
      "acquire",
    ) as { token: number };
    await ok(
      await fetch(`${base}/v1/locks/${name}/release`, {
        method: "POST",
        body: JSON.stringify({ token: g.token }),
      }),
      "release",
    );
  }

  async campaignCycle(conn: number, name: string): Promise<void> {
    const base = pick(this.endpoints, conn);
    const g = await ok(
      await fetch(`${base}/v1/elections/${name}/campaign`, {
        method: "POST",
        body: JSON.stringify({ value: `c${conn}`, ttl: 10, wait: 10_000 }),
      }),
      "campaign",
    ) as { token: number };
    await ok(
      await fetch(`${base}/v1/elections/${name}/resign`, {
        method: "POST",
        body: JSON.stringify({ token: g.token }),
      }),
      "resign",
    );
  }

  async semaphoreCycle(
    conn: number,
    name: string,
    limit: number,
  ): Promise<void> {
    const base = pick(this.endpoints, conn);
    const g = await ok(
      await fetch(`${base}/v1/semaphores/${name}/acquire`, {
        method: "POST",
        body: JSON.stringify({ limit, ttl: 10, wait: 10_000 }),
      }),
      "acquire",
    ) as { token: number };
    await ok(
      await fetch(`${base}/v1/semaphores/${name}/release`, {
        method: "POST",
        body: JSON.stringify({ token: g.token }),
      }),
      "release",
    );
  }

  async leaseCycle(conn: number): Promise<void> {
    const base = pick(this.endpoints, conn);
    const l = await ok(
      await fetch(`${base}/v1/leases`, { method: "POST", body: '{"ttl":10}' }),
      "grant",
    ) as { id: number };
    await ok(
      await fetch(`${base}/v1/leases/${l.id}`, { method: "DELETE" }),
      "revoke",
    );
  }

  async watch(
    conn: number,
    prefix: string,
    onEvent: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    const r = await fetch(
      `${pick(this.endpoints, conn)}/v1/watch?prefix=${
        encodeURIComponent(prefix)
      }`,
      { signal },
    );
    if (!r.ok || !r.body) throw new Error(`watch: ${r.status}`);
    countInStream(r.body, "event: put", onEvent);
  }
}

// Calls `onEvent` once per occurrence of `marker` in a streamed body (an
// SSE stream or etcd's JSON watch stream), until it ends or is aborted.
async function countInStream(
  body: ReadableStream<Uint8Array>,
  marker: string,
  onEvent: () => void,
): Promise<void> {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      // Chunks may split a marker; at these event sizes that loses nothing
      // measurable, and watch counts are rates.
      let i = -1;
      while ((i = value.indexOf(marker, i + 1)) >= 0) onEvent();
    }
  } catch {
    // aborted
  }
}

const b64 = (s: string) => btoa(s);

function prefixEnd(prefix: string): string {
  // etcd range_end for a prefix: the prefix with its last byte incremented.
  const bytes = new TextEncoder().encode(prefix);
  bytes[bytes.length - 1]++;
  return btoa(String.fromCharCode(...bytes));
}

/** etcd over its HTTP/JSON gateway (v3 API), connections spread over every member. */
export class EtcdTarget implements Target {
  readonly name = "etcd";
  /** The members' client URLs. */
  constructor(readonly endpoints: string[]) {}

  #post(
    conn: number,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<Response> {
    return fetch(`${pick(this.endpoints, conn)}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
      signal,
    });
  }

  async put(conn: number, key: string, value: string): Promise<void> {
    await ok(
      await this.#post(conn, "/v3/kv/put", {
        key: b64(key),
        value: b64(value),
      }),
      "put",
    );
  }

  async get(conn: number, key: string, serializable: boolean): Promise<void> {
    await ok(
      await this.#post(conn, "/v3/kv/range", { key: b64(key), serializable }),
      "range",
    );
  }

  async lockCycle(conn: number, name: string): Promise<void> {
    // As etcd users do it: a lease, the lock on it, unlock, revoke.
    const l = await ok(
      await this.#post(conn, "/v3/lease/grant", { TTL: 10 }),
      "grant",
    ) as { ID: string };
    const k = await ok(
      await this.#post(conn, "/v3/lock/lock", { name: b64(name), lease: l.ID }),
      "lock",
    ) as {
      key: string;
    };
    await ok(
      await this.#post(conn, "/v3/lock/unlock", { key: k.key }),
      "unlock",
    );
    await ok(
      await this.#post(conn, "/v3/lease/revoke", { ID: l.ID }),
      "revoke",
    );
  }

  async leaseCycle(conn: number): Promise<void> {
    const l = await ok(
      await this.#post(conn, "/v3/lease/grant", { TTL: 10 }),
      "grant",
    ) as { ID: string };
    await ok(
      await this.#post(conn, "/v3/lease/revoke", { ID: l.ID }),
      "revoke",
    );
  }

  async watch(
    conn: number,
    prefix: string,
    onEvent: () => void,
    signal: AbortSignal,
  ): Promise<void> {
    const r = await this.#post(
      conn,
      "/v3/watch",
      { create_request: { key: b64(prefix), range_end: prefixEnd(prefix) } },
      signal,
    );
    if (!r.ok || !r.body) throw new Error(`watch: ${r.status}`);
    countInStream(r.body, '"kv":', onEvent);
  }
}
