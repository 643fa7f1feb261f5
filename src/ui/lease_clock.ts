/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * Time left on leases, counting down on screen: the leader's `remaining`
 * (`GET /v1/leases/{id}`) is read with each poll and turned into a local
 * deadline; a ticker redraws every `.ttl[data-expires]` element.
 *
 * @module
 */

import type { LeaseInfo } from "../wire/types.ts";
import { get } from "./api.ts";
import { duration, h } from "./dom.ts";

/** Most leases looked up in one poll (the rest show their id only). */
const MAX_LOOKUPS = 100;

/** The leases of one poll, by id (undefined: not found or not permitted). */
export type LeaseTable = Map<number, LeaseInfo | undefined>;

/** Looks up each of `ids` (once each, up to a bound), in parallel. */
export async function lookUpLeases(ids: Iterable<number>): Promise<LeaseTable> {
  const unique = [...new Set(ids)].slice(0, MAX_LOOKUPS);
  const out: LeaseTable = new Map();
  await Promise.all(unique.map(async (id) => {
    try {
      out.set(id, await get<LeaseInfo>(`/v1/leases/${id}`));
    } catch {
      out.set(id, undefined);
    }
  }));
  return out;
}

/**
 * A lease id with its time left counting down (`ttl` total), or just the
 * id when its time left is unknown.
 */
export function leaseCell(id: number, leases: LeaseTable): HTMLElement {
  const l = leases.get(id);
  const span = h("span", { class: "lease", "data-lease": id }, `#${id} `);
  if (l && l.remaining !== null) {
    span.append(h("span", {
      class: "ttl",
      "data-expires": Date.now() + l.remaining * 1000,
      title: `ttl ${l.ttl}s`,
    }, duration(l.remaining)));
    span.append(h("small", {}, ` / ${l.ttl}s`));
  }
  return span;
}

/** Redraws every countdown each 250 ms until the returned function is called. */
export function startCountdowns(root: HTMLElement): () => void {
  const timer = setInterval(() => {
    for (const el of root.querySelectorAll<HTMLElement>(".ttl[data-expires]")) {
      const left = (Number(el.dataset.expires) - Date.now()) / 1000;
      el.textContent = left > 0 ? duration(left) : "expiring";
    }
  }, 250);
  return () => clearInterval(timer);
}
