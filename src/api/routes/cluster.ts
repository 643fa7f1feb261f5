/**
 * The cluster: `GET /v1/status` (this node), `GET /v1/cluster` (members,
 * from the leader), membership changes and leadership transfer (forwarded
 * to the leader), and `GET /v1/snapshot` (a backup of the state).
 *
 * @module
 */

import { Hono } from "hono";
import { encode } from "../../codec/msgpack.ts";
import { guardOf } from "../auth.ts";
import { ApiError } from "../errors.ts";
import { forwardToLeader, mustForward } from "../forward.ts";
import type { AppOptions } from "../options.ts";
import { readBody } from "../request.ts";
import { memberBody, transferBody } from "../schemas.ts";

/** How long a leadership transfer may take before the answer is `timeout`. */
const TRANSFER_WAIT_MS = 3000;

/** The cluster, status and snapshot routes, relative to `/v1`. */
export function clusterRoutes(options: AppOptions): Hono {
  const svc = options.service;
  const node = svc.node;
  const app = new Hono();

  app.get("/status", (c) => {
    guardOf(c).user();
    const s = node.status();
    return c.json({
      id: s.id,
      role: s.role,
      term: s.term,
      leader: s.leader,
      commit: s.commit,
      applied: s.applied,
      lastIndex: s.lastIndex,
      snapshotIndex: s.snapshotIndex,
      revision: svc.state.revision,
    });
  });

  app.get("/cluster", async (c) => {
    guardOf(c).user();
    if (!node.isLeader && c.req.query("local") === undefined) {
      const fwd = await forwardToLeader(c, svc, false);
      if (fwd) return fwd;
    }
    const s = node.status();
    return c.json({
      leader: s.leader,
      term: s.term,
      members: s.members.map((m) => ({
        ...m,
        isLeader: m.id === s.leader,
        progress: s.progress[m.id],
      })),
    });
  });

  app.post("/cluster/members", async (c) => {
    const b = await readBody(c, memberBody);
    guardOf(c).root();
    if (!node.isLeader) return await mustForward(c, svc, b);
    const info = { peerAddress: b.peerAddress, httpAddress: b.httpAddress };
    if (b.learner === false) await node.addVoter(b.id, info);
    else await node.addLearner(b.id, info);
    return c.json(
      { id: b.id, role: b.learner === false ? "voter" : "learner" },
      201,
    );
  });

  app.delete("/cluster/members/:id", async (c) => {
    guardOf(c).root();
    if (!node.isLeader) return await mustForward(c, svc);
    const id = c.req.param("id");
    if (!node.status().members.some((m) => m.id === id)) {
      throw new ApiError("not_found", `${id} is not a member`);
    }
    await node.removeMember(id);
    return c.json({ id, removed: true });
  });

  app.post("/cluster/members/:id/promote", async (c) => {
    guardOf(c).root();
    if (!node.isLeader) return await mustForward(c, svc);
    const id = c.req.param("id");
    const m = node.status().members.find((x) => x.id === id);
    if (!m) throw new ApiError("not_found", `${id} is not a member`);
    if (m.role === "voter") {
      throw new ApiError("conflict", `${id} is already a voter`);
    }
    await node.promote(id);
    return c.json({ id, role: "voter" });
  });

  app.post("/cluster/leader", async (c) => {
    const b = await readBody(c, transferBody);
    guardOf(c).root();
    if (!node.isLeader) return await mustForward(c, svc, b);
    const to = b.to;
    const m = node.status().members.find((x) => x.id === to);
    if (!m) throw new ApiError("not_found", `${to} is not a member`);
    if (m.role !== "voter") {
      throw new ApiError(
        "bad_request",
        `${to} is a learner; promote it before moving leadership to it`,
      );
    }
    if (to === node.id) return c.json({ leader: to });
    node.transferLeadership(to);
    const deadline = Date.now() + TRANSFER_WAIT_MS;
    while (Date.now() < deadline && node.leader !== to) {
      await new Promise((r) => setTimeout(r, 20));
    }
    if (node.leader !== to) {
      throw new ApiError(
        "timeout",
        `Leadership did not move to ${to} within ${
          TRANSFER_WAIT_MS / 1000
        } s; it may be behind or unreachable`,
      );
    }
    return c.json({ leader: to });
  });

  app.get("/snapshot", async (c) => {
    await svc.barrier();
    // Users, password hashes and signing keys are in it: root only.
    guardOf(c).root();
    const s = node.status();
    const body = encode({
      v: 1,
      format: "raftlock-backup",
      index: s.applied,
      term: s.term,
      revision: svc.state.revision,
      state: svc.state.snapshot(),
    });
    c.header("Content-Type", "application/octet-stream");
    c.header(
      "Content-Disposition",
      `attachment; filename="raftlock-${s.applied}.snap"`,
    );
    return c.body(body as Uint8Array<ArrayBuffer>);
  });

  return app;
}
