// Raft messages as plain typed objects. Every message carries its sender, receiver and the
// sender's term; responses are messages too (the transport is one-way).
import type { LogEntry } from '../../storage/log-entry.js'
import type { Configuration } from './configuration.js'

interface Envelope {
  from: number
  to: number
  term: number
}

/** A vote request; with preVote it asks "would you vote for me?" without changing any term. */
export interface RequestVote extends Envelope {
  type: 'RequestVote'
  preVote: boolean
  lastLogIndex: number
  lastLogTerm: number
  /** Asked by the leader's chosen successor (TimeoutNow): voters set their leader lease aside. */
  transfer: boolean
}

/**
 * Leadership transfer (Raft dissertation §3.10): the leader tells an up-to-date voter to start
 * an election now, without waiting for its timeout or asking a pre-vote.
 */
export interface TimeoutNow extends Envelope {
  type: 'TimeoutNow'
}

export interface RequestVoteResponse extends Envelope {
  type: 'RequestVoteResponse'
  preVote: boolean
  voteGranted: boolean
}

/** Log replication and heartbeat: entries may be empty. */
export interface AppendEntries extends Envelope {
  type: 'AppendEntries'
  prevLogIndex: number
  prevLogTerm: number
  entries: LogEntry[]
  leaderCommit: number
  /**
   * The leader's count of AppendEntries sent in this term; the answer echoes it. It tells a
   * stale refusal from a follower that lost entries, and which answers confirm a ReadIndex.
   */
  seq: number
  /**
   * Only tells the commit index (no entries, at the last entry the follower was sent): the
   * follower takes the commit where its log matches and does not answer. A leader that committed
   * with nothing left uncommitted sends it at once, as etcd's leader does after it commits, so
   * followers apply (and wake their watchers) without waiting for the next proposal or heartbeat.
   */
  commitNotice?: boolean
}

export interface AppendEntriesResponse extends Envelope {
  type: 'AppendEntriesResponse'
  success: boolean
  /** On success: the last index the follower now holds from this message. */
  matchIndex: number
  /** On failure: where the leader should look next (fast backtracking hints). */
  conflictIndex: number
  /** On failure: the follower's term at prevLogIndex, 0 if it has no entry there. */
  conflictTerm: number
  /** The seq of the AppendEntries this answers. */
  seq: number
}

/**
 * The core's request to bring a follower up to a snapshot (Raft §7, InstallSnapshot). It names
 * the snapshot only: the driver streams the file in SnapshotChunk messages and, on the follower,
 * steps it into the core again once the file is durable there, with the configuration the file
 * holds. Never sent over the wire as is.
 */
export interface InstallSnapshot extends Envelope {
  type: 'InstallSnapshot'
  lastIncludedIndex: number
  lastIncludedTerm: number
  /** Stepped into the follower's core: the configuration in force at the snapshot's last entry, when the file holds one. */
  configuration?: Configuration
}

/** A piece of a snapshot file on its way to a follower (driver to driver). */
export interface SnapshotChunk extends Envelope {
  type: 'SnapshotChunk'
  lastIncludedIndex: number
  lastIncludedTerm: number
  /** Byte offset of `data` in the snapshot file. */
  offset: number
  /** Size of the whole file in bytes. */
  totalBytes: number
  data: Uint8Array
}

/** The follower's answer to SnapshotChunk: how much of the file it holds. */
export interface SnapshotChunkResponse extends Envelope {
  type: 'SnapshotChunkResponse'
  lastIncludedIndex: number
  lastIncludedTerm: number
  /** Bytes of the file the follower holds in order: the offset to go on from. */
  heldBytes: number
  /** The whole file arrived, checked out and is durable. */
  done: boolean
  /** Why the follower refused the file (it failed its checksums); the sender starts over. */
  error: string
}

/**
 * A follower asks the leader for a read index on behalf of a local read (Raft dissertation
 * §6.4: follower reads); `requestId` is the follower's own and comes back in the answer.
 */
export interface ReadIndexRequest extends Envelope {
  type: 'ReadIndex'
  requestId: number
}

/** The leader's answer: reads may be served once the follower applied up to `index`. */
export interface ReadIndexResponse extends Envelope {
  type: 'ReadIndexResponse'
  requestId: number
  index: number
}

export type RaftMessage =
  | TimeoutNow
  | RequestVote
  | RequestVoteResponse
  | AppendEntries
  | AppendEntriesResponse
  | InstallSnapshot
  | SnapshotChunk
  | SnapshotChunkResponse
  | ReadIndexRequest
  | ReadIndexResponse
export type RaftMessageType = RaftMessage['type']
