/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The keys page: a prefix tree of the keys under a prefix
 * (`GET /v1/kv?prefix=`), one key's value with its revisions, edited with
 * compare-and-swap (`PUT` with `ifModRevision` = the revision shown; a 409
 * shows the conflict with the key as it is now and a way to reload),
 * delete (also guarded), and a live tail of a watch on a prefix.
 *
 * @module
 */

import type { KeyValue, ListResult, PutResult } from "../wire/types.ts";
import { ApiFailure, call, get, keyPath, stream } from "./api.ts";
import { confirmAction, fill, h, notice } from "./dom.ts";
import { failure, type Page } from "./page.ts";

/** Most events the tail keeps on screen. */
const TAIL_MAX = 200;

interface TreeNode {
  children: Map<string, TreeNode>;
  key?: KeyValue;
}

/** The keys as a tree of `/`-separated segments. */
function treeOf(kvs: KeyValue[]): TreeNode {
  const root: TreeNode = { children: new Map() };
  for (const kv of kvs) {
    const parts = kv.key.split("/");
    let node = root;
    parts.forEach((p, i) => {
      const name = i < parts.length - 1 ? `${p}/` : p;
      let next = node.children.get(name);
      if (!next) {
        next = { children: new Map() };
        node.children.set(name, next);
      }
      node = next;
    });
    node.key = kv;
  }
  return root;
}

function renderTree(
  node: TreeNode,
  select: (key: string) => void,
): HTMLElement {
  const ul = h("ul", { class: "tree" });
  for (const [name, child] of node.children) {
    const li = h("li");
    if (child.key) {
      li.append(h("a", {
        href: "#/keys",
        class: "key",
        "data-key": child.key.key,
        onclick: (e: Event) => {
          e.preventDefault();
          select(child.key!.key);
        },
      }, name));
    }
    if (child.children.size > 0) {
      li.append(
        h(
          "details",
          { open: true },
          h("summary", {}, name.endsWith("/") ? name : `${name}/`),
          renderTree(child, select),
        ),
      );
    }
    ul.append(li);
  }
  return ul;
}

