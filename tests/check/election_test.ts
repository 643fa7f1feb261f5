/**
 * The election model on hand-made histories: one leader that fencing can
 * observe, stale proclaims and fenced writes, expired leaders, token order.
 */

import assert from "node:assert/strict";
import {
  check,
  type CheckResult,
  electionModel,
  type GrantModelOptions,
  lockModel,
  type Op,
  registerModel,
} from "../../src/check/mod.ts";
import { Hist, l, r, STEP_BUDGET } from "./helpers.ts";

const e = {
  campaign: (election: string): Op => ({ f: "campaign", election }),
  proclaim: (election: string, token: number): Op => ({
    f: "proclaim",
    election,
    token,
    value: `v${token}`,
  }),
  resign: (election: string, token: number): Op => ({
    f: "resign",
    election,
    token,
  }),
  leader: (election: string): Op => ({ f: "leader", election }),
  fenced: (election: string, token: number): Op => ({
    f: "fencedWrite",
    election,
    token,
  }),
};

function verdict(h: Hist, options: GrantModelOptions = {}): CheckResult {
  return check(h.events(), electionModel(options), STEP_BUDGET);
}

const NEVER = { leasesMayExpire: false };

Deno.test("election: campaign, proclaim, resign, the next leader", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, { token: 10 })
    .ok("a", e.proclaim("E", 10), 2, 3)
    .ok("b", e.leader("E"), 2, 3, { token: 10, value: "v10" })
    .ok("a", e.resign("E", 10), 4, 5)
    .ok("b", e.leader("E"), 6, 7, null)
    .ok("b", e.campaign("E"), 8, 9, { token: 12 })
    .ok("b", e.fenced("E", 12), 10, 11)
    .fail("a", e.proclaim("E", 10), 10, 11)
    .ok("b", e.resign("E", 12), 12, 13);
  assert.equal(verdict(h).result, "ok");
  assert.equal(verdict(h, NEVER).result, "ok");
});

Deno.test("election: a stale leader's proclaim after a newer campaign is illegal", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.campaign("E"), 2, 3, 2)
    .ok("b", e.proclaim("E", 2), 4, 5)
    .ok("a", e.proclaim("E", 1), 6, 7);
  const res = verdict(h);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "E");
  // Refused, it is fine: a's lease expired before b was elected.
  const refused = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.campaign("E"), 2, 3, 2)
    .ok("b", e.proclaim("E", 2), 4, 5)
    .fail("a", e.proclaim("E", 1), 6, 7);
  assert.equal(verdict(refused).result, "ok");
  // Without expiry, two campaigns won without a resign are two leaders.
  assert.equal(verdict(refused, NEVER).result, "illegal");
});

Deno.test("election: a fenced write of a stale leader is illegal, even before the new leader acts", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.campaign("E"), 2, 3, 2)
    .ok("a", e.fenced("E", 1), 4, 5)
    .ok("b", e.fenced("E", 2), 6, 7);
  assert.equal(verdict(h).result, "illegal");
  // Concurrent with b's campaign, a's write may have come first.
  const racing = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.campaign("E"), 2, 6, 2)
    .ok("a", e.fenced("E", 1), 4, 5)
    .ok("b", e.fenced("E", 2), 7, 8);
  assert.equal(verdict(racing).result, "ok");
});

Deno.test("election: a resigned or expired leader's token stops fencing", () => {
  const resigned = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("a", e.resign("E", 1), 2, 3)
    .ok("a", e.fenced("E", 1), 4, 5);
  assert.equal(verdict(resigned).result, "illegal");
  const expired = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.leader("E"), 2, 3, null)
    .ok("a", e.proclaim("E", 1), 4, 5);
  assert.equal(verdict(expired).result, "illegal");
  // Seen vacant while a leads: legal only if leases may expire.
  const vacant = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.leader("E"), 2, 3, null);
  assert.equal(verdict(vacant).result, "ok");
  assert.equal(verdict(vacant, NEVER).result, "illegal");
});

Deno.test("election: a reader never sees an older leader after a newer one", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("b", e.campaign("E"), 2, 3, 2)
    .ok("c", e.leader("E"), 4, 5, { token: 2 })
    .ok("c", e.leader("E"), 6, 7, { token: 1 });
  assert.equal(verdict(h).result, "illegal");
  const unknown = new Hist()
    .ok("c", e.leader("E"), 0, 1, { token: 7 });
  assert.equal(verdict(unknown).result, "illegal");
});

Deno.test("election: tokens strictly increase, across elections too", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 5)
    .ok("a", e.resign("E", 5), 2, 3)
    .ok("b", e.campaign("E"), 4, 5, 5);
  assert.equal(verdict(h).result, "illegal");
  const across = new Hist()
    .ok("a", e.campaign("E1"), 0, 1, 5)
    .ok("b", e.campaign("E2"), 2, 3, 3);
  const res = verdict(across);
  assert.equal(res.result, "illegal");
  assert.equal(res.failure?.key, "<token order across all elections>");
  assert.equal(verdict(across, { globalTokens: false }).result, "ok");
});

Deno.test("election: a timed-out campaign may have won a token nobody saw", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .info("c", e.campaign("E"), 2, 30)
    .ok("b", e.leader("E"), 4, 5, { token: 3 })
    .ok("a", e.resign("E", 1), 6, 7);
  // The leader read of the lost grant's token is left out; a's resign
  // after the lost grant is then what the model judges: legal only if a
  // still led, which it may have (the lost grant is not fencing).
  assert.equal(verdict(h).result, "ok");
  const release = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .info("a", e.resign("E", 1), 2, 3)
    .ok("b", e.campaign("E"), 4, 5, 2)
    .ok("b", e.proclaim("E", 2), 6, 7);
  assert.equal(verdict(release, NEVER).result, "ok");
});

Deno.test("election: shares a history with registers and locks", () => {
  const h = new Hist()
    .ok("a", e.campaign("E"), 0, 1, 1)
    .ok("a", l.acquire("L"), 2, 3, 2)
    .ok("a", e.fenced("E", 1), 4, 5)
    .ok("b", r.write("k", "x"), 4, 5)
    .ok("b", r.read("k"), 6, 7, "x");
  assert.equal(check(h.events(), electionModel(), STEP_BUDGET).result, "ok");
  assert.equal(check(h.events(), lockModel(), STEP_BUDGET).result, "ok");
  assert.equal(check(h.events(), registerModel(), STEP_BUDGET).result, "ok");
});

Deno.test("election: malformed operations are reported", () => {
  const noName = new Hist().ok("a", { f: "campaign" }, 0, 1, 1);
  assert.throws(() => verdict(noName), /has no string election/);
  const noToken = new Hist().ok("a", e.campaign("E"), 0, 1, "x");
  assert.throws(() => verdict(noToken), /needs a numeric token result/);
  const resign = new Hist().ok("a", { f: "resign", election: "E" }, 0, 1);
  assert.throws(() => verdict(resign), /needs a token/);
});
