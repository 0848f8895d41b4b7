// The extension point for how a RaftNode reaches its peers: GrpcTransport between processes, a
// MemoryNetwork endpoint in one.
import type { RaftMessage } from './core/messages.js'

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
  /**
   * Optional: the random part of the cluster's identity once it is committed (32 hex digits). A
   * transport that crosses machines stamps it on its messages too and drops those that carry
   * another one: a directory copied from another cluster founded from the same node list.
   */
  setClusterToken?(token: string): void
  /**
   * Optional: the ids a committed configuration removed from the cluster (never members again).
   * Their messages are dropped at once, whatever certificate they carry, and each sender is
   * told it was removed, so a node removed while it was down stops instead of asking for votes
   * forever (etcd answers a removed member the same way). Called at start and after changes.
   */
  setRemoved?(ids: readonly number[]): void
  /** Optional: the one handler told when a peer (`by`) says this node was removed from the cluster. */
  onRemoved?(handler: (by: number) => void): void
  /** Stops sending and receiving. */
  close(): Promise<void>
}