/** The keys page. */
export const keysPage: Page = {
  id: "keys",
  title: "Keys",
  mount(root) {
    const prefix = h("input", {
      id: "prefix",
      placeholder: "prefix (all keys)",
    });
    const tree = h("div", { id: "tree" });
    const editor = h(
      "div",
      { id: "editor" },
      h("p", { class: "empty" }, "Pick a key"),
    );
    const tailPrefix = h("input", {
      id: "watch-prefix",
      placeholder: "prefix to watch (all keys)",
    });
    const tailToggle = h("button", { id: "watch-toggle" }, "Start tail");
    const tailState = h("span", { id: "watch-state" }, "stopped");
    const tail = h("ol", { id: "tail", reversed: true });
    let watch: AbortController | undefined;
    let current: string | undefined;

    const list = async () => {
      try {
        const r = await get<ListResult>(
          `/v1/kv?prefix=${encodeURIComponent(prefix.value)}`,
        );
        fill(
          tree,
          h(
            "p",
            { class: "summary" },
            `${r.kvs.length} keys${
              r.more ? " (first page)" : ""
            } at revision ${r.revision}`,
          ),
          renderTree(treeOf(r.kvs), select),
        );
      } catch (e) {
        fill(tree, failure(e));
      }
    };

    const showConflict = (
      box: HTMLElement,
      key: string,
      cur: KeyValue | null,
    ) => {
      fill(
        box,
        h("strong", {}, "Conflict: "),
        cur
          ? `${key} was changed elsewhere (now mod revision ${cur.modRevision}, version ${cur.version}). Its value now: `
          : `${key} was deleted elsewhere.`,
        cur ? h("code", { class: "current" }, cur.value) : null,
        " ",
        h("button", { class: "reload", onclick: () => select(key) }, "Reload"),
      );
      box.hidden = false;
    };

    const select = async (key: string) => {
      current = key;
      let kv: KeyValue;
      try {
        kv = await get<KeyValue>(`/v1/kv/${keyPath(key)}`);
      } catch (e) {
        fill(editor, failure(e));
        return;
      }
      if (current !== key) return;
      const value = h("textarea", { id: "value", rows: 6 });
      value.value = kv.value;
      const conflict = h("div", {
        id: "conflict",
        class: "conflict",
        hidden: true,
      });
      const save = async () => {
        try {
          const r = await call<PutResult>("PUT", `/v1/kv/${keyPath(key)}`, {
            value: value.value,
            ifModRevision: kv.modRevision,
          });
          notice(`Saved ${key} at revision ${r.revision}`);
          await Promise.all([select(key), list()]);
        } catch (e) {
          if (e instanceof ApiFailure && e.code === "conflict") {
            showConflict(
              conflict,
              key,
              (e.body.current ?? null) as KeyValue | null,
            );
          } else notice((e as Error).message, "error");
        }
      };
      const remove = async () => {
        if (!await confirmAction(`Delete ${key}?`)) return;
        try {
          await call(
            "DELETE",
            `/v1/kv/${keyPath(key)}?ifModRevision=${kv.modRevision}`,
          );
          notice(`Deleted ${key}`);
          fill(editor, h("p", { class: "empty" }, "Pick a key"));
          await list();
        } catch (e) {
          if (e instanceof ApiFailure && e.code === "conflict") {
            showConflict(
              conflict,
              key,
              (e.body.current ?? null) as KeyValue | null,
            );
          } else notice((e as Error).message, "error");
        }
      };
      fill(
        editor,
        h("h3", { id: "key-name" }, key),
        h(
          "dl",
          { class: "revisions", "data-mod-revision": kv.modRevision },
          h("dt", {}, "create revision"),
          h("dd", {}, String(kv.createRevision)),
          h("dt", {}, "mod revision"),
          h("dd", { id: "mod-revision" }, String(kv.modRevision)),
          h("dt", {}, "version"),
          h("dd", {}, String(kv.version)),
          h("dt", {}, "lease"),
          h("dd", {}, kv.lease ? String(kv.lease) : "—"),
        ),
        value,
        h(
          "div",
          { class: "buttons" },
          h("button", { id: "save", onclick: save }, "Save (if unchanged)"),
          h("button", { id: "reload", onclick: () => select(key) }, "Reload"),
          h(
            "button",
            { id: "delete", class: "danger", onclick: remove },
            "Delete",
          ),
        ),
        conflict,
      );
    };

    const newKey = h("input", {
      id: "new-key",
      placeholder: "key",
      required: true,
    });
    const newValue = h("input", { id: "new-value", placeholder: "value" });
    const create = h(
      "form",
      {
        class: "inline",
        onsubmit: async (e: Event) => {
          e.preventDefault();
          const key = newKey.value.trim();
          try {
            // Version 0: only while the key does not exist.
            await call("PUT", `/v1/kv/${keyPath(key)}`, {
              value: newValue.value,
              ifVersion: 0,
            });
            notice(`Created ${key}`);
            newKey.value = "";
            newValue.value = "";
            await list();
            await select(key);
          } catch (err) {
            notice(
              err instanceof ApiFailure && err.code === "conflict"
                ? `${key} exists already`
                : (err as Error).message,
              "error",
            );
          }
        },
      },
      newKey,
      newValue,
      h("button", { id: "create", type: "submit" }, "Create"),
    );

    const startTail = () => {
      watch?.abort();
      const ctl = new AbortController();
      watch = ctl;
      const p = tailPrefix.value;
      tailToggle.textContent = "Stop tail";
      fill(tailState, "connecting");
      tailState.dataset.state = "connecting";
      const onOpen = () => {
        fill(tailState, `watching ${p || "all keys"}`);
        tailState.dataset.state = "open";
      };
      stream(`/v1/watch?prefix=${encodeURIComponent(p)}`, {
        onOpen,
        onEvent: (e) => {
          if (e.event !== "put" && e.event !== "delete") {
            if (e.event === "error" || e.event === "compacted") {
              notice(`Watch ended: ${JSON.stringify(e.data)}`, "error");
            }
            return;
          }
          const d = e.data as { key: string; value?: string; revision: number };
          tail.prepend(h(
            "li",
            {
              class: e.event,
              "data-key": d.key,
              "data-revision": d.revision,
            },
            h("span", { class: "time" }, new Date().toLocaleTimeString()),
            ` ${e.event} `,
            h("strong", {}, d.key),
            e.event === "put"
              ? h("span", { class: "value" }, ` = ${d.value}`)
              : null,
            ` @${d.revision}`,
          ));
          while (tail.children.length > TAIL_MAX) {
            tail.lastElementChild!.remove();
          }
        },
      }, ctl.signal).then(() => {
        if (watch === ctl) stopTail("ended");
      }).catch((e) => {
        if (watch === ctl) stopTail((e as Error).message);
      });
    };
    const stopTail = (why = "stopped") => {
      watch?.abort();
      watch = undefined;
      tailToggle.textContent = "Start tail";
      fill(tailState, why);
      tailState.dataset.state = "closed";
    };
    tailToggle.addEventListener(
      "click",
      () => watch ? stopTail() : startTail(),
    );

    fill(
      root,
      h("h2", {}, "Keys"),
      h(
        "form",
        {
          class: "inline",
          onsubmit: (e: Event) => {
            e.preventDefault();
            list();
          },
        },
        prefix,
        h("button", { id: "list", type: "submit" }, "List"),
      ),
      h("div", { class: "split" }, tree, editor),
      h("section", {}, h("h3", {}, "New key"), create),
      h(
        "section",
        {},
        h("h3", {}, "Watch tail"),
        h("div", { class: "inline" }, tailPrefix, tailToggle, tailState),
        tail,
      ),
    );
    list();
    return () => watch?.abort();
  },
};
