/**
 * Checks answers against the OpenAPI spec: finds the route a request
 * matched (with Hono's own router over the app's routes), and validates a
 * JSON answer with the zod schema the spec gives for that route and
 * status (`responseSchemaFor`). The route tests run it on every answer
 * (`SingleNode.call`).
 */

import { Hono } from "hono";
import type { RouterRoute } from "hono/types";
import { openApiPath, responseSchemaFor } from "../../src/api/openapi.ts";

/** Which route (OpenAPI path) each request of an app matches. */
export class RouteMatcher {
  readonly #matcher = new Hono();

  /** Builds the matcher from an app's routes. */
  constructor(routes: readonly RouterRoute[]) {
    for (const r of routes) {
      if (r.method === "ALL") continue;
      const path = openApiPath(r.path);
      this.#matcher.on(r.method, r.path, (c) => c.text(path));
    }
  }

  /** The OpenAPI path `method url` matches, or undefined. */
  async match(method: string, url: string): Promise<string | undefined> {
    const r = await this.#matcher.request(url, { method });
    return r.status === 200 ? await r.text() : undefined;
  }
}

/** How many answers were checked, by `METHOD path status`. */
export const checked: Map<string, number> = new Map();

/**
 * Throws unless the answer (`status`, `contentType`, its parsed body) fits the
 * spec of the route `method url` matched.
 */
export async function checkAnswer(
  matcher: RouteMatcher,
  method: string,
  url: string,
  answer: { status: number; contentType: string | null; body: unknown },
): Promise<void> {
  const m = method === "HEAD" ? "GET" : method;
  const path = await matcher.match(m, url);
  const what = `${method} ${url} → ${answer.status}`;
  const schema = responseSchemaFor(m, path ?? "", answer.status);
  const key = `${m} ${path ?? "(no route)"} ${answer.status}`;
  checked.set(key, (checked.get(key) ?? 0) + 1);
  if (schema === undefined) {
    throw new Error(
      `${what}: the spec has no answer ${answer.status} for ${m} ${path}`,
    );
  }
  if (schema === "text" || schema === "none" || method === "HEAD") return;
  if (!answer.contentType?.startsWith("application/json")) {
    throw new Error(`${what}: expected JSON, got ${answer.contentType}`);
  }
  const r = schema.safeParse(answer.body);
  if (!r.success) {
    throw new Error(
      `${what} does not fit the spec of ${m} ${path}: ${
        JSON.stringify(r.error.issues)
      }\n  body: ${JSON.stringify(answer.body).slice(0, 500)}`,
    );
  }
}
