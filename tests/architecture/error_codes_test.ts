/**
 * The client keeps its own copy of the API's error codes (src/client
 * imports no server code). These type-level checks fail `deno check` — and
 * so this test file — as soon as the two drift apart.
 */

import assert from "node:assert/strict";
import type { ErrorCode as ApiErrorCode } from "../../src/api/errors.ts";
import { STATUS } from "../../src/api/errors.ts";
import type { ServiceErrorCode } from "../../src/service/errors.ts";
import type { ErrorCode as CommandErrorCode } from "../../src/state/results.ts";
import type { RaftlockErrorCode } from "../../src/client/errors.ts";

/** `true` exactly when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends
  (<T>() => T extends B ? 1 : 2) ? true : false;

/** The codes only the client gives (no endpoint answered, and so on). */
type ClientOnlyCode = "unreachable" | "lock_lost" | "http_error";

// The client's union is the API's plus its own three, no more, no less.
const clientMatchesApi: Equal<
  RaftlockErrorCode,
  ApiErrorCode | ClientOnlyCode
> = true;
// None of the client's own codes is an API code.
const clientOwnAreNew: Equal<Extract<ApiErrorCode, ClientOnlyCode>, never> =
  true;
// The service's codes are the state machine's, and all reach the wire.
const serviceIsCommand: Equal<ServiceErrorCode, CommandErrorCode> = true;
const serviceInApi: Equal<Exclude<ServiceErrorCode, ApiErrorCode>, never> =
  true;

Deno.test("error codes: the client's union matches the API's (checked by the type checker)", () => {
  assert.deepEqual(
    [clientMatchesApi, clientOwnAreNew, serviceIsCommand, serviceInApi],
    [true, true, true, true],
  );
  // Every API code has a status, so the API can answer each one.
  const codes: ApiErrorCode[] = [
    "bad_request",
    "unauthenticated",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "conflict",
    "lock_held",
    "stale_token",
    "compacted",
    "too_large",
    "too_many_requests",
    "too_many_waiters",
    "quota_exceeded",
    "unavailable",
    "timeout",
    "internal",
  ];
  assert.deepEqual(Object.keys(STATUS).sort(), [...codes].sort());
});
