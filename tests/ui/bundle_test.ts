/**
 * The console's bundled scripts (`src/ui/dist/`, committed and embedded by
 * `src/api/routes/ui.ts`) are those its sources give: `deno bundle` runs
 * again and the result must equal the files. After changing `src/ui/`,
 * run `deno task ui:build`.
 */

import assert from "node:assert/strict";

Deno.test("console: src/ui/dist/ is the bundle of src/ui/ (deno task ui:build)", async () => {
  const r = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../src/ui/build.ts", import.meta.url).pathname,
      "--check",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stderr) +
    new TextDecoder().decode(r.stdout);
  assert.ok(r.success, out);
});
