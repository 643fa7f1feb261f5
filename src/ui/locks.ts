/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The locks page: locks, leader elections, semaphores and read-write
 * locks, each with its holders (token, owner, lease and the lease's time
 * left counting down) and its waiters in queue order, polled every two
 * seconds. A kind the login may not list shows "not permitted".
 *
 * @module
 */

import type {
  ElectionInfo,
  LockInfo,
  RwlockInfo,
  SemaphoreInfo,
} from "../wire/types.ts";
import { get } from "./api.ts";
import { fill, h, table } from "./dom.ts";
import {
  leaseCell,
  type LeaseTable,
  lookUpLeases,
  startCountdowns,
} from "./lease_clock.ts";
import { failure, type Page, poll } from "./page.ts";

const EVERY_MS = 2000;

type Listed<T> = T[] | Error;

async function listed<T>(path: string, field: string): Promise<Listed<T>> {
  try {
    return (await get<Record<string, T[]>>(path))[field];
  } catch (e) {
    return e as Error;
  }
}

function waitersCell(waiters: unknown): HTMLElement {
  // A count, or the queue (first in line first).
  if (typeof waiters === "number") return h("span", {}, String(waiters));
  const list = waiters as {
    owner?: string;
    lease?: number;
    mode?: string;
    permits?: number;
  }[];
  if (list.length === 0) return h("span", {}, "0");
  return h(
    "ol",
    { class: "waiters" },
    list.map((w) =>
      h(
        "li",
        {},
        w.owner || "(no owner)",
        w.mode ? ` ${w.mode}` : null,
        w.permits ? ` ×${w.permits}` : null,
        w.lease ? ` lease #${w.lease}` : null,
      )
    ),
  );
}

function section<T>(
  title: string,
  id: string,
  items: Listed<T>,
  head: string[],
  row: (x: T) => HTMLTableRowElement,
): HTMLElement {
  return h(
    "section",
    { id },
    h("h3", {}, title),
    items instanceof Error ? failure(items) : table(head, items.map(row)),
  );
}

function render(
  root: HTMLElement,
  data: {
    locks: Listed<LockInfo>;
    elections: Listed<ElectionInfo>;
    semaphores: Listed<SemaphoreInfo>;
    rwlocks: Listed<RwlockInfo>;
  },
  leases: LeaseTable,
) {
  fill(
    root,
    section("Locks", "locks", data.locks, [
      "name",
      "holder",
      "token",
      "lease (time left)",
      "waiters",
    ], (l) =>
      h(
        "tr",
        { "data-name": l.name },
        h("td", {}, l.name),
        h("td", {}, l.holder ? l.holder.owner || "(no owner)" : "free"),
        h("td", {}, l.holder ? String(l.holder.token) : "—"),
        h("td", {}, l.holder ? leaseCell(l.holder.lease, leases) : "—"),
        h("td", {}, waitersCell(l.waiters)),
      )),
    section("Elections", "elections", data.elections, [
      "name",
      "leader's value",
      "token",
      "lease (time left)",
      "candidates waiting",
    ], (e) =>
      h(
        "tr",
        { "data-name": e.name },
        h("td", {}, e.name),
        h("td", {}, e.leader ? e.leader.value : "nobody leads"),
        h("td", {}, e.leader ? String(e.leader.token) : "—"),
        h("td", {}, e.leader ? leaseCell(e.leader.lease, leases) : "—"),
        h("td", {}, String(e.candidates)),
      )),
    section("Semaphores", "semaphores", data.semaphores, [
      "name",
      "permits held / limit",
      "holders (token, owner, permits, lease)",
      "waiters in order",
    ], (s) =>
      h(
        "tr",
        { "data-name": s.name },
        h("td", {}, s.name),
        h("td", {}, `${s.held} / ${s.limit}`),
        h(
          "td",
          {},
          h(
            "ul",
            { class: "holders" },
            s.holders.map((x) =>
              h(
                "li",
                {},
                `${x.token} ${x.owner || "(no owner)"} ×${x.permits} `,
                leaseCell(x.lease, leases),
              )
            ),
          ),
        ),
        h("td", {}, waitersCell(s.waiters)),
      )),
    section("Read-write locks", "rwlocks", data.rwlocks, [
      "name",
      "mode",
      "holders (token, owner, mode, lease)",
      "waiters in order",
    ], (l) =>
      h(
        "tr",
        { "data-name": l.name },
        h("td", {}, l.name),
        h("td", {}, l.mode ?? "free"),
        h(
          "td",
          {},
          h(
            "ul",
            { class: "holders" },
            l.holders.map((x) =>
              h(
                "li",
                {},
                `${x.token} ${x.owner || "(no owner)"} ${x.mode} `,
                leaseCell(x.lease, leases),
              )
            ),
          ),
        ),
        h("td", {}, waitersCell(l.waiters)),
      )),
  );
}

/** The locks page. */
export const locksPage: Page = {
  id: "locks",
  title: "Locks",
  mount(root) {
    const body = h("div");
    fill(
      root,
      h("h2", {}, "Locks, elections, semaphores, read-write locks"),
      body,
    );
    const stopPoll = poll(async () => {
      const [locks, elections, semaphores, rwlocks] = await Promise.all([
        listed<LockInfo>("/v1/locks", "locks"),
        listed<ElectionInfo>("/v1/elections", "elections"),
        listed<SemaphoreInfo>("/v1/semaphores", "semaphores"),
        listed<RwlockInfo>("/v1/rwlocks", "rwlocks"),
      ]);
      const ids: number[] = [];
      if (!(locks instanceof Error)) {
        for (const l of locks) if (l.holder) ids.push(l.holder.lease);
      }
      if (!(elections instanceof Error)) {
        for (const e of elections) if (e.leader) ids.push(e.leader.lease);
      }
      if (!(semaphores instanceof Error)) {
        for (const s of semaphores) {
          for (const x of s.holders) ids.push(x.lease);
        }
      }
      if (!(rwlocks instanceof Error)) {
        for (const l of rwlocks) for (const x of l.holders) ids.push(x.lease);
      }
      const leases = await lookUpLeases(ids);
      render(body, { locks, elections, semaphores, rwlocks }, leases);
    }, EVERY_MS);
    const stopClock = startCountdowns(root);
    return () => {
      stopPoll();
      stopClock();
    };
  },
};
