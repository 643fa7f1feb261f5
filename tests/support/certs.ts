/**
 * Test support: certificates made at run time with `openssl` in a temp
 * dir (no private key is ever committed). A CA, and certificates it signs
 * for `IP:127.0.0.1` and `DNS:localhost`, good for both server and client
 * use, valid for two days.
 */

/** A temp dir of test certificates; `remove()` deletes it. */
export interface TestCerts {
  /** The directory holding the files. */
  dir: string;
  /** Makes a CA: `<dir>/<name>.pem` and `<dir>/<name>.key`. */
  makeCa(name: string): Promise<{ cert: string; key: string }>;
  /**
   * Makes a certificate signed by CA `ca` (made earlier with `makeCa`):
   * `<dir>/<name>.pem` and `<dir>/<name>.key`. `extraNames` are more
   * subject alternative names, e.g. `IP:192.0.2.2`.
   */
  makeCert(
    name: string,
    ca: string,
    extraNames?: string[],
  ): Promise<{ cert: string; key: string }>;
  /** Deletes the directory. */
  remove(): Promise<void>;
}

/** Whether `openssl` can be run here. */
export async function hasOpenssl(): Promise<boolean> {
  try {
    const out = await new Deno.Command("openssl", {
      args: ["version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * A fresh temp dir for certificates, or undefined (with a logged SKIPPED
 * line) when `openssl` is not installed.
 */
export async function testCerts(): Promise<TestCerts | undefined> {
  if (!await hasOpenssl()) {
    console.warn(
      "SKIPPED: openssl is not installed, cannot make test certificates",
    );
    return undefined;
  }
  const dir = await Deno.makeTempDir({ prefix: "raftlock_tls_" });
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(
        `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
  };
  const files = (name: string) => ({
    cert: `${dir}/${name}.pem`,
    key: `${dir}/${name}.key`,
  });
  return {
    dir,
    async makeCa(name) {
      await run(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.pem`,
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
      );
      return files(name);
    },
    async makeCert(name, ca, extraNames = []) {
      const names = ["IP:127.0.0.1", "DNS:localhost", ...extraNames].join(",");
      await Deno.writeTextFile(
        `${dir}/${name}.ext`,
        `subjectAltName=${names}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n`,
      );
      await run(
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/CN=${name}`,
      );
      await run(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        `${ca}.pem`,
        "-CAkey",
        `${ca}.key`,
        "-CAcreateserial",
        "-out",
        `${name}.pem`,
        "-days",
        "2",
        "-extfile",
        `${name}.ext`,
      );
      return files(name);
    },
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
