/**
 * raftctl's credentials: flags over environment, a token or a user with a
 * password file or a prompt, and the usage errors when they do not fit.
 */

import assert from "node:assert/strict";
import {
  credentialsFrom,
  newPassword,
  readPasswordFile,
} from "../../cli/raftctl/credentials.ts";
import { UsageError } from "../../cli/raftctl/errors.ts";

const envOf = (vars: Record<string, string>) => (name: string) => vars[name];
const noPrompt = () => Promise.resolve(undefined);

Deno.test("raftctl credentials: flags, then RAFTLOCK_TOKEN, then RAFTLOCK_USER", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/pw`;
    await Deno.writeTextFile(file, "s3cret word\r\nignored\n");
    const other = `${dir}/pw2`;
    await Deno.writeTextFile(other, "other\n");
    const env = envOf({
      RAFTLOCK_TOKEN: "env.token",
      RAFTLOCK_USER: "envuser",
      RAFTLOCK_PASSWORD_FILE: other,
    });
    assert.deepEqual(await credentialsFrom({}, envOf({}), noPrompt), {});
    assert.deepEqual(await credentialsFrom({ token: "t" }, env, noPrompt), {
      token: "t",
    });
    // A --user flag hides the environment's token.
    assert.deepEqual(
      await credentialsFrom(
        { user: "u", "password-file": file },
        env,
        noPrompt,
      ),
      { user: "u", password: "s3cret word" },
    );
    // --user with the environment's password file.
    assert.deepEqual(await credentialsFrom({ user: "u" }, env, noPrompt), {
      user: "u",
      password: "other",
    });
    assert.deepEqual(await credentialsFrom({}, env, noPrompt), {
      token: "env.token",
    });
    assert.deepEqual(
      await credentialsFrom(
        {},
        envOf({ RAFTLOCK_USER: "e", RAFTLOCK_PASSWORD_FILE: file }),
        noPrompt,
      ),
      { user: "e", password: "s3cret word" },
    );
    // A prompt when there is no file.
    const asked: string[] = [];
    assert.deepEqual(
      await credentialsFrom({ user: "u" }, envOf({}), (m) => {
        asked.push(m);
        return Promise.resolve("typed");
      }),
      { user: "u", password: "typed" },
    );
    assert.deepEqual(asked, ["Password for u: "]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raftctl credentials: what does not fit is a usage error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const empty = `${dir}/empty`;
    await Deno.writeTextFile(empty, "\n");
    const cases: [Record<string, string>, RegExp][] = [
      [{ token: "t", user: "u" }, /either --token or --user/],
      [{ "password-file": empty }, /--password-file needs --user/],
      [{ user: "u" }, /give --password-file/],
      [{ user: "u", "password-file": empty }, /is empty/],
      [{ user: "u", "password-file": `${dir}/none` }, /cannot read/],
    ];
    for (const [flags, message] of cases) {
      await assert.rejects(
        () => credentialsFrom(flags, envOf({}), noPrompt),
        (e) => e instanceof UsageError && message.test(e.message),
        JSON.stringify(flags),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("raftctl credentials: a new password from a file, or typed twice", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/pw`, "new-password\n");
    assert.equal(await readPasswordFile(`${dir}/pw`), "new-password");
    assert.equal(await newPassword("u", `${dir}/pw`, noPrompt), "new-password");
    const answers = ["a-password", "a-password"];
    assert.equal(
      await newPassword("u", undefined, () => Promise.resolve(answers.shift())),
      "a-password",
    );
    const mismatch = ["one-password", "two-password"];
    await assert.rejects(
      () =>
        newPassword("u", undefined, () => Promise.resolve(mismatch.shift())),
      /do not match/,
    );
    await assert.rejects(
      () => newPassword("u", undefined, noPrompt),
      /--new-password-file/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
