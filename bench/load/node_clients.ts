/**
 * The comparison a TypeScript user would make: raftlock's own `Client`
 * (HTTP/1.1 over `fetch`) against etcd's Node client `npm:etcd3` (gRPC
 * over HTTP/2, `@grpc/grpc-js` under Deno's Node compatibility), each
 * used the way its README shows, one client shared by every caller.
 *
 * - put: `client.put(key, value)` / `etcd.put(key).value(value)`;
 * - linearizable get: `client.get(key)` / `etcd.get(key).string()` (both
 *   linearizable by default);
 * - lock cycle: `client.lock(name)` then `lock.release()` (acquire with a
 *   new lease, release, revoke the lease) / `etcd.lock(name).acquire()`
 *   then `release()` (lease grant, a create-if-absent txn, lease revoke).
 *
 * @module
 */

import { Client } from "../../src/client/mod.ts";

/** One system's client library, as operations the load loops call. */
export interface ClientLibrary {
  /** What it is, e.g. `raftlock Client` or `etcd3 1.1.2 (gRPC)`. */
  readonly label: string;
  /** Writes a key. */
  put(key: string, value: string): Promise<void>;
  /** Reads a key linearizably. */
  get(key: string): Promise<void>;
  /** Takes and frees a lock the library's way. */
  lockCycle(name: string): Promise<void>;
  /** Closes connections. */
  close(): void;
}

/**
 * raftlock's `Client` over `endpoints`.
 *
 * @example
 * ```ts
 * import { raftlockLibrary } from "./node_clients.ts";
 *
 * const lib = raftlockLibrary(["http://127.0.0.1:17150"]);
 * await lib.put("k0", "v");
 * lib.close();
 * ```
 */
export function raftlockLibrary(endpoints: string[]): ClientLibrary {
  const client = new Client({ endpoints });
  return {
    label: "raftlock Client",
    async put(key, value) {
      await client.put(key, value);
    },
    async get(key) {
      await client.get(key);
    },
    async lockCycle(name) {
      const lock = await client.lock(name, { ttl: 10 });
      await lock.release();
    },
    close: () => client.close(),
  };
}

/** The etcd3 version the import map resolves, for labels. */
const ETCD3_SPEC = "npm:etcd3@1.1.2";

/**
 * etcd3's `Etcd3` over `endpoints` (client URLs), or the error that kept
 * it from loading (the bench then skips these rows and says why).
 *
 * @example
 * ```ts
 * import { etcd3Library } from "./node_clients.ts";
 *
 * const lib = await etcd3Library(["http://127.0.0.1:2379"]);
 * if (lib instanceof Error) console.log(lib.message);
 * else lib.close();
 * ```
 */
export async function etcd3Library(
  endpoints: string[],
): Promise<ClientLibrary | Error> {
  let Etcd3;
  try {
    ({ Etcd3 } = await import("etcd3"));
  } catch (e) {
    return new Error(`${ETCD3_SPEC} did not load: ${(e as Error).message}`);
  }
  const client = new Etcd3({
    hosts: endpoints.map((e) => e.replace(/^https?:\/\//, "")),
  });
  return {
    label: `etcd3 ${ETCD3_SPEC.split("@")[1]} (gRPC)`,
    async put(key, value) {
      await client.put(key).value(value);
    },
    async get(key) {
      await client.get(key).string();
    },
    async lockCycle(name) {
      const lock = client.lock(name).ttl(10);
      await lock.acquire();
      await lock.release();
    },
    close: () => client.close(),
  };
}
