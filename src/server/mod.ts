/**
 * A whole raftlock server process, assembled ({@linkcode startServer}), and
 * what the tools that launch servers share: the `RAFTLOCK_FAULTS` parser
 * for chaos runs ({@linkcode parseFaults}) and the `raftd` command line of
 * a member of a local cluster ({@linkcode raftdArgs}).
 *
 * @example
 * ```ts
 * import { startServer } from "./mod.ts";
 *
 * // A single-node cluster on free ports; its HTTP API serves the client.
 * async function serveOne(dataDir: string): Promise<void> {
 *   const server = await startServer({
 *     id: "n1",
 *     dataDir,
 *     listen: "127.0.0.1:0",
 *     http: "127.0.0.1:0",
 *   });
 *   console.log(`serving on http://${server.httpAddress}`);
 *   await server.stop();
 * }
 * ```
 *
 * @module
 */

export {
  type JoinAuth,
  type Server,
  type ServerOptions,
  startServer,
} from "./server.ts";
export {
  type HttpErrorHandler,
  type HttpHandler,
  HttpListener,
  type HttpListenerOptions,
  type HttpListenerStats,
  type ServedConnection,
  type ServeOnConnection,
} from "./http_listener.ts";
export { type FaultSettings, KNOBS, parseFaults } from "./faults.ts";
export {
  type LocalMember,
  localMembers,
  peersFlag,
  raftdArgs,
  type RaftdArgsOptions,
} from "./raftd_args.ts";
