/**
 * The cluster: `GET /v1/status` (this node), `GET /v1/cluster` (members,
 * from the leader), membership changes and leadership transfer (forwarded
 * to the leader), and `GET /v1/snapshot` (a backup of the state).
 *
 * Membership changes are checked on the leader before they are proposed
 * (`unsafeMembershipChange`, etcd's strict reconfiguration): a voter is
 * added as a learner first and promoted once caught up, and a voter is
 * removed only while the others that are active keep a quorum. A refused
 * change is 409 `conflict` saying what to do; `force` (`"force": true` in
 * the body, `?force=true` on remove and promote) skips the check.
 *
 * The backup is the file of `src/storage/backup.ts` (header, state,
 * checksums), made by the leader (forwarded there), which alone knows how
 * long each lease has left.
 *
 * @module
 */

import { Hono } from "hono";
import {
  type BackupLease,
  type BackupMember,
  encodeBackup,
} from "../../storage/backup.ts";
import type { LockService } from "../../service/service.ts";
import type { NodeStatus } from "../../wire/types.ts";
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
    return c.json(nodeStatusOf(svc));
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
    const voter = b.learner === false;
    const m = node.status().members.find((x) => x.id === b.id);
    if (m) {
      throw new ApiError(
        "conflict",
        m.role === "learner" && voter
          ? `${b.id} is already a learner; promote it (POST /v1/cluster/members/${b.id}/promote) once it has caught up`
          : `${b.id} is already a ${m.role}`,
      );
    }
    if (voter) {
      refuseUnsafe(node.unsafeMembershipChange("addVoter", b.id), b.force);
      await node.addVoter(b.id, info);
    } else await node.addLearner(b.id, info);
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
    refuseUnsafe(node.unsafeMembershipChange("remove", id), forced(c.req));
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
    refuseUnsafe(node.unsafeMembershipChange("promote", id), forced(c.req));
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
    // Users, password hashes and signing keys are in it: root only.
    guardOf(c).root();
    if (!node.isLeader) {
      const fwd = await forwardToLeader(c, svc, false);
      if (fwd) return fwd;
    }
    await svc.barrier();
    // Everything below up to the state capture runs in one turn, so the
    // header describes exactly the state that is encoded.
    const s = node.status();
    const state = svc.state;
    const members: BackupMember[] = s.members.map((m) => ({
      id: m.id,
      role: m.role,
      peerAddress: m.peerAddress,
      httpAddress: m.httpAddress,
    }));
    const leases: BackupLease[] = state.leases().map((l) => {
      const ms = svc.leaseRemainingMs(l.id);
      return {
        id: l.id,
        ttl: l.ttl,
        remainingMs: ms === undefined ? null : Math.round(ms),
      };
    });
    const header = {
      clusterId: options.clusterId ?? "raftlock",
      nodeId: node.id,
      index: s.applied,
      term: s.term,
      revision: state.revision,
      time: new Date().toISOString(),
      members,
      leases,
    };
    const parts = await encodeBackup(header, await state.snapshotAsync());
    c.header("Content-Type", "application/octet-stream");
    c.header(
      "Content-Disposition",
      `attachment; filename="raftlock-${s.applied}.snap"`,
    );
    c.header(
      "Content-Length",
      String(parts.reduce((n, p) => n + p.byteLength, 0)),
    );
    return c.body(
      new ReadableStream<Uint8Array<ArrayBuffer>>({
        start(ctl) {
          for (const p of parts) ctl.enqueue(p as Uint8Array<ArrayBuffer>);
          ctl.close();
        },
      }),
    );
  });

  return app;
}

// A membership change the leader judged unsafe is refused unless forced.
function refuseUnsafe(why: string | undefined, force?: boolean): void {
  if (why !== undefined && force !== true) throw new ApiError("conflict", why);
}

function forced(req: { query(name: string): string | undefined }): boolean {
  const f = req.query("force");
  return f === "" || f === "true" || f === "1";
}

/** This node's `GET /v1/status` answer. */
export function nodeStatusOf(svc: LockService): NodeStatus {
  const s = svc.node.status();
  return {
    id: s.id,
    role: s.role,
    term: s.term,
    leader: s.leader,
    commit: s.commit,
    applied: s.applied,
    lastIndex: s.lastIndex,
    snapshotIndex: s.snapshotIndex,
    revision: svc.state.revision,
    space: {
      stateBytes: svc.state.stateBytes(),
      quotaBytes: svc.limits.quotaBytes,
      noSpace: svc.noSpace,
      alarms: svc.state.alarms(),
    },
  };
}
