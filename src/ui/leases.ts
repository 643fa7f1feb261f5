/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The leases page: every lease with its TTL, its time left counting down,
 * the keys attached to it and the locks it holds; revoke, confirmed
 * first. Polled every two seconds.
 *
 * @module
 */

import type { LeaseSummary } from "../wire/types.ts";
import { call, get } from "./api.ts";
import { confirmAction, fill, h, notice, table } from "./dom.ts";
import { leaseCell, lookUpLeases, startCountdowns } from "./lease_clock.ts";
import { failure, type Page, poll } from "./page.ts";

const EVERY_MS = 2000;

/** The leases page. */
export const leasesPage: Page = {
  id: "leases",
  title: "Leases",
  mount(root) {
    const body = h("div", { id: "leases" });
    fill(root, h("h2", {}, "Leases"), body);
    const stopPoll = poll(async () => {
      let leases: LeaseSummary[];
      try {
        leases = (await get<{ leases: LeaseSummary[] }>("/v1/leases")).leases;
      } catch (e) {
        fill(body, failure(e));
        return;
      }
      const info = await lookUpLeases(leases.map((l) => l.id));
      fill(
        body,
        table(
          ["lease (time left / ttl)", "keys", "locks", ""],
          leases.map((l) => {
            const i = info.get(l.id);
            return h(
              "tr",
              { "data-lease": l.id },
              h("td", {}, leaseCell(l.id, info)),
              h("td", {}, i ? i.keys.join(", ") || "—" : "?"),
              h("td", {}, i ? i.locks.join(", ") || "—" : "?"),
              h(
                "td",
                {},
                h("button", {
                  class: "danger",
                  onclick: async () => {
                    if (
                      !await confirmAction(
                        `Revoke lease ${l.id}? Its keys are deleted and its locks released.`,
                      )
                    ) return;
                    try {
                      await call("DELETE", `/v1/leases/${l.id}`);
                      notice(`Revoked ${l.id}`);
                    } catch (e) {
                      notice((e as Error).message, "error");
                    }
                  },
                }, "Revoke"),
              ),
            );
          }),
          "No leases",
        ),
      );
    }, EVERY_MS);
    const stopClock = startCountdowns(root);
    return () => {
      stopPoll();
      stopClock();
    };
  },
};
