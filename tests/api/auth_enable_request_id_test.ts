/**
 * `POST /v1/auth/enable` with an `X-Request-Id` (as any client retrying a
 * write sends it) turns auth on: the signing key it proposes first must not
 * take the request's id, or the switch would be answered from the
 * deduplication table (200 `enabled: true`) without being applied.
 */

import assert from "node:assert/strict";
import { authNodeOptions, FakeClock, PASSWORD } from "./auth_helpers.ts";
import { withNode } from "./single_node.ts";

Deno.test("auth enable with X-Request-Id turns auth on", async () => {
  await withNode(async (n) => {
    const root = await n.call("PUT", "/v1/auth/users/root", {
      password: PASSWORD,
      roles: ["root"],
    });
    assert.equal(root.status, 200);
    const rid = { "x-request-id": "client-1/7" };
    const a = await n.call("POST", "/v1/auth/enable", undefined, rid);
    assert.equal(a.status, 200, JSON.stringify(a.json));
    assert.equal(a.json.enabled, true);
    assert.equal(n.service.state.auth.enabled, true);
    // Auth is on for real: the same request again now needs a token.
    const again = await n.call("POST", "/v1/auth/enable", undefined, rid);
    assert.equal(again.status, 401);
    assert.equal(n.service.state.auth.enabled, true);
  }, authNodeOptions(new FakeClock()));
});
