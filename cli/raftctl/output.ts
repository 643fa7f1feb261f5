/**
 * How raftctl writes its results: plain lines, JSON and left-aligned tables.
 *
 * @module
 */

/** Prints one line (or an empty one) to stdout. */
export function print(s = ""): void {
  console.log(s);
}

/** Prints `v` as indented JSON to stdout. */
export function printJson(v: unknown): void {
  console.log(JSON.stringify(v, null, 2));
}

/**
 * Left-aligned columns, two spaces apart; the last column is not padded.
 *
 * @example
 * ```ts
 * table(["ID", "TTL"], [[7, "30 s"]]); // "ID  TTL\n7   30 s"
 * ```
 */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => String(c)))];
  const widths = headers.map((_, i) =>
    Math.max(...cells.map((r) => (r[i] ?? "").length))
  );
  return cells
    .map((r) =>
      r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i])))
        .join("  ").trimEnd()
    )
    .join("\n");
}

/** `s` on one line (newlines shown as `\n`), cut to `n` characters with `…`. */
export function clip(s: string, n = 60): string {
  const one = s.replace(/\n/g, "\\n");
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
}
