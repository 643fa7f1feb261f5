/**
 * Who raftctl is to the cluster: a bearer token (`--token`,
 * `$RAFTLOCK_TOKEN`), or a user (`--user`, `$RAFTLOCK_USER`) whose password
 * comes from a file (`--password-file`, `$RAFTLOCK_PASSWORD_FILE`) or,
 * when stdin is a terminal, is typed at a prompt. Flags win over the
 * environment. Also reads new passwords for `user add` and `user passwd`.
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** The credentials to give the client (none: auth is off, or anonymous). */
export interface Credentials {
  /** A bearer token. */
  token?: string;
  /** A user name (with `password`). */
  user?: string;
  /** The user's password. */
  password?: string;
}

/** Where the environment comes from (tests pass their own). */
export type Env = (name: string) => string | undefined;

/** What reads a password typed at the terminal (tests pass their own). */
export type Prompt = (message: string) => Promise<string | undefined>;

/**
 * The credentials from the global flags and the environment.
 *
 * @example
 * ```ts
 * import { credentialsFrom } from "./credentials.ts";
 *
 * const c = await credentialsFrom({ token: "abc" }, () => undefined);
 * console.log(c.token); // abc
 * ```
 */
export async function credentialsFrom(
  flags: Record<string, string | boolean | undefined>,
  env: Env = (n) => Deno.env.get(n),
  prompt: Prompt = promptPassword,
): Promise<Credentials> {
  const flagToken = nonEmpty(flags.token);
  const flagUser = nonEmpty(flags.user);
  const flagFile = nonEmpty(flags["password-file"]);
  if (flagToken !== undefined && (flagUser ?? flagFile) !== undefined) {
    throw new UsageError(
      "give either --token or --user (with --password-file), not both",
    );
  }
  if (flagToken !== undefined) return { token: flagToken };
  let user = flagUser;
  let file = flagFile;
  if (user === undefined && file === undefined) {
    const envToken = nonEmpty(env("RAFTLOCK_TOKEN"));
    if (envToken !== undefined) return { token: envToken };
    user = nonEmpty(env("RAFTLOCK_USER"));
  }
  if (user === undefined) {
    if (file !== undefined) {
      throw new UsageError("--password-file needs --user (or $RAFTLOCK_USER)");
    }
    return {};
  }
  file ??= nonEmpty(env("RAFTLOCK_PASSWORD_FILE"));
  if (file !== undefined) {
    return { user, password: await readPasswordFile(file) };
  }
  const typed = await prompt(`Password for ${user}: `);
  if (typed === undefined) {
    throw new UsageError(
      `--user ${user} needs a password: give --password-file (or $RAFTLOCK_PASSWORD_FILE), or run raftctl in a terminal to type it`,
    );
  }
  return { user, password: typed };
}

/**
 * A password read from a file: its first line (a trailing newline and
 * carriage return are dropped, so `openssl rand -base64 24 > file` works).
 */
export async function readPasswordFile(file: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new UsageError(
      `cannot read the password file ${file}: ${(e as Error).message}`,
    );
  }
  const password = text.replace(/\r?\n[\s\S]*$/, "");
  if (password === "") {
    throw new UsageError(`the password file ${file} is empty`);
  }
  return password;
}

/**
 * A new password for `user`: from `file` if given, else typed twice at
 * the terminal.
 */
export async function newPassword(
  user: string,
  file: string | undefined,
  prompt: Prompt = promptPassword,
): Promise<string> {
  if (file !== undefined && file !== "") return await readPasswordFile(file);
  const first = await prompt(`New password for ${user}: `);
  if (first === undefined) {
    throw new UsageError(
      `give the new password of ${user} in --new-password-file, or run raftctl in a terminal to type it`,
    );
  }
  const again = await prompt("Again: ");
  if (again !== first) throw new UsageError("the passwords do not match");
  return first;
}

/**
 * Reads a password typed at the terminal without echoing it; undefined
 * when stdin is not a terminal. Ctrl-C or Ctrl-D aborts.
 */
export async function promptPassword(
  message: string,
): Promise<string | undefined> {
  if (!Deno.stdin.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(message));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  const buf = new Uint8Array(64);
  try {
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) throw new UsageError("no password typed");
      for (const b of buf.subarray(0, n)) {
        if (b === 0x0d || b === 0x0a) {
          return new TextDecoder().decode(new Uint8Array(bytes));
        }
        if (b === 0x03 || b === 0x04) throw new UsageError("interrupted");
        if (b === 0x7f || b === 0x08) bytes.pop();
        else bytes.push(b);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

function nonEmpty(v: string | boolean | undefined): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}
