// Raft messages as plain typed objects. Every message carries its sender, receiver and the
// sender's term; responses are messages too (the transport is one-way).
import type { LogEntry } from '../storage/log-entry.js'

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

export type RaftMessage = RequestVote | RequestVoteResponse | AppendEntries | AppendEntriesResponse
export type RaftMessageType = RaftMessage['type']
