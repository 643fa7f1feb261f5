/**
 * The membership safety rules (`unsafeChange`): no voter added directly, a
 * learner promoted only once caught up and heard from, a voter removed
 * only while the active voters that stay keep a quorum.
 */

import assert from "node:assert/strict";
import {
  type ClusterView,
  MAX_PROMOTE_LAG,
  unsafeChange,
} from "../../src/node/membership.ts";

function view(
  heard: Record<string, number>,
  more: Partial<ClusterView> = {},
): ClusterView {
  return {
    self: "n1",
    conf: { voters: ["n1", "n2", "n3"], learners: ["n4"] },
    lastIndex: 5000,
    match: { n1: 5000, n2: 5000, n3: 4990, n4: 5000 },
    heardMsAgo: (id) => heard[id],
    activeWindowMs: 600,
    ...more,
  };
}

const allHeard = { n2: 10, n3: 20, n4: 30 };

Deno.test("a voter is never added directly, whoever it is", () => {
  const why = unsafeChange({ type: "addVoter", node: "n9" }, view(allHeard));
  assert.match(why!, /^Adding n9 as a voter directly raises the quorum/);
  assert.match(why!, /Add it as a learner first .* Pass force: true/);
  // Existing members are the core's business (it says why itself).
  assert.equal(
    unsafeChange({ type: "addVoter", node: "n4" }, view(allHeard)),
    undefined,
  );
});

Deno.test("a learner is promoted once caught up and heard from", () => {
  assert.equal(
    unsafeChange({ type: "promote", node: "n4" }, view(allHeard)),
    undefined,
  );
  // Exactly the allowed lag is fine; one more entry is not.
  const lagging = (match: number) =>
    unsafeChange(
      { type: "promote", node: "n4" },
      view(allHeard, { match: { n4: match } }),
    );
  assert.equal(lagging(5000 - MAX_PROMOTE_LAG), undefined);
  assert.equal(
    lagging(5000 - MAX_PROMOTE_LAG - 1),
    "Learner n4 has not caught up: its log matches the leader's up to index 3999 of 5000 " +
      "(1001 entries behind; at most 1000 allowed). " +
      "Wait until it has caught up, or pass force=true to promote it anyway",
  );
  assert.match(
    unsafeChange({ type: "promote", node: "n4" }, view({ n2: 1, n3: 1 }))!,
    /^Learner n4 has not been heard from at all \(at most 600 ms allowed\)/,
  );
  assert.match(
    unsafeChange(
      { type: "promote", node: "n4" },
      view({ ...allHeard, n4: 601 }),
    )!,
    /has not been heard from for 601 ms/,
  );
  // Not a learner: the route answers that itself.
  assert.equal(
    unsafeChange({ type: "promote", node: "n2" }, view({})),
    undefined,
  );
});

Deno.test("a voter is removed only while the active voters that stay keep a quorum", () => {
  const rm = (node: string, heard: Record<string, number>) =>
    unsafeChange({ type: "remove", node }, view(heard));
  // All up: any voter may go, and a learner always may.
  assert.equal(rm("n2", allHeard), undefined);
  assert.equal(rm("n4", {}), undefined);
  // n3 is down: removing n3 leaves {n1, n2}, both active.
  assert.equal(rm("n3", { n2: 10 }), undefined);
  // Removing n2 instead leaves {n1, n3} with only the leader active.
  assert.equal(
    rm("n2", { n2: 10, n3: 5000 }),
    "Removing voter n2 would leave 2 voters (n1, n3) of which only 1 is active " +
      "(n1; not heard from within 600 ms: n3), but they need 2 to commit. " +
      "Bring the others back first, or pass force=true to remove it anyway",
  );
  // Five voters, two down: removing a live one leaves 2 of 4 active.
  const five = view({ n2: 10, n3: 10 }, {
    conf: { voters: ["n1", "n2", "n3", "n4", "n5"], learners: [] },
  });
  assert.match(
    unsafeChange({ type: "remove", node: "n2" }, five)!,
    /only 2 are active \(n1, n3; not heard from within 600 ms: n4, n5\), but they need 3/,
  );
  assert.equal(unsafeChange({ type: "remove", node: "n4" }, five), undefined);
});
