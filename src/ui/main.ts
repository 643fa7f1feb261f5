/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The web console's entry (bundled to `dist/console.js`): the login when
 * auth is on, the navigation between pages (`#/cluster`, `#/keys`,
 * `#/locks`, `#/leases`, `#/charts`), and the stats sampler behind the
 * charts.
 *
 * @module
 */

import { call, get, setToken, token, whenUnauthenticated } from "./api.ts";
import { chartsPage, Sampler } from "./charts.ts";
import { clusterPage } from "./cluster.ts";
import { fill, h, notice } from "./dom.ts";
import { keysPage } from "./keys.ts";
import { leasesPage } from "./leases.ts";
import { locksPage } from "./locks.ts";
import type { Page } from "./page.ts";

const sampler = new Sampler();
const PAGES: Page[] = [
  clusterPage,
  keysPage,
  locksPage,
  leasesPage,
  chartsPage(sampler),
];

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
const whoami = document.getElementById("whoami")!;
let unmount: (() => void) | undefined;
let started = false;

function route(): void {
  const id = location.hash.replace(/^#\/?/, "") || "cluster";
  const page = PAGES.find((p) => p.id === id) ?? PAGES[0];
  unmount?.();
  for (const a of nav.querySelectorAll("a")) {
    a.classList.toggle("active", a.dataset.page === page.id);
  }
  document.title = `${page.title} · raftlock`;
  unmount = page.mount(main);
}

function showLogin(why?: string): void {
  unmount?.();
  unmount = undefined;
  sampler.stop();
  started = false;
  setToken(null);
  fill(nav);
  fill(whoami);
  const user = h("input", {
    id: "login-user",
    autocomplete: "username",
    required: true,
  });
  const password = h("input", {
    id: "login-password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    {
      id: "login",
      class: "login",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const t = await call<{ token: string }>("POST", "/v1/auth/token", {
            user: user.value,
            password: password.value,
          });
          setToken(t.token);
          sessionStorage.setItem("raftlock.user", user.value);
          start();
        } catch (err) {
          notice((err as Error).message, "error");
        }
      },
    },
    h("h2", {}, "Log in"),
    why ? h("p", { class: "summary" }, why) : null,
    h("label", {}, "User ", user),
    h("label", {}, "Password ", password),
    h("button", { type: "submit" }, "Log in"),
  );
  fill(main, form);
  user.focus();
}

function start(): void {
  if (started) return;
  started = true;
  fill(
    nav,
    PAGES.map((p) =>
      h(
        "a",
        { href: `#/${p.id}`, "data-page": p.id, id: `nav-${p.id}` },
        p.title,
      )
    ),
  );
  const user = token() ? sessionStorage.getItem("raftlock.user") : null;
  fill(
    whoami,
    user ? `logged in as ${user} ` : "",
    user
      ? h("button", {
        id: "logout",
        onclick: () => showLogin("Logged out"),
      }, "Log out")
      : null,
  );
  get<{ id: string }>("/healthz").then((s) => {
    document.getElementById("node")!.textContent = `node ${s.id}`;
  }).catch(() => {});
  sampler.start();
  route();
}

async function boot(): Promise<void> {
  whenUnauthenticated(() => {
    if (started) showLogin("Your login has ended; log in again");
  });
  addEventListener("hashchange", () => {
    if (started) route();
  });
  const auth = await get<{ enabled: boolean }>("/v1/auth/status").catch(() => ({
    enabled: false,
  }));
  if (auth.enabled && !token()) showLogin();
  else start();
}

boot();
