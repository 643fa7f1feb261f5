/**
 * The peer secret file (`raftd --peer-secret-file`): one secret per line,
 * at most two. The first line is the secret this node proves itself with;
 * a second line is also accepted from peers, for rotating the secret
 * without downtime. Blank lines and surrounding white space are ignored.
 *
 * @module
 */

import { MAX_SECRETS, MIN_SECRET_BYTES } from "./auth.ts";

/** The secrets read from a file, and a warning about the file if any. */
export interface PeerSecrets {
  /** The secrets, the one to prove with first. */
  secrets: string[];
  /** Set when the file is readable by other users. */
  warning?: string;
}

/**
 * Parses the text of a secret file.
 *
 * @throws {Error} naming `source` when the text holds no secret, more than
 * two, or one shorter than 16 bytes.
 *
 * @example
 * ```ts
 * import { parsePeerSecrets } from "./secret_file.ts";
 * parsePeerSecrets("new-secret-0123456789\nold-secret-0123456789\n");
 * // → ["new-secret-0123456789", "old-secret-0123456789"]
 * ```
 */
export function parsePeerSecrets(text: string, source = "the file"): string[] {
  const secrets = text.split(/\r?\n/).map((l) => l.trim()).filter((l) =>
    l !== ""
  );
  if (secrets.length === 0) {
    throw new Error(
      `Peer secret file ${source} is empty; put a random secret of at least ${MIN_SECRET_BYTES} bytes in it (for example: openssl rand -hex 32)`,
    );
  }
  if (secrets.length > MAX_SECRETS) {
    throw new Error(
      `Peer secret file ${source} holds ${secrets.length} secrets; it takes one, or two while rotating (the one to prove with first)`,
    );
  }
  secrets.forEach((s, i) => {
    const n = new TextEncoder().encode(s).byteLength;
    if (n < MIN_SECRET_BYTES) {
      throw new Error(
        `The secret on line ${
          i + 1
        } of peer secret file ${source} is ${n} bytes; at least ${MIN_SECRET_BYTES} are needed (for example: openssl rand -hex 32)`,
      );
    }
  });
  return secrets;
}

/**
 * Reads and checks a secret file. A file that group or others may read is
 * accepted with a warning.
 *
 * @throws {Error} when the file cannot be read or holds no valid secrets.
 *
 * @example
 * ```ts
 * import { readPeerSecretFile } from "./secret_file.ts";
 * const { secrets, warning } = await readPeerSecretFile("/etc/raftlock/peer.secret");
 * if (warning) console.warn(warning);
 * console.log(secrets.length); // 1, or 2 while rotating
 * ```
 */
export async function readPeerSecretFile(path: string): Promise<PeerSecrets> {
  let text: string;
  let mode: number | null = null;
  try {
    mode = (await Deno.stat(path)).mode;
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`Peer secret file ${path} does not exist`);
    }
    throw new Error(
      `Cannot read peer secret file ${path}: ${(e as Error).message}`,
    );
  }
  const secrets = parsePeerSecrets(text, path);
  const out: PeerSecrets = { secrets };
  if (mode !== null && (mode & 0o077) !== 0) {
    out.warning = `Peer secret file ${path} is readable by other users (mode ${
      (mode & 0o777).toString(8).padStart(3, "0")
    }); restrict it with chmod 600`;
  }
  return out;
}

/**
 * Makes sure `path` holds a peer secret, creating it with a fresh random
 * one (mode 0600) when it does not exist, and returns the path; an
 * existing file is kept, so a local cluster keeps its secret across
 * restarts.
 *
 * @throws {Error} when an existing file holds no valid secret.
 *
 * @example
 * ```ts
 * import { ensurePeerSecretFile } from "./secret_file.ts";
 * const file = await ensurePeerSecretFile("./data/cluster/peer.secret");
 * // pass it to every node: raftd --peer-secret-file ./data/cluster/peer.secret
 * ```
 */
export async function ensurePeerSecretFile(path: string): Promise<string> {
  const secret = Array.from(
    crypto.getRandomValues(new Uint8Array(32)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const dir = path.replace(/[\\/][^\\/]*$/, "");
  if (dir !== path && dir !== "") await Deno.mkdir(dir, { recursive: true });
  try {
    await Deno.writeTextFile(path, secret + "\n", {
      createNew: true,
      mode: 0o600,
    });
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  await readPeerSecretFile(path);
  return path;
}
