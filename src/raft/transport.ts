import type { RaftMessage } from './messages.js'

/** How a RaftNode reaches its peers. Delivery is best effort: messages may be lost or reordered. */
export interface Transport {
  /** Sends a message to `message.to`; never throws for an unreachable peer, the message is just lost. */
  send(message: RaftMessage): void
  /** Registers the one handler for messages addressed to this node. */
  onMessage(handler: (message: RaftMessage) => void): void
  /**
   * Optional, for a transport that needs addresses: where each member listens (host:port), from
   * the configuration in use; called at start and after every membership change.
   */
  setAddresses?(addresses: Readonly<Record<number, string>>): void
  /**
   * Optional: the cluster this node belongs to (32 hex digits), called once at start before any
   * message is sent. A transport that crosses machines stamps its messages with it and drops
   * those of another cluster.
   */
  setClusterId?(clusterId: string): void
  /** Stops sending and receiving. */
  close(): Promise<void>
}
