/**
 * Builds the console's scripts: `deno bundle` of `main.ts` and `docs.ts`
 * for the browser into `dist/console.js` and `dist/docs.js`, which
 * `src/api/routes/ui.ts` embeds. Run with `deno task ui:build` after
 * changing anything under `src/ui/`; `--check` only reports whether the
 * committed bundles are those the sources give (a test runs it).
 *
 * @module
 */

const ENTRIES = [["main.ts", "console.js"], ["docs.ts", "docs.js"]] as const;
const here = new URL(".", import.meta.url);

/** Bundles one entry; returns the script's text. */
export async function bundle(entry: string): Promise<string> {
  const out = await Deno.makeTempFile({ suffix: ".js" });
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "bundle",
        "--quiet",
        "--platform",
        "browser",
        "--format",
        "esm",
        "--output",
        out,
        new URL(entry, here).pathname,
      ],
      cwd: new URL("../../", here).pathname,
      stdout: "inherit",
      stderr: "piped",
    }).output();
    if (!r.success) {
      throw new Error(
        `deno bundle ${entry} failed: ${new TextDecoder().decode(r.stderr)}`,
      );
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

if (import.meta.main) {
  const check = Deno.args.includes("--check");
  let stale = 0;
  for (const [entry, name] of ENTRIES) {
    const text = await bundle(entry);
    const path = new URL(`dist/${name}`, here);
    if (check) {
      const old = await Deno.readTextFile(path).catch(() => "");
      if (old !== text) {
        console.error(`src/ui/dist/${name} is stale: run deno task ui:build`);
        stale++;
      }
    } else {
      await Deno.writeTextFile(path, text);
      console.log(`src/ui/dist/${name}: ${text.length} bytes`);
    }
  }
  if (stale) Deno.exit(1);
}
