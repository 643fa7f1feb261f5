import assert from "node:assert/strict";
import type { ElectionEvent } from "../../src/wire/types.ts";
import type { RecipeGrant } from "../../src/state/mod.ts";
import { Harness } from "./helpers.ts";

function watchElections(h: Harness): ElectionEvent[] {
  const out: ElectionEvent[] = [];
  h.sm.onElectionChange((e) => out.push(e));
  return out;
}

Deno.test("campaign: the first candidate leads with a token; others queue FIFO", () => {
  const h = new Harness();
  const events = watchElections(h);
  const grants: RecipeGrant[] = [];
  h.sm.onRecipeGranted((g) => grants.push(g));
  h.ok({ type: "put", key: "x", value: "1" }); // rev 1
  const a = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "a:1",
    ttl: 10,
    waiterId: "a",
  });
  assert.deepEqual(a, {
    ok: true,
    name: "E",
    token: 2,
    lease: 1,
    value: "a:1",
  });
  assert.equal(h.sm.revision, 2);
  const b = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "b:1",
    ttl: 10,
    waiterId: "b",
  });
  const c = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "c:1",
    ttl: 10,
    waiterId: "c",
  });
  assert.ok("queued" in b && "queued" in c);
  assert.equal(b.position, 1);
  assert.equal(c.position, 2);
  assert.deepEqual(h.sm.election("E"), {
    name: "E",
    leader: { name: "E", token: 2, lease: 1, value: "a:1", revision: 2 },
    candidates: [
      { waiterId: "b", lease: 2, value: "b:1" },
      { waiterId: "c", lease: 3, value: "c:1" },
    ],
  });
  // A try-campaign fails while somebody leads.
  const busy = h.fails(
    { type: "electionCampaign", name: "E", value: "d", ttl: 5, tryOnly: true },
    "lock_held",
  );
  assert.match(busy.error.message, /has a leader \(token 2\)/);

  // Resign: b leads next, then c.
  h.fails({ type: "electionResign", name: "E", token: 99 }, "stale_token");
  const r = h.ok({ type: "electionResign", name: "E", token: 2 });
  assert.deepEqual(r, { ok: true, resigned: true, revision: 3 });
  assert.equal(h.sm.election("E").leader?.value, "b:1");
  assert.equal(h.sm.election("E").leader?.token, 3);
  assert.equal(h.sm.lease(1), null); // a's lease, made by its campaign
  h.ok({ type: "electionResign", name: "E", token: 3 });
  assert.equal(h.sm.election("E").leader?.value, "c:1");
  h.ok({ type: "electionResign", name: "E", token: 4 });
  assert.equal(h.sm.election("E").leader, null);
  assert.deepEqual(h.sm.elections(), []);
  // The vacancy has its own revision.
  assert.equal(h.sm.revision, 5);
  assert.deepEqual(events.map((e) => [e.revision, e.leader?.value ?? null]), [
    [2, "a:1"],
    [3, "b:1"],
    [4, "c:1"],
    [5, null],
  ]);
  assert.deepEqual(
    grants.map((g) => [g.kind, g.waiterId, g.grant.token]),
    [["election", "a", 2], ["election", "b", 3], ["election", "c", 4]],
  );
  assert.deepEqual(h.sm.invariantViolations(), []);
  assert.equal(h.sm.leases().length, 0);
});

Deno.test("proclaim changes the value and the revision, not the token", () => {
  const h = new Harness();
  const events = watchElections(h);
  const g = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "v1",
    ttl: 10,
    tryOnly: true,
  });
  assert.ok("token" in g);
  const p = h.ok({
    type: "electionProclaim",
    name: "E",
    token: g.token,
    value: "v2",
  });
  assert.deepEqual(p, {
    ok: true,
    name: "E",
    token: g.token,
    lease: g.lease,
    value: "v2",
    revision: g.token + 1,
  });
  h.fails(
    { type: "electionProclaim", name: "E", token: g.token + 1, value: "x" },
    "stale_token",
  );
  h.fails(
    { type: "electionProclaim", name: "F", token: g.token, value: "x" },
    "stale_token",
  );
  assert.deepEqual(events.map((e) => [e.revision, e.leader?.value]), [
    [g.token, "v1"],
    [g.token + 1, "v2"],
  ]);
  assert.equal(h.sm.fenceHolds({ election: "E", token: g.token }), true);
});

