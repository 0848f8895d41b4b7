// What one host sends another in one go: every group's Raft messages for that peer gathered over a
// turn (one batch per peer pair, not one message per group), and the host-level signals that let
// idle groups go quiet: that the sender is alive (one beat per pair stands for every group's
// heartbeats), and which of its led groups went quiet.
import type { RaftMessage } from '../raft/core/messages.js'

/** A Raft message of one group. */
export interface GroupMessage {
  group: number
  message: RaftMessage
}

/** A leader's word that its group goes quiet: the follower stops ticking it while the leader's host is alive. */
export interface QuiesceNotice {
  group: number
  /** The leader's term: a notice of an older term is ignored. */
  term: number
  /** The leader's last index: a follower behind it stays awake. */
  lastIndex: number
}

export interface HostBatch {
  /** The sending host's node id. */
  from: number
  messages: GroupMessage[]
  quiesce: QuiesceNotice[]
}

/** How hosts reach each other. Delivery may fail or reorder; Raft copes, as with any transport. */
export interface HostTransport {
  /** Sends `batch` to host `to`, without waiting. */
  send(to: number, batch: HostBatch): void
}
