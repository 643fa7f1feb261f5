/**
 * Request schemas (zod) with the API's bounds: key length, value size,
 * TTLs, waits and list limits.
 *
 * @module
 */

import { z } from "zod";
import {
  AUTH_NAME_PATTERN,
  MAX_KEY_BYTES,
  MAX_LEASE_TTL,
  MAX_LOCK_DELAY_MS,
  MAX_ROLE_PERMISSIONS,
  MAX_SEMAPHORE_LIMIT,
  MAX_TXN_OPS,
  MAX_USER_ROLES,
  MAX_VALUE_BYTES,
  MIN_LEASE_TTL,
  utf8Length,
} from "../state/commands.ts";

/** Longest a lock acquire may wait, in ms. */
export const MAX_WAIT_MS = 300_000;
/** Largest page of a key listing, and its size when none is asked for. */
export const MAX_LIST_LIMIT = 10_000;
/** Longest lock name or owner, in bytes. */
export const MAX_NAME_BYTES = 256;

const revision = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const id = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** A key: 1..1024 bytes of UTF-8. */
export const keySchema: z.ZodType<string> = z.string().min(
  1,
  "key must not be empty",
).refine(
  (k) => utf8Length(k) <= MAX_KEY_BYTES,
  `key must be at most ${MAX_KEY_BYTES} bytes`,
);

/** A lock name: 1..256 bytes. */
export const nameSchema: z.ZodType<string> = z.string().min(1).refine(
  (k) => utf8Length(k) <= MAX_NAME_BYTES,
  `name must be at most ${MAX_NAME_BYTES} bytes`,
);

const valueSchema = z.string().refine(
  (v) => utf8Length(v) <= MAX_VALUE_BYTES,
  `value must be at most ${MAX_VALUE_BYTES} bytes`,
);

// A fence names one grant: a lock, an election, a semaphore or a
// read-write lock, with the token it was granted.
const fenceSchema = z.union([
  z.strictObject({ lock: nameSchema, token: id }),
  z.strictObject({ election: nameSchema, token: id }),
  z.strictObject({ semaphore: nameSchema, token: id }),
  z.strictObject({ rwlock: nameSchema, token: id }),
], {
  error:
    "fence must be {lock|election|semaphore|rwlock: name, token: positive integer}",
});

const ttlSchema = z.number().int().min(MIN_LEASE_TTL).max(MAX_LEASE_TTL);

/** `PUT /v1/kv/{key}` body. */
export const putBody = z.strictObject({
  value: valueSchema,
  lease: id.optional(),
  ttl: ttlSchema.optional(),
  ifModRevision: revision.optional(),
  ifVersion: revision.optional(),
  fence: fenceSchema.optional(),
}).refine(
  (b) => !(b.ttl !== undefined && b.lease !== undefined),
  "give either ttl or lease, not both",
);

const compareSchema = z.union([
  z.strictObject({
    key: keySchema,
    target: z.literal("value"),
    op: z.enum(["==", "!=", "<", ">"]),
    value: z.string(),
  }),
  z.strictObject({
    key: keySchema,
    target: z.enum(["version", "modRevision", "createRevision", "lease"]),
    op: z.enum(["==", "!=", "<", ">"]),
    value: revision,
  }),
]);

const txnOpSchema = z.union([
  z.strictObject({
    put: z.strictObject({
      key: keySchema,
      value: valueSchema,
      lease: id.optional(),
    }),
  }),
  z.strictObject({
    delete: z.strictObject({ key: keySchema, prefix: z.boolean().optional() }),
  }),
  z.strictObject({
    get: z.strictObject({
      key: z.string().refine((k) => utf8Length(k) <= MAX_KEY_BYTES),
      prefix: z.boolean().optional(),
      limit: z.number().int().min(1).max(MAX_LIST_LIMIT).optional(),
    }),
  }),
]);

/** One transaction operation as the API spells it. */
export type ApiTxnOp = z.infer<typeof txnOpSchema>;

/** `POST /v1/txn` body. */
export const txnBody = z.strictObject({
  compare: z.array(compareSchema).max(MAX_TXN_OPS).default([]),
  success: z.array(txnOpSchema).max(MAX_TXN_OPS).default([]),
  failure: z.array(txnOpSchema).max(MAX_TXN_OPS).default([]),
  fence: fenceSchema.optional(),
});

/** `POST /v1/leases` body. */
export const leaseBody = z.strictObject({
  ttl: z.number().int().min(MIN_LEASE_TTL).max(MAX_LEASE_TTL),
});

