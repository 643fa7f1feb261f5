/**
 * Reading the operations files of deploy/: the systemd unit, the example's
 * env files, and the flags raftd knows. Shared by the deploy tests.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The repository root, with a trailing slash. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;
/** The systemd unit. */
export const UNIT: string = `${ROOT}deploy/systemd/raftd.service`;
/** The three-host example's folder. */
export const EXAMPLE: string = `${ROOT}deploy/examples/three-hosts`;

/**
 * Flags the unit may pass before raftd has them (a feature being added in
 * parallel); empty now that client TLS exists. Remove a flag here once
 * `raftd --help` lists it.
 */
export const PENDING_FLAGS: readonly string[] = [];

/** Variables systemd sets itself; the env file need not. */
export const SYSTEMD_VARS: ReadonlySet<string> = new Set([
  "CREDENTIALS_DIRECTORY",
  "STATE_DIRECTORY",
]);

/** A unit file's sections: key → every value (keys may repeat). */
export function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  // A trailing backslash continues the line.
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = line.match(/^\[(.+)\]$/);
    if (section) {
      current = new Map();
      sections.set(section[1], current);
      continue;
    }
    const kv = line.match(/^([A-Za-z]+)=(.*)$/);
    assert.ok(kv && current, `not a unit line: ${line}`);
    const values = current.get(kv[1]) ?? [];
    values.push(kv[2].trim());
    current.set(kv[1], values);
  }
  return sections;
}

/** An env file's assignments. */
export function parseEnvFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const kv = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    assert.ok(kv, `not an assignment: ${line}`);
    out.set(kv[1], kv[2]);
  }
  return out;
}

/** The flags `raftd --help` lists. */
export async function raftdFlags(): Promise<Set<string>> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli/raftd.ts`, "--help"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const help = new TextDecoder().decode(r.stdout);
  return new Set([...help.matchAll(/^\s+(--[a-z][a-z-]*)/gm)].map((m) => m[1]));
}
