// src/ui/dom.ts
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === void 0 || v === false) continue;
    if (typeof v === "function") {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === "value" && "value" in el) {
      el.value = String(v);
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === void 0 || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
}
function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// src/ui/docs.ts
var REF = "#/components/schemas/";
function typeOf(s) {
  if (!s) return document.createTextNode("any");
  if (typeof s.$ref === "string") {
    const name = s.$ref.slice(REF.length);
    return h("a", {
      href: `#schema-${name}`
    }, name);
  }
  for (const k of [
    "oneOf",
    "anyOf"
  ]) {
    const options = s[k];
    if (options) {
      const span = h("span");
      options.forEach((o, i) => {
        if (i > 0) span.append(" | ");
        span.append(typeOf(o));
      });
      return span;
    }
  }
  if (s.const !== void 0) return h("code", {}, JSON.stringify(s.const));
  if (Array.isArray(s.enum)) {
    return h("code", {}, s.enum.map((v) => JSON.stringify(v)).join(" | "));
  }
  if (s.type === "array") {
    const span = h("span", {}, "array of ");
    span.append(typeOf(s.items));
    return span;
  }
  if (s.type === "object" && s.properties) return fields(s);
  if (s.not !== void 0) return document.createTextNode("never");
  const bounds = [];
  if (typeof s.minimum === "number" && s.minimum > -1e15) {
    bounds.push(`\u2265 ${s.minimum}`);
  }
  if (typeof s.maximum === "number" && s.maximum < 1e15) {
    bounds.push(`\u2264 ${s.maximum}`);
  }
  if (typeof s.minLength === "number") bounds.push(`length \u2265 ${s.minLength}`);
  if (typeof s.pattern === "string") bounds.push(`/${s.pattern}/`);
  return document.createTextNode(`${String(s.type ?? "any")}${bounds.length ? ` (${bounds.join(", ")})` : ""}`);
}
function fields(s) {
  const props = s.properties ?? {};
  const required = new Set(s.required ?? []);
  return h("ul", {
    class: "fields"
  }, Object.entries(props).map(([name, p]) => h("li", {}, h("code", {}, name), required.has(name) ? "" : h("small", {}, " optional"), ": ", typeOf(p), p.default !== void 0 ? ` (default ${JSON.stringify(p.default)})` : "")));
}
function bodyOf(s, schemas) {
  const name = typeof s.$ref === "string" ? s.$ref.slice(REF.length) : "";
  const target = name ? schemas[name] : s;
  return h("div", {
    class: "body"
  }, h("strong", {}, "Body: "), typeOf(s), target?.type === "object" ? fields(target) : null);
}
function operation(method, path, op, schemas) {
  const params = op.parameters ?? [];
  const body = op.requestBody?.content["application/json"]?.schema;
  return h("details", {
    class: "op",
    id: op.operationId
  }, h("summary", {}, h("span", {
    class: `method ${method}`
  }, method.toUpperCase()), " ", h("code", {
    class: "path"
  }, path), " ", op.summary, h("span", {
    class: "access"
  }, op["x-access"])), op.description ? h("p", {}, op.description) : null, params.length ? h("table", {}, h("thead", {}, h("tr", {}, [
    "name",
    "in",
    "type",
    "what"
  ].map((t) => h("th", {}, t)))), h("tbody", {}, params.map((p) => h("tr", {}, h("td", {}, h("code", {}, p.name)), h("td", {}, p.in), h("td", {}, typeOf(p.schema)), h("td", {}, p.description ?? ""))))) : null, body ? bodyOf(body, schemas) : null, h("ul", {
    class: "responses"
  }, Object.entries(op.responses).map(([status, r]) => {
    const content = r.content ?? {};
    const types = Object.entries(content);
    return h("li", {}, h("strong", {}, status), ` ${r.description} `, types.map(([type, c]) => h("span", {}, h("small", {}, type), " ", typeOf(c.schema), " ")));
  })));
}
async function main() {
  const root = document.getElementById("main");
  const doc = await (await fetch("/openapi.json")).json();
  const info = doc.info;
  const paths = doc.paths;
  const tags = doc.tags.map((t) => t.name);
  const schemas = doc.components.schemas;
  const byTag = new Map(tags.map((t) => [
    t,
    []
  ]));
  let count = 0;
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(item)) {
      count++;
      byTag.get(op.tags[0])?.push(operation(method, path, op, schemas));
    }
  }
  fill(document.getElementById("nav"), [
    ...tags,
    "schemas"
  ].map((t) => h("a", {
    href: `#tag-${t}`
  }, t)));
  fill(root, h("p", {}, `${info.title} ${info.version}: ${count} operations. ${info.description}`), tags.map((t) => h("section", {
    id: `tag-${t}`
  }, h("h2", {}, t), byTag.get(t) ?? [])), h("section", {
    id: "tag-schemas"
  }, h("h2", {}, "schemas"), Object.entries(schemas).map(([name, s]) => h("div", {
    class: "schema",
    id: `schema-${name}`
  }, h("h3", {}, name), s.type === "object" ? fields(s) : h("p", {}, typeOf(s))))));
  if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
}
main().catch((e) => {
  fill(document.getElementById("main"), h("p", {
    class: "error"
  }, String(e)));
});
