/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * DOM helpers of the console: elements built with {@linkcode h} (text is
 * always set as text, never parsed as HTML), a confirm dialog, notices,
 * and formatting.
 *
 * @module
 */

/** Attributes of {@linkcode h}: `on*` functions become listeners. */
export type Attrs = Record<
  string,
  string | number | boolean | undefined | ((e: Event) => void)
>;

/** A child of {@linkcode h}: nodes, text, or nothing. */
export type Child = Node | string | number | null | undefined | false;

/**
 * Builds an element; strings become text nodes, so data is never markup.
 *
 * @example
 * ```ts ignore
 * const row = h("tr", { "data-key": "a" }, h("td", {}, "a"));
 * ```
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(v);
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}

/** Replaces an element's children. */
export function fill(el: Element, ...children: (Child | Child[])[]): void {
  el.replaceChildren();
  append(el, children);
}

/**
 * Asks the user to confirm `question` in the page's dialog; resolves true
 * on "Confirm".
 */
export function confirmAction(question: string): Promise<boolean> {
  const dialog = document.getElementById("confirm") as HTMLDialogElement;
  fill(dialog.querySelector(".question")!, question);
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => resolve(dialog.returnValue === "confirm"),
      { once: true },
    );
  });
}

/** Shows a short notice at the top of the page (`error` in red). */
export function notice(text: string, kind: "info" | "error" = "info"): void {
  const box = document.getElementById("notices")!;
  const n = h("div", { class: `notice ${kind}`, role: "status" }, text);
  box.append(n);
  setTimeout(() => n.remove(), kind === "error" ? 8000 : 4000);
}

/** Seconds as `1m 05s` (or `12s`). */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** A table with a header row and `rows`, or `empty` when there are none. */
export function table(
  head: string[],
  rows: HTMLTableRowElement[],
  empty = "None",
): HTMLElement {
  if (rows.length === 0) return h("p", { class: "empty" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, head.map((t) => h("th", {}, t)))),
    h("tbody", {}, rows),
  );
}
