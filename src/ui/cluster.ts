/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The cluster page: every member's role, term, commit and applied index,
 * lag and health (a member that does not answer is unhealthy), and the
 * leader, polled each second from `GET /v1/cluster/status`; actions to
 * move leadership, add a learner, promote and remove, each confirmed
 * first.
 *
 * @module
 */

import type { ClusterStatus, MemberStatus } from "../wire/types.ts";
import { call, get } from "./api.ts";
import { confirmAction, fill, h, notice, table } from "./dom.ts";
import { failure, type Page, poll } from "./page.ts";

/** How often the cluster is polled, in ms. */
const EVERY_MS = 1000;

function lagOf(m: MemberStatus, commit: number): string {
  if (!m.status) return "—";
  return String(Math.max(0, commit - m.status.applied));
}

async function act(question: string, f: () => Promise<unknown>) {
  if (!await confirmAction(question)) return;
  try {
    await f();
    notice("Done");
  } catch (e) {
    notice((e as Error).message, "error");
  }
}

function row(m: MemberStatus, c: ClusterStatus, commit: number) {
  const s = m.status;
  const healthy = s !== null;
  const leader = m.id === c.leader;
  const actions: HTMLElement[] = [];
  if (m.role === "voter" && !leader) {
    actions.push(h("button", {
      class: "transfer",
      onclick: () =>
        act(
          `Move leadership from ${c.leader || "(none)"} to ${m.id}?`,
          () => call("POST", "/v1/cluster/leader", { to: m.id }),
        ),
    }, "Make leader"));
  }
  if (m.role === "learner") {
    actions.push(h("button", {
      class: "promote",
      onclick: () =>
        act(
          `Promote learner ${m.id} to voter?`,
          () => call("POST", `/v1/cluster/members/${m.id}/promote`),
        ),
    }, "Promote"));
  }
  actions.push(h("button", {
    class: "remove danger",
    onclick: () =>
      act(
        `Remove ${m.id} from the cluster?`,
        () => call("DELETE", `/v1/cluster/members/${m.id}`),
      ),
  }, "Remove"));
  return h(
    "tr",
    {
      "data-member": m.id,
      "data-health": healthy ? "healthy" : "unhealthy",
      "data-role": s?.role ?? "",
      class: leader ? "leader" : "",
    },
    h("td", {}, m.id, leader ? h("span", { class: "badge" }, "leader") : null),
    h("td", { class: "role" }, s?.role ?? "—"),
    h("td", {}, m.role),
    h("td", {}, s ? String(s.term) : "—"),
    h("td", {}, s ? String(s.commit) : "—"),
    h("td", {}, s ? String(s.applied) : "—"),
    h("td", { class: "lag" }, lagOf(m, commit)),
    h(
      "td",
      { class: "health", title: m.error ?? "" },
      h(
        "span",
        { class: healthy ? "ok" : "bad" },
        healthy ? "healthy" : "unhealthy",
      ),
      m.error ? h("small", {}, ` ${m.error}`) : null,
    ),
    h("td", {}, m.httpAddress ?? "—"),
    h("td", { class: "actions" }, actions),
  );
}

function addForm(): HTMLElement {
  const id = h("input", { name: "id", placeholder: "n4", required: true });
  const peer = h("input", {
    name: "peer",
    placeholder: "10.0.0.4:7001",
    required: true,
  });
  const http = h("input", { name: "http", placeholder: "10.0.0.4:8001" });
  const form = h(
    "form",
    {
      class: "inline",
      onsubmit: (e: Event) => {
        e.preventDefault();
        const body: Record<string, unknown> = {
          id: id.value.trim(),
          peerAddress: peer.value.trim(),
          learner: true,
        };
        if (http.value.trim()) body.httpAddress = http.value.trim();
        act(
          `Add ${body.id} at ${body.peerAddress} as a learner?`,
          () => call("POST", "/v1/cluster/members", body),
        );
      },
    },
    h("label", {}, "id ", id),
    h("label", {}, "peer address ", peer),
    h("label", {}, "HTTP address ", http),
    h("button", { type: "submit" }, "Add learner"),
  );
  return h("section", {}, h("h3", {}, "Add a member"), form);
}

/** The cluster page. */
export const clusterPage: Page = {
  id: "cluster",
  title: "Cluster",
  mount(root) {
    const summary = h("p", { class: "summary" });
    const members = h("div", { id: "members" });
    fill(root, h("h2", {}, "Cluster"), summary, members, addForm());
    let shown = "";
    return poll(async () => {
      let c: ClusterStatus;
      try {
        c = await get<ClusterStatus>("/v1/cluster/status");
      } catch (e) {
        shown = "";
        fill(members, failure(e));
        return;
      }
      // Redraw only on a change, so a button is not replaced mid-click.
      const now = JSON.stringify(c);
      if (now === shown) return;
      shown = now;
      // Lag: behind the highest commit index any member reports.
      const commit = Math.max(
        0,
        ...c.members.map((m) => m.status?.commit ?? 0),
      );
      const healthy = c.members.filter((m) => m.status).length;
      fill(
        summary,
        "Leader ",
        h("strong", { id: "leader" }, c.leader || "none"),
        ` · term ${c.term} · ${healthy}/${c.members.length} members healthy · seen from ${c.id}`,
      );
      fill(
        members,
        table(
          [
            "member",
            "role",
            "kind",
            "term",
            "commit",
            "applied",
            "lag",
            "health",
            "HTTP",
            "",
          ],
          c.members.map((m) => row(m, c, commit)),
        ),
      );
    }, EVERY_MS);
  },
};
