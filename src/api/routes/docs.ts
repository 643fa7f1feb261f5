/**
 * The API's reference: `GET /openapi.json` (the OpenAPI 3.1 document, built
 * from the zod schemas that validate requests and describe answers) and
 * `GET /docs`, a page that renders it with the console's own script and
 * style, served locally like the console. Both are open: they describe
 * the API, not the data.
 *
 * @module
 */

import { Hono } from "hono";
import { openApiDocument } from "../openapi.ts";
import { DOCS_PAGE, pageHeaders, sendAsset } from "./ui.ts";

/** The reference's routes, at the root. */
export function docsRoutes(): Hono {
  const app = new Hono();
  app.get("/openapi.json", (c) => c.json(openApiDocument()));
  app.use("/docs", pageHeaders);
  app.get("/docs", (c) => sendAsset(c, DOCS_PAGE));
  return app;
}
