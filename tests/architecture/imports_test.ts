/**
 * The layering of src/, checked on the import graph: every `import` and
 * `export … from` of every file under src/, read with a regular expression
 * (fast, and src/ has no dynamic imports of its own code).
 *
 * The rules, as docs/architecture.md states them:
 *
 * - Nothing under src/ imports from outside src/ (cli/, bench/, tests/).
 * - The layers: raft ← codec ← storage, transport, state ← node ← service,
 *   auth ← api ← server. A layer imports only layers below it; so src/raft
 *   imports nothing of ours, src/state neither src/node nor src/api,
 *   src/service not src/api.
 * - src/wire (the JSON shapes of the API, types only) imports nothing and
 *   sits below every layer; src/raft still imports nothing of ours.
 * - src/ui (the web console: browser code and the assets api serves)
 *   imports only src/wire.
 * - The tools beside the layers — client, check, sim, chaos — are never
 *   imported by a layer. src/client imports no other folder of src/ but
 *   src/wire: no server code; it keeps its own union of error codes, and
 *   tests/architecture/error_codes_test.ts checks it against the server's.
 * - No cycles, between folders of src/ or between files.
 * - Every folder of src/ has a place in these rules.
 */

import assert from "node:assert/strict";

/** Each layer may import only the layers with a smaller number. */
const LAYERS: Record<string, number> = {
  wire: -1,
  raft: 0,
  // The console's browser code and assets: served by api, importing only
  // wire's types (see TOOL_IMPORTS).
  ui: 0,
  codec: 1,
  storage: 2,
  transport: 2,
  state: 2,
  node: 3,
  service: 4,
  auth: 4,
  api: 5,
  server: 6,
};

/** Folders beside the layers: may import layers; no layer imports them. */
const TOOLS = ["client", "check", "sim", "chaos"];

/**
 * What a tool (or the console, src/ui) may import besides itself
 * (undefined: any folder).
 */
const TOOL_IMPORTS: Record<string, string[] | undefined> = {
  client: ["wire"],
  ui: ["wire"],
};

/** One import of one file. */
interface Import {
  /** The specifier as written. */
  specifier: string;
  /** `import type` / `export type`. */
  typeOnly: boolean;
  /** 1-based line of the statement. */
  line: number;
}

/** One resolved import between two repository paths. */
interface Edge extends Import {
  /** The importing file, relative to the repository root. */
  from: string;
  /** The imported file, relative to the repository root. */
  to: string;
}

const STATIC =
  /^[ \t]*(import|export)\s+(type\s+)?([\w$\s{},*]*?\bfrom\s*)?["']([^"'\n]+)["']/gm;
const DYNAMIC = /^(?![ \t]*(?:\*|\/\/)).*?\bimport\(\s*["']([^"'\n]+)["']/gm;

/**
 * The imports of one module's text: `import … from`, `import "…"`,
 * `export … from`, and `import("…")` outside comments. Lines inside JSDoc
 * (starting with `*`) are not statements and are skipped.
 */
function parseImports(text: string): Import[] {
  const lineAt = (i: number) => text.slice(0, i).split("\n").length;
  const out: Import[] = [];
  for (const m of text.matchAll(STATIC)) {
    const [, keyword, type, clause] = m;
    // `export` needs a `from` (else it is a declaration, not a re-export);
    // `import` without one is a side-effect import.
    if (keyword === "export" && clause === undefined) continue;
    out.push({ specifier: m[4], typeOnly: !!type, line: lineAt(m.index) });
  }
  for (const m of text.matchAll(DYNAMIC)) {
    out.push({ specifier: m[1], typeOnly: false, line: lineAt(m.index) });
  }
  return out;
}

const ROOT = new URL("../../", import.meta.url);

async function sourceFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(new URL(dir, ROOT))) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await sourceFiles(path));
    else if (/\.(ts|tsx|js|mjs)$/.test(e.name)) out.push(path);
  }
  return out.sort();
}

/** Every relative import of every file under src/, resolved. */
async function importGraph(): Promise<{ files: string[]; edges: Edge[] }> {
  const files = await sourceFiles("src");
  const edges: Edge[] = [];
  for (const from of files) {
    const text = await Deno.readTextFile(new URL(from, ROOT));
    for (const imp of parseImports(text)) {
      if (!imp.specifier.startsWith(".")) continue; // npm:, node:, hono…
      const url = new URL(imp.specifier, new URL(from, ROOT));
      const to = url.href.slice(ROOT.href.length);
      edges.push({ ...imp, from, to });
    }
  }
  return { files, edges };
}