Deno.test("a leader whose lease expires is replaced; its token stops fencing", () => {
  const h = new Harness();
  const events = watchElections(h);
  const lease = h.ok({ type: "leaseGrant", ttl: 5 }).id;
  const a = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "a",
    lease,
    waiterId: "a",
  });
  const b = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "b",
    ttl: 5,
    waiterId: "b",
  });
  assert.ok("token" in a && "queued" in b);
  h.ok({
    type: "put",
    key: "k",
    value: "1",
    fence: { election: "E", token: a.token },
  });
  const ka = h.sm.lease(lease)!.keepaliveIndex;
  h.ok({ type: "leaseExpire", id: lease, keepaliveIndex: ka });
  const leader = h.sm.election("E").leader!;
  assert.equal(leader.value, "b");
  assert.ok(leader.token > a.token);
  // The old leader's fenced write is refused; the new one's applies.
  const stale = h.fails(
    {
      type: "put",
      key: "k",
      value: "2",
      fence: { election: "E", token: a.token },
    },
    "stale_token",
  );
  assert.match(stale.error.message, /does not lead election 'E'/);
  h.ok({
    type: "put",
    key: "k",
    value: "3",
    fence: { election: "E", token: leader.token },
  });
  // The leader's lease, revoked: nobody leads, at a revision of its own.
  const before = h.sm.revision;
  h.ok({ type: "leaseRevoke", id: leader.lease });
  assert.equal(h.sm.election("E").leader, null);
  const last = events.at(-1)!;
  assert.deepEqual(last, { name: "E", revision: before + 1, leader: null });
  // Revisions of changes strictly increase.
  for (let i = 1; i < events.length; i++) {
    assert.ok(events[i].revision > events[i - 1].revision);
  }
  assert.deepEqual(h.sm.invariantViolations(), []);
});

Deno.test("a waiting candidate whose lease ends leaves the queue", () => {
  const h = new Harness();
  const a = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "a",
    ttl: 10,
    tryOnly: true,
  });
  const b = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "b",
    ttl: 10,
    waiterId: "b",
  });
  h.ok({
    type: "electionCampaign",
    name: "E",
    value: "c",
    ttl: 10,
    waiterId: "c",
  });
  assert.ok("token" in a && "queued" in b);
  h.ok({ type: "leaseRevoke", id: b.lease });
  assert.deepEqual(h.sm.election("E").candidates.map((c) => c.value), ["c"]);
  h.ok({ type: "electionResign", name: "E", token: a.token });
  assert.equal(h.sm.election("E").leader?.value, "c");
  assert.deepEqual(h.sm.invariantViolations(), []);
});

Deno.test("cancel removes a candidate, or resigns a leadership nobody learned of", () => {
  const h = new Harness();
  const a = h.ok({
    type: "electionCampaign",
    name: "E",
    value: "a",
    ttl: 10,
    waiterId: "a",
  });
  h.ok({
    type: "electionCampaign",
    name: "E",
    value: "b",
    ttl: 10,
    waiterId: "b",
  });
  assert.ok("token" in a);
  const c1 = h.ok({ type: "electionCancel", name: "E", waiterId: "b" });
  assert.equal(c1.released, false);
  assert.equal(h.sm.leases().length, 1); // b's lease went with it
  const c2 = h.ok({ type: "electionCancel", name: "E", waiterId: "a" });
  assert.equal(c2.released, true);
  assert.equal(h.sm.election("E").leader, null);
  h.fails({ type: "electionCancel", name: "E", waiterId: "a" }, "not_found");
  // A waiter id in use is refused.
  h.ok({
    type: "electionCampaign",
    name: "E",
    value: "x",
    ttl: 10,
    waiterId: "x",
  });
  h.fails(
    {
      type: "electionCampaign",
      name: "E",
      value: "x",
      ttl: 10,
      waiterId: "x",
    },
    "bad_request",
  );
});

Deno.test("campaign validation: ttl xor lease, waiterId unless tryOnly, a known lease", () => {
  const h = new Harness();
  h.fails(
    { type: "electionCampaign", name: "E", value: "v", tryOnly: true },
    "bad_request",
  );
  h.fails(
    {
      type: "electionCampaign",
      name: "E",
      value: "v",
      ttl: 5,
      lease: 1,
      tryOnly: true,
    },
    "bad_request",
  );
  h.fails(
    { type: "electionCampaign", name: "E", value: "v", ttl: 5 },
    "bad_request",
  );
  h.fails(
    { type: "electionCampaign", name: "", value: "v", ttl: 5, tryOnly: true },
    "bad_request",
  );
  h.fails(
    {
      type: "electionCampaign",
      name: "E",
      value: "v",
      lease: 9,
      tryOnly: true,
    },
    "not_found",
  );
  assert.equal(h.sm.revision, 0);
});
