/**
 * The one mapping from thrown values to the API's error answers: each
 * kind of error, its status, body and `Retry-After`.
 */

import assert from "node:assert/strict";
import { HTTPException } from "hono/http-exception";
import {
  ApiError,
  errorResponse,
  STATUS,
  toErrorAnswer,
} from "../../src/api/errors.ts";
import {
  ProposalLostError,
  TimeoutError,
  UnavailableError,
} from "../../src/node/errors.ts";
import { ServiceError } from "../../src/service/errors.ts";

Deno.test("service errors keep their code and extra fields", () => {
  const current = {
    key: "k",
    value: "v",
    createRevision: 1,
    modRevision: 1,
    version: 1,
  };
  assert.deepEqual(
    toErrorAnswer(new ServiceError("conflict", "Key k changed", { current })),
    {
      status: 409,
      body: { error: { code: "conflict", message: "Key k changed" }, current },
      retryAfter: undefined,
    },
  );
  const expected = {
    bad_request: 400,
    not_found: 404,
    conflict: 409,
    lock_held: 409,
    stale_token: 409,
  } as const;
  for (const [code, status] of Object.entries(expected)) {
    const a = toErrorAnswer(
      new ServiceError(code as keyof typeof expected, "m"),
    );
    assert.equal(a.status, status, code);
    assert.deepEqual(a.body, { error: { code, message: "m" } });
  }
  assert.deepEqual(
    toErrorAnswer(new ServiceError("lock_held", "Held", { holder: null }))
      .body,
    { error: { code: "lock_held", message: "Held" }, holder: null },
  );
});

Deno.test("the node's errors: unavailable (retry after 1 s) and timeout", () => {
  for (const e of [new UnavailableError("u"), new ProposalLostError("p")]) {
    assert.deepEqual(toErrorAnswer(e), {
      status: 503,
      body: { error: { code: "unavailable", message: e.message } },
      retryAfter: 1,
    });
  }
  assert.deepEqual(toErrorAnswer(new TimeoutError("t")), {
    status: 504,
    body: { error: { code: "timeout", message: "t" } },
    retryAfter: undefined,
  });
});

Deno.test("API errors use the status of their code", () => {
  for (const [code, status] of Object.entries(STATUS)) {
    const a = toErrorAnswer(
      new ApiError(code as keyof typeof STATUS, "m", { x: 1 }),
    );
    assert.equal(a.status, status);
    assert.deepEqual(a.body, { error: { code, message: "m" }, x: 1 });
    assert.equal(
      a.retryAfter,
      code === "unavailable" || code === "too_many_requests" ||
        code === "too_many_waiters"
        ? 1
        : undefined,
    );
  }
});

Deno.test("anything else is a 500 internal; Hono's exceptions by status", () => {
  assert.deepEqual(toErrorAnswer(new Error("boom")), {
    status: 500,
    body: { error: { code: "internal", message: "Internal error: boom" } },
    retryAfter: undefined,
  });
  assert.equal(toErrorAnswer("text").status, 500);
  assert.equal(
    toErrorAnswer(new HTTPException(413, { message: "big" })).status,
    413,
  );
  assert.deepEqual(
    toErrorAnswer(new HTTPException(400, { message: "" })).body,
    { error: { code: "bad_request", message: "Bad request" } },
  );
});

Deno.test("errorResponse: JSON with the status and Retry-After", async () => {
  const r = errorResponse(new UnavailableError("No leader"));
  assert.equal(r.status, 503);
  assert.equal(r.headers.get("retry-after"), "1");
  assert.equal(r.headers.get("content-type"), "application/json");
  assert.deepEqual(await r.json(), {
    error: { code: "unavailable", message: "No leader" },
  });
  const nf = errorResponse(new ApiError("not_found", "Gone"));
  assert.equal(nf.status, 404);
  assert.equal(nf.headers.get("retry-after"), null);
});
