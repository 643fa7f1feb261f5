/**
 * The web console at `/ui`: static assets from `src/ui/` (the page, its
 * style sheet, and the scripts `deno task ui:build` bundles into
 * `src/ui/dist/`), embedded in the module graph by text imports so a
 * compiled `raftd` carries them. The console talks to the same API with
 * the same auth; the page itself is open, as it holds no data.
 *
 * Every asset is sent with a strict Content-Security-Policy: scripts,
 * styles and connections from this origin only, no inline script, no
 * framing.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { secureHeaders } from "hono/secure-headers";
import page from "../../ui/index.html" with { type: "text" };
import docsPage from "../../ui/docs.html" with { type: "text" };
import style from "../../ui/console.css" with { type: "text" };
import script from "../../ui/dist/console.js" with { type: "text" };
import docsScript from "../../ui/dist/docs.js" with { type: "text" };

/** The Content-Security-Policy of the console's and the reference's pages. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** One static asset. */
interface Asset {
  /** Its Content-Type. */
  type: string;
  /** Its text. */
  body: string;
  /** A strong validator of the text. */
  etag: string;
}

// FNV-1a over the UTF-16 code units: enough to tell versions apart.
function etagOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `"${h.toString(16)}-${text.length.toString(16)}"`;
}

function asset(type: string, body: string): Asset {
  return { type, body, etag: etagOf(body) };
}

const HTML = "text/html; charset=utf-8";
const JS = "text/javascript; charset=utf-8";

/** The console's page. */
export const CONSOLE_PAGE: Asset = asset(HTML, page);
/** The API reference's page (`/docs`). */
export const DOCS_PAGE: Asset = asset(HTML, docsPage);

/** The files under `/ui/`, by name. */
export const UI_ASSETS: ReadonlyMap<string, Asset> = new Map([
  ["console.js", asset(JS, script)],
  ["console.css", asset("text/css; charset=utf-8", style)],
  ["docs.js", asset(JS, docsScript)],
]);

/** Answers with `a` (or 304 when the client has it), under the strict CSP. */
export function sendAsset(c: Context, a: Asset): Response {
  c.header("Content-Security-Policy", CONSOLE_CSP);
  c.header("Cache-Control", "no-cache");
  c.header("ETag", a.etag);
  if (c.req.header("if-none-match") === a.etag) return c.body(null, 304);
  c.header("Content-Type", a.type);
  return c.body(a.body);
}

/**
 * The full set of security headers a page needs (Hono's defaults: no
 * referrer, no DNS prefetch, opener and agent-cluster isolation, ...); the
 * API's JSON answers carry a smaller set (see `createApp`).
 */
export const pageHeaders: MiddlewareHandler = secureHeaders();

/** The console's routes, at the root. */
export function uiRoutes(): Hono {
  const app = new Hono();
  app.use("/ui/*", pageHeaders);
  app.get("/ui", (c) => sendAsset(c, CONSOLE_PAGE));
  app.get("/ui/", (c) => c.redirect("/ui", 301));
  app.get("/ui/:file{[\\w.-]+}", (c) => {
    const a = UI_ASSETS.get(c.req.param("file"));
    if (!a) return c.notFound();
    return sendAsset(c, a);
  });
  return app;
}
