// What the core hands its driver after each step (etcd's Ready): the state to persist, whether the
// log must be flushed, the messages to send, how far entries are committed, reads that may be
// served. The driver does them in that order and then calls advance().
import type { RaftMessage } from './messages.js'

export type Role = 'follower' | 'candidate' | 'leader'

/**
 * A candidate's kind: asking whether it could win without a new term ('pre-vote', Raft
 * dissertation §9.6), standing for a new term after one ('election'), or at once because the
 * leader handed over ('transfer', §3.10).
 */
export type Candidacy = 'pre-vote' | 'election' | 'transfer'

/** What a node must never forget (Raft Figure 2's persistent state, with the commit index). */
export interface HardState {
  currentTerm: number
  votedFor: number
  commitIndex: number
}

/** A read may be served once the state machine applied up to `index`. */
export interface ReadState {
  requestId: number
  index: number
}

/** Which entries a snapshot covers: up to `index`, whose term is `term`. */
export interface SnapshotMeta {
  index: number
  term: number
}

/**
 * What the driver must do, in this order: persist the hard state, flush the log, send the
 * messages, then call advance(). Committed entries are applied from the log, up to commitIndex,
 * at the state machine's own pace: up to durableCommitIndex at once, the rest after the flush.
 */
export interface Ready {
  /** Save before sending anything: term or vote changed. */
  hardState: HardState | undefined
  /** The log changed since the last Ready: flush it before sending the messages. */
  mustFlush: boolean
  messages: RaftMessage[]
  /** Entries up to here are committed (never goes back). */
  commitIndex: number
  /**
   * Committed entries this node already holds durably (flushed by an earlier Ready) go up to
   * here, at most commitIndex: apply them now, without waiting for this Ready's flush, which
   * covers only entries after them. etcd's raftNode likewise hands a Ready's committed entries
   * to its applier before it saves the Ready's entries. A follower that learns a commit with the
   * next entry, and a leader whose acknowledgements arrive beside new proposals, then apply
   * (answer clients, wake watchers) one flush sooner.
   */
  durableCommitIndex: number
  role: Role
  leaderId: number
  term: number
  /** On a candidate: what kind of candidacy (the term it stands in is `term`, or term + 1 for a pre-vote). */
  candidacy: Candidacy | undefined
  /** log.lastIndex when this Ready was made: what the flush covers. */
  lastIndex: number
  /** How many times the core had cut its log when this Ready was made (for advance()). */
  logCuts: number
  /** Reads asked here (readIndex()) that are confirmed: serve each once applied up to its index. */
  readStates: ReadState[]
  /** Reads asked here that cannot be confirmed (leadership moved): ask again. */
  droppedReads: number[]
  /**
   * Compact the log up to here (whole segments at or below it): a snapshot covers it, less the
   * trailing entries kept for slow followers. The core is the only one that decides what the
   * log holds; the driver carries it out.
   */
  compactTo: number | undefined
  /**
   * A snapshot stepped in (InstallSnapshot) replaced the log: restore the state machine from it
   * before applying anything after it.
   */
  restore: SnapshotMeta | undefined
  /** The log cannot grow (a full disk): the node appends nothing until the driver calls resumeWrites() (RaftCore.diskFull says why). */
  diskFull: boolean
}
