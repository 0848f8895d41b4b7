import type { RaftMessage } from './messages.js'

/** How a RaftNode reaches its peers. Delivery is best effort: messages may be lost or reordered. */
export interface Transport {
  /** Sends a message to `message.to`; never throws for an unreachable peer, the message is just lost. */
  send(message: RaftMessage): void
  /** Registers the one handler for messages addressed to this node. */
  onMessage(handler: (message: RaftMessage) => void): void
  /** Stops sending and receiving. */
  close(): Promise<void>
}