/** `src/api/app.ts` → `api`; undefined outside src/. */
function folderOf(path: string): string | undefined {
  const m = path.match(/^src\/([^/]+)\//);
  return m?.[1];
}

function where(e: Edge): string {
  return `${e.from}:${e.line} imports ${e.to}${
    e.typeOnly ? " (type only)" : ""
  }`;
}

/** Strongly connected components with more than one node (Tarjan). */
function cycles(nodes: string[], next: Map<string, Set<string>>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found;
}

/** The edges of `pairs` as an adjacency map (self-loops left out). */
function adjacency(pairs: [string, string][]): Map<string, Set<string>> {
  const next = new Map<string, Set<string>>();
  for (const [a, b] of pairs) {
    if (a === b) continue;
    if (!next.has(a)) next.set(a, new Set());
    next.get(a)!.add(b);
  }
  return next;
}

function assertNone(violations: string[], rule: string): void {
  if (violations.length > 0) {
    assert.fail(`${rule}:\n  ${violations.join("\n  ")}`);
  }
}

/** One shortest cycle from `start` back to itself, inside `within`. */
function shortestCycle(
  start: string,
  within: Set<string>,
  next: Map<string, Set<string>>,
): string[] {
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? []) {
      if (!within.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(parent.get(path[0])!);
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

Deno.test("the import parser reads every form of import and nothing else", () => {
  const text = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b/b.ts";`,
    `import {`,
    `  type C,`,
    `  d,`,
    `} from "./c.ts";`,
    `import * as e from "./e.ts";`,
    `import f, { g } from './f.ts';`,
    `import "./side_effect.ts";`,
    `export * from "./h.ts";`,
    `export type { I } from "./i.ts";`,
    `export { j as k } from "./j.ts";`,
    `const l = await import("./l.ts");`,
    `/**`,
    ` * import { m } from "./in_a_comment.ts";`,
    ` */`,
    `// import { n } from "./commented_out.ts";`,
    `export const o = "from ./not_an_import.ts";`,
    `export function p() { return "x"; }`,
  ].join("\n");
  assert.deepEqual(parseImports(text), [
    { specifier: "./a.ts", typeOnly: false, line: 1 },
    { specifier: "../b/b.ts", typeOnly: true, line: 2 },
    { specifier: "./c.ts", typeOnly: false, line: 3 },
    { specifier: "./e.ts", typeOnly: false, line: 7 },
    { specifier: "./f.ts", typeOnly: false, line: 8 },
    { specifier: "./side_effect.ts", typeOnly: false, line: 9 },
    { specifier: "./h.ts", typeOnly: false, line: 10 },
    { specifier: "./i.ts", typeOnly: true, line: 11 },
    { specifier: "./j.ts", typeOnly: false, line: 12 },
    { specifier: "./l.ts", typeOnly: false, line: 13 },
  ]);
});

Deno.test("src/ layering", async (t) => {
  const { files, edges } = await importGraph();
  const folders = [...new Set(files.map((f) => folderOf(f)!))].sort();
  const crossFolder = edges.filter((e) => folderOf(e.to) !== folderOf(e.from));

  await t.step("every folder of src/ has a place in the rules", () => {
    assertNone(
      folders.filter((f) => !(f in LAYERS) && !TOOLS.includes(f)).map((f) =>
        `src/${f}/ is neither a layer nor a tool: add it to LAYERS or TOOLS in this test, and to docs/architecture.md`
      ),
      "Unplaced folders",
    );
    assertNone(
      files.filter((f) => folderOf(f) === undefined).map((f) =>
        `${f} lies directly in src/; put it in a folder`
      ),
      "Loose files",
    );
  });

  await t.step(
    "nothing under src/ imports from outside src/ (cli/, bench/, tests/)",
    () => {
      assertNone(
        edges.filter((e) => folderOf(e.to) === undefined).map(where),
        "Imports from outside src/",
      );
    },
  );

  await t.step("src/raft imports nothing of ours outside src/raft", () => {
    assertNone(
      crossFolder.filter((e) => folderOf(e.from) === "raft").map(where),
      "The core's imports",
    );
  });

  await t.step("a layer imports only the layers below it", () => {
    const bad = crossFolder.filter((e) => {
      const from = LAYERS[folderOf(e.from)!];
      const to = LAYERS[folderOf(e.to)!];
      return from !== undefined && to !== undefined && to >= from;
    });
    assertNone(
      bad.map((e) => {
        const from = folderOf(e.from)!;
        const below = Object.keys(LAYERS).filter((l) =>
          LAYERS[l] < LAYERS[from]
        );
        return `${where(e)}: ${from} may import only ${
          below.join(", ") || "nothing of ours"
        }`;
      }),
      "Layering",
    );
  });

  await t.step("no layer imports a tool (client, check, sim, chaos)", () => {
    assertNone(
      crossFolder.filter((e) =>
        folderOf(e.from)! in LAYERS && TOOLS.includes(folderOf(e.to)!)
      ).map(where),
      "Layers importing tools",
    );
  });

  await t.step(
    "src/client and src/ui import no other folder of src/ but src/wire",
    () => {
      const bad = crossFolder.filter((e) => {
        const allowed = TOOL_IMPORTS[folderOf(e.from)!];
        return allowed !== undefined && !allowed.includes(folderOf(e.to)!);
      });
      assertNone(
        bad.map(where),
        "The client's imports",
      );
    },
  );

  await t.step("no cycle between folders of src/", () => {
    const next = adjacency(
      crossFolder.map((e) => [folderOf(e.from)!, folderOf(e.to) ?? e.to]),
    );
    // Name one shortest cycle of each knot, with an import for each hop.
    assertNone(
      cycles(folders, next).map((knot) => {
        const path = shortestCycle(knot[0], new Set(knot), next);
        const hops = path.slice(1).map((to, i) => {
          const e = crossFolder.find((e) =>
            folderOf(e.from) === path[i] && folderOf(e.to) === to
          )!;
          return `${path[i]} → ${to} (${where(e)})`;
        });
        return hops.join(", ");
      }),
      "Folder cycles",
    );
  });

  await t.step("no cycle between files (type-only imports included)", () => {
    const next = adjacency(edges.map((e) => [e.from, e.to]));
    assertNone(
      cycles(files, next).map((knot) =>
        shortestCycle(knot[0], new Set(knot), next).join(" → ")
      ),
      "File cycles",
    );
  });
});
