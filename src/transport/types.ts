/**
 * The transport interface: how a node's messages reach its peers.
 *
 * Sending never blocks Raft and may drop a message; Raft retries.
 *
 * @module
 */

import type { Message, NodeId } from "../raft/types.ts";

/** Called for every message that arrives for this node. */
export type MessageHandler = (message: Message) => void;

/** Moves Raft messages between nodes. */
export interface Transport {
  /** Queues `message` for `message.to`; never blocks, may drop. */
  send(message: Message): void;
  /** Sets the function that receives inbound messages. */
  onMessage(handler: MessageHandler): void;
  /** Stops sending and receiving and frees resources. */
  close(): void | Promise<void>;
}

/** A transport that can also report a peer as unreachable to Raft. */
export interface PeerAware {
  /** The peers currently known to the transport. */
  peers(): NodeId[];
}
