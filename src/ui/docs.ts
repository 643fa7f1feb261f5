/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The API reference at `/docs` (bundled to `dist/docs.js`): fetches
 * `/openapi.json` and renders its operations by tag (method, path,
 * summary, who may call it, parameters, body, answers) and its schemas,
 * with references as links.
 *
 * @module
 */

import { fill, h } from "./dom.ts";

type Json = Record<string, unknown>;

interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  "x-access": string;
  parameters: {
    name: string;
    in: string;
    description: string;
    schema: Json;
    required: boolean;
  }[];
  requestBody?: { content: Record<string, { schema: Json }> };
  responses: Record<
    string,
    { description: string; content?: Record<string, { schema: Json }> }
  >;
}

const REF = "#/components/schemas/";

/** A schema, briefly: its type, or a link to the component it names. */
function typeOf(s: Json | undefined): Node {
  if (!s) return document.createTextNode("any");
  if (typeof s.$ref === "string") {
    const name = s.$ref.slice(REF.length);
    return h("a", { href: `#schema-${name}` }, name);
  }
  for (const k of ["oneOf", "anyOf"]) {
    const options = s[k] as Json[] | undefined;
    if (options) {
      const span = h("span");
      options.forEach((o, i) => {
        if (i > 0) span.append(" | ");
        span.append(typeOf(o));
      });
      return span;
    }
  }
  if (s.const !== undefined) return h("code", {}, JSON.stringify(s.const));
  if (Array.isArray(s.enum)) {
    return h("code", {}, s.enum.map((v) => JSON.stringify(v)).join(" | "));
  }
  if (s.type === "array") {
    const span = h("span", {}, "array of ");
    span.append(typeOf(s.items as Json));
    return span;
  }
  if (s.type === "object" && s.properties) return fields(s);
  if (s.not !== undefined) return document.createTextNode("never");
  const bounds: string[] = [];
  if (typeof s.minimum === "number" && s.minimum > -1e15) {
    bounds.push(`≥ ${s.minimum}`);
  }
  if (typeof s.maximum === "number" && s.maximum < 1e15) {
    bounds.push(`≤ ${s.maximum}`);
  }
  if (typeof s.minLength === "number") bounds.push(`length ≥ ${s.minLength}`);
  if (typeof s.pattern === "string") bounds.push(`/${s.pattern}/`);
  return document.createTextNode(
    `${String(s.type ?? "any")}${
      bounds.length ? ` (${bounds.join(", ")})` : ""
    }`,
  );
}

/** An object schema's fields as a list. */
function fields(s: Json): HTMLElement {
  const props = (s.properties ?? {}) as Record<string, Json>;
  const required = new Set((s.required ?? []) as string[]);
  return h(
    "ul",
    { class: "fields" },
    Object.entries(props).map(([name, p]) =>
      h(
        "li",
        {},
        h("code", {}, name),
        required.has(name) ? "" : h("small", {}, " optional"),
        ": ",
        typeOf(p),
        p.default !== undefined
          ? ` (default ${JSON.stringify(p.default)})`
          : "",
      )
    ),
  );
}

/** A request body: its name and, inline, its fields. */
function bodyOf(s: Json, schemas: Record<string, Json>): HTMLElement {
  const name = typeof s.$ref === "string" ? s.$ref.slice(REF.length) : "";
  const target = name ? schemas[name] : s;
  return h(
    "div",
    { class: "body" },
    h("strong", {}, "Body: "),
    typeOf(s),
    target?.type === "object" ? fields(target) : null,
  );
}

function operation(
  method: string,
  path: string,
  op: Operation,
  schemas: Record<string, Json>,
): HTMLElement {
  const params = op.parameters ?? [];
  const body = op.requestBody?.content["application/json"]?.schema;
  return h(
    "details",
    { class: "op", id: op.operationId },
    h(
      "summary",
      {},
      h("span", { class: `method ${method}` }, method.toUpperCase()),
      " ",
      h("code", { class: "path" }, path),
      " ",
      op.summary,
      h("span", { class: "access" }, op["x-access"]),
    ),
    op.description ? h("p", {}, op.description) : null,
    params.length
      ? h(
        "table",
        {},
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["name", "in", "type", "what"].map((t) => h("th", {}, t)),
          ),
        ),
        h(
          "tbody",
          {},
          params.map((p) =>
            h(
              "tr",
              {},
              h("td", {}, h("code", {}, p.name)),
              h("td", {}, p.in),
              h("td", {}, typeOf(p.schema)),
              h("td", {}, p.description ?? ""),
            )
          ),
        ),
      )
      : null,
    body ? bodyOf(body, schemas) : null,
    h(
      "ul",
      { class: "responses" },
      Object.entries(op.responses).map(([status, r]) => {
        const content = r.content ?? {};
        const types = Object.entries(content);
        return h(
          "li",
          {},
          h("strong", {}, status),
          ` ${r.description} `,
          types.map(([type, c]) =>
            h("span", {}, h("small", {}, type), " ", typeOf(c.schema), " ")
          ),
        );
      }),
    ),
  );
}

async function main(): Promise<void> {
  const root = document.getElementById("main")!;
  const doc = await (await fetch("/openapi.json")).json() as Json;
  const info = doc.info as {
    title: string;
    version: string;
    description: string;
  };
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const tags = (doc.tags as { name: string }[]).map((t) => t.name);
  const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;
  const byTag = new Map<string, HTMLElement[]>(tags.map((t) => [t, []]));
  let count = 0;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      count++;
      byTag.get(op.tags[0])?.push(operation(method, path, op, schemas));
    }
  }
  fill(
    document.getElementById("nav")!,
    [...tags, "schemas"].map((t) => h("a", { href: `#tag-${t}` }, t)),
  );
  fill(
    root,
    h(
      "p",
      {},
      `${info.title} ${info.version}: ${count} operations. ${info.description}`,
    ),
    tags.map((t) =>
      h("section", { id: `tag-${t}` }, h("h2", {}, t), byTag.get(t) ?? [])
    ),
    h(
      "section",
      { id: "tag-schemas" },
      h("h2", {}, "schemas"),
      Object.entries(schemas).map(([name, s]) =>
        h(
          "div",
          { class: "schema", id: `schema-${name}` },
          h("h3", {}, name),
          s.type === "object" ? fields(s) : h("p", {}, typeOf(s)),
        )
      ),
    ),
  );
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
}

main().catch((e) => {
  fill(document.getElementById("main")!, h("p", { class: "error" }, String(e)));
});
