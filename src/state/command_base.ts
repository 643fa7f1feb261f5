/**
 * What every command of the state machine may carry (a request id, the
 * user it is made for) and the error its validation throws. Shared by the
 * key, lease and lock commands (`commands.ts`) and the auth commands
 * (`auth_commands.ts`).
 *
 * @module
 */

/** Identifies a client request so a retried command applies only once. */
export interface RequestId {
  /** A client identity, unique per client process (for example random). */
  client: string;
  /** The request's sequence number within that client. */
  seq: number;
}

/**
 * Who a client's command is made for, set by the API from a verified token
 * (never from a request body). With auth on, the state machine applies the
 * command only if that user still exists with this epoch and its roles
 * allow the command at the moment it is applied. Every command from a
 * client carries it, `{}` when the request had no token: so a node that
 * has not yet applied `authEnable` cannot let an anonymous write through.
 */
export interface CommandAuth {
  /** The user name (absent: the request had no token). */
  user?: string;
  /** The user's epoch when the token was issued (absent: not checked). */
  epoch?: number;
}

/** Fields every command may carry. */
export interface CommandBase {
  /** The request id used to answer a retried command with its first result. */
  requestId?: RequestId;
  /**
   * The user the command is made for (absent: the node's own command, such
   * as a lease expiry, which no user's permissions limit).
   */
  auth?: CommandAuth;
}

/** A field of a command is malformed; the message says which and why. */
export class CommandValidationError extends Error {}
