/**
 * The wire types' layering: `src/client/types.ts` is the one definition of
 * the API's JSON shapes and imports nothing; the client imports nothing
 * outside `src/client`; the server's state takes only types from the
 * client, and only from `types.ts`.
 */

import assert from "node:assert/strict";

const SRC = new URL("../../src/", import.meta.url);

interface Import {
  /** The file, relative to src/. */
  file: string;
  /** The specifier as written. */
  specifier: string;
  /** Whether the whole statement is `import type` / `export type`. */
  typeOnly: boolean;
}

// Static imports and re-exports (`import ... from "x"`, `import "x"`,
// `export ... from "x"`) and dynamic `import("x")`.
const STATEMENT =
  /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']/gm;
const DYNAMIC = /\bimport\(\s*["']([^"']+)["']\s*\)/g;

async function importsOf(folder: string): Promise<Import[]> {
  const out: Import[] = [];
  for await (const entry of Deno.readDir(new URL(folder, SRC))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const file = `${folder}${entry.name}`;
    const text = await Deno.readTextFile(new URL(file, SRC));
    for (const m of text.matchAll(STATEMENT)) {
      out.push({ file, specifier: m[3], typeOnly: m[2] !== undefined });
    }
    for (const m of text.matchAll(DYNAMIC)) {
      out.push({ file, specifier: m[1], typeOnly: false });
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file));
}

// Where a relative specifier of a file under src/ points, relative to src/.
function target(i: Import): string {
  return new URL(i.specifier, new URL(i.file, SRC)).href.slice(SRC.href.length);
}

Deno.test("layering: the client imports nothing outside src/client, and types.ts nothing at all", async () => {
  const imports = await importsOf("client/");
  assert.ok(imports.length > 0);
  const outside = imports.filter((i) =>
    !i.specifier.startsWith("./") || !target(i).startsWith("client/")
  );
  assert.deepEqual(outside, []);
  assert.deepEqual(imports.filter((i) => i.file === "client/types.ts"), []);
});

Deno.test("layering: the state takes only types from the client, from types.ts", async () => {
  const fromClient = (await importsOf("state/")).filter((i) =>
    i.specifier.startsWith(".") && target(i).startsWith("client/")
  );
  assert.ok(fromClient.length > 0);
  assert.deepEqual(
    fromClient.filter((i) => !i.typeOnly || target(i) !== "client/types.ts"),
    [],
  );
});
