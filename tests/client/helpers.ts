/**
 * Helpers for client tests: a cluster with a fault proxy in front of each
 * node's HTTP API, so a test can cut a node's client connections the way a
 * crash would.
 */

import { TestCluster } from "../support/cluster.ts";
import { FaultProxy } from "../../src/transport/fault_proxy.ts";

/** A test cluster whose HTTP APIs are reached through proxies. */
export class ProxiedCluster {
  /** The cluster. */
  readonly cluster: TestCluster;
  /** A proxy per node id. */
  readonly proxies: Map<string, FaultProxy>;

  private constructor(cluster: TestCluster, proxies: Map<string, FaultProxy>) {
    this.cluster = cluster;
    this.proxies = proxies;
  }

  /** Starts `n` nodes and a proxy in front of each. */
  static async start(n = 3): Promise<ProxiedCluster> {
    const c = await TestCluster.start(n);
    const proxies = new Map(
      Object.keys(c.http).map((id) => [id, FaultProxy.listen(c.http[id])]),
    );
    return new ProxiedCluster(c, proxies);
  }

  /** The proxies' URLs. */
  urls(): string[] {
    return [...this.proxies.values()].map((p) => `http://${p.addr}`);
  }

  /** The node id behind a proxy URL. */
  idOf(url: string | undefined): string {
    for (const [id, p] of this.proxies) {
      if (`http://${p.addr}` === url) return id;
    }
    throw new Error(`No node behind ${url}`);
  }

  /** Cuts the node's client connections (as a crash would) and stops it. */
  async kill(id: string): Promise<void> {
    this.proxies.get(id)!.block({ mode: "close" });
    await this.cluster.stopNode(id);
  }

  /** Stops everything. */
  async close(): Promise<void> {
    for (const p of this.proxies.values()) {
      p.block({ mode: "close" });
    }
    await this.cluster.close();
    for (const p of this.proxies.values()) await p.close();
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