/** `POST /v1/locks/{name}/acquire` body. */
export const acquireBody = z.strictObject({
  ttl: z.number().int().min(MIN_LEASE_TTL).max(MAX_LEASE_TTL).optional(),
  lease: id.optional(),
  wait: z.number().int().min(0).max(MAX_WAIT_MS).optional(),
  owner: z.string().refine(
    (s) => utf8Length(s) <= MAX_NAME_BYTES,
    `owner must be at most ${MAX_NAME_BYTES} bytes`,
  )
    .optional(),
  lockDelay: z.number().int().min(0).max(MAX_LOCK_DELAY_MS).optional(),
}).refine(
  (b) => !(b.ttl !== undefined && b.lease !== undefined),
  "give either ttl or lease, not both",
);

/** `POST /v1/locks/{name}/release` body (and every release by token). */
export const releaseBody = z.strictObject({ token: id });

const ownerSchema = z.string().refine(
  (s) => utf8Length(s) <= MAX_NAME_BYTES,
  `owner must be at most ${MAX_NAME_BYTES} bytes`,
);

// How an acquire of a recipe holds (a new lease of ttl seconds, or an
// existing one) and how long it waits.
const holding = {
  ttl: ttlSchema.optional(),
  lease: id.optional(),
  wait: z.number().int().min(0).max(MAX_WAIT_MS).optional(),
};

const oneHolding = (b: { ttl?: number; lease?: number }) =>
  !(b.ttl !== undefined && b.lease !== undefined);

/** `POST /v1/elections/{name}/campaign` body. */
export const campaignBody = z.strictObject({
  value: valueSchema,
  ...holding,
}).refine(oneHolding, "give either ttl or lease, not both");

/** `POST /v1/elections/{name}/proclaim` body. */
export const proclaimBody = z.strictObject({ token: id, value: valueSchema });

const permitCount = z.number().int().min(1).max(MAX_SEMAPHORE_LIMIT);

/** `POST /v1/semaphores/{name}/acquire` body. */
export const semaphoreAcquireBody = z.strictObject({
  limit: permitCount,
  permits: permitCount.optional(),
  owner: ownerSchema.optional(),
  ...holding,
}).refine(oneHolding, "give either ttl or lease, not both").refine(
  (b) => (b.permits ?? 1) <= b.limit,
  "permits must be at most limit",
);

/** `POST /v1/rwlocks/{name}/acquire` body. */
export const rwlockAcquireBody = z.strictObject({
  mode: z.enum(["read", "write"]),
  owner: ownerSchema.optional(),
  ...holding,
}).refine(oneHolding, "give either ttl or lease, not both");

/** `POST /v1/cluster/members` body. */
export const memberBody = z.strictObject({
  id: z.string().regex(
    /^[A-Za-z0-9_.-]{1,64}$/,
    "id must be 1-64 letters, digits, '_', '.' or '-'",
  ),
  peerAddress: z.string().regex(
    /^[^\s:]+:\d{1,5}$/,
    "peerAddress must be host:port",
  ),
  httpAddress: z.string().regex(
    /^[^\s:]+:\d{1,5}$/,
    "httpAddress must be host:port",
  ).optional(),
  learner: z.boolean().optional(),
  force: z.boolean().optional(),
});

/** `POST /v1/cluster/leader` body. */
export const transferBody = z.strictObject({ to: z.string().min(1).max(64) });

/** A user or role name: 1–64 letters, digits, `_`, `.`, `@` or `-`. */
export const authNameSchema: z.ZodType<string> = z.string().regex(
  AUTH_NAME_PATTERN,
  "name must be 1-64 letters, digits, '_', '.', '@' or '-'",
);

/** Shortest password. */
export const MIN_PASSWORD_LENGTH = 8;
/** Longest password, in bytes. */
export const MAX_PASSWORD_BYTES = 1024;

const passwordSchema = z.string().min(
  MIN_PASSWORD_LENGTH,
  `password must be at least ${MIN_PASSWORD_LENGTH} characters`,
).refine(
  (p) => utf8Length(p) <= MAX_PASSWORD_BYTES,
  `password must be at most ${MAX_PASSWORD_BYTES} bytes`,
);

/** `POST /v1/auth/token` body. */
export const tokenBody = z.strictObject({
  user: authNameSchema,
  // Any length: a wrong password is refused by the check, not the schema.
  password: z.string().max(MAX_PASSWORD_BYTES),
});

/** `PUT /v1/auth/users/{name}` body. */
export const userBody = z.strictObject({
  password: passwordSchema.optional(),
  roles: z.array(authNameSchema).max(MAX_USER_ROLES).optional(),
});

/** `POST /v1/auth/users/{name}/roles` body. */
export const grantBody = z.strictObject({ role: authNameSchema });

/** `PUT /v1/auth/roles/{name}` body. */
export const roleBody = z.strictObject({
  permissions: z.array(z.strictObject({
    prefix: z.string().refine(
      (k) => utf8Length(k) <= MAX_KEY_BYTES,
      `prefix must be at most ${MAX_KEY_BYTES} bytes`,
    ),
    read: z.boolean().default(false),
    write: z.boolean().default(false),
  })).max(MAX_ROLE_PERMISSIONS),
});
