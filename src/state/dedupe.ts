/**
 * Duplicate suppression: recent results per client, so a retried command
 * (its first attempt may have committed before the answer was lost) gets
 * its first result instead of applying twice.
 *
 * Bounded per client (the last `perClient` results) and in clients (at most
 * `maxClients`, evicting the least recently used by log order). Results are
 * kept msgpack-encoded, so a snapshot holds exactly the bytes every node
 * would answer with.
 *
 * @module
 */

import { decode, encode } from "../codec/msgpack.ts";
import { freshView } from "./bytes.ts";

/** One client's remembered results, oldest first, as [seq, encoded]. */
export type DedupeClientEntry = [
  client: string,
  results: [number, Uint8Array][],
];

/** Recent results per client. */
export class DedupeTable {
  readonly #perClient: number;
  readonly #maxClients: number;
  // Client → (seq → encoded result). Both maps are in log order of last
  // use: the outer one is reordered on every use, so its first entry is
  // the least recently used client.
  #clients: Map<string, Map<number, Uint8Array>> = new Map();

  /**
   * @param perClient results kept per client (at least 1)
   * @param maxClients clients kept (at least 1)
   */
  constructor(perClient: number, maxClients: number) {
    this.#perClient = Math.max(1, Math.floor(perClient));
    this.#maxClients = Math.max(1, Math.floor(maxClients));
  }

  /** How many clients are remembered. */
  get size(): number {
    return this.#clients.size;
  }

  /** The first result of (client, seq), if remembered (a fresh copy). */
  lookup(client: string, seq: number): unknown | undefined {
    const results = this.#clients.get(client);
    const bytes = results?.get(seq);
    if (bytes === undefined) return undefined;
    this.#touch(client, results!);
    return decode(freshView(bytes));
  }

  /** Remembers the result of (client, seq). */
  remember(client: string, seq: number, result: unknown): void {
    let results = this.#clients.get(client);
    if (!results) results = new Map();
    this.#touch(client, results);
    results.set(seq, encode(result));
    while (results.size > this.#perClient) {
      results.delete(results.keys().next().value!);
    }
    while (this.#clients.size > this.#maxClients) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
  }

  /** The table, least recently used client first. */
  entries(): DedupeClientEntry[] {
    return [...this.#clients].map(([client, results]) => [client, [
      ...results,
    ]]);
  }

  /** Replaces the table (for restore), least recently used client first. */
  load(entries: readonly DedupeClientEntry[]): void {
    this.#clients.clear();
    for (const [client, results] of entries) {
      const m = new Map<number, Uint8Array>();
      for (const [seq, bytes] of results) m.set(seq, bytes.slice());
      this.#clients.set(client, m);
      while (m.size > this.#perClient) m.delete(m.keys().next().value!);
    }
    while (this.#clients.size > this.#maxClients) {
      this.#clients.delete(this.#clients.keys().next().value!);
    }
  }

  #touch(client: string, results: Map<number, Uint8Array>): void {
    this.#clients.delete(client);
    this.#clients.set(client, results);
  }
}
