/**
 * Test support: an in-process raftlock cluster of real servers (DiskStorage
 * in temp dirs, TCP between nodes, HTTP APIs on loopback), for API, client
 * and CLI tests. Real processes for crash tests live in tests/e2e.
 */

import { type Server, startServer } from "../../src/server/server.ts";

/** A free TCP port on 127.0.0.1 (released before use; good enough for tests). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An in-process cluster. */
export class TestCluster {
  /** Running servers by id. */
  servers = new Map<string, Server>();
  /** Peer addresses by id. */
  peers: Record<string, string> = {};
  /** HTTP addresses by id. */
  http: Record<string, string> = {};
  #dir = "";

  /**
   * Starts `n` nodes (n1..nN) and waits until all know the leader. Ports are
   * picked free and released before use, so a parallel test can take one in
   * between: then the whole start is tried again on fresh ports.
   */
  static async start(
    n = 3,
    options: { snapshotEvery?: number } = {},
  ): Promise<TestCluster> {
    for (let attempt = 1;; attempt++) {
      const c = new TestCluster();
      c.#dir = await Deno.makeTempDir({ prefix: "raftlock-test-" });
      for (let i = 1; i <= n; i++) {
        c.peers[`n${i}`] = `127.0.0.1:${freePort()}`;
        c.http[`n${i}`] = `127.0.0.1:${freePort()}`;
      }
      try {
        for (const id of Object.keys(c.peers)) await c.startNode(id, options);
      } catch (e) {
        await c.close();
        if (attempt < 4 && /in use/i.test(String(e))) continue;
        throw e;
      }
      await c.waitForLeader();
      return c;
    }
  }

  /** (Re)starts one node with its data directory. */
  async startNode(
    id: string,
    options: { snapshotEvery?: number } = {},
  ): Promise<Server> {
    const s = await startServer({
      id,
      dataDir: `${this.#dir}/${id}`,
      listen: this.peers[id],
      http: this.http[id],
      peers: this.peers,
      snapshotEvery: options.snapshotEvery,
    });
    this.servers.set(id, s);
    return s;
  }

  /** Stops one node cleanly. */
  async stopNode(id: string): Promise<void> {
    const s = this.servers.get(id);
    this.servers.delete(id);
    await s?.stop();
  }

  /** Base URL of a node's API. */
  url(id: string): string {
    return `http://${this.http[id]}`;
  }

  /** Every node's base URL. */
  urls(): string[] {
    return Object.keys(this.http).map((id) => this.url(id));
  }

  /** The current leader's id, once every running node agrees on one. */
  async waitForLeader(timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leaders = new Set(
        [...this.servers.values()].map((s) => s.node.leader),
      );
      const [l] = leaders;
      if (leaders.size === 1 && l && this.servers.get(l)?.node.isLeader) {
        // Wait until the leader's address is published so forwarding works.
        if (
          [...this.servers.values()].every((s) => s.node.member(l)?.httpAddress)
        ) return l;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error("No leader agreed on within the timeout");
  }

  /** Stops every node and removes the data. */
  async close(): Promise<void> {
    for (const id of [...this.servers.keys()]) await this.stopNode(id);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
