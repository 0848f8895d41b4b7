// The gate every Raft message passes before it reaches the core: who sent it and whether its
// fields are in range. A message that fails is dropped and counted by reason (the transport's
// counts.rejected, the metric raftlog_messages_rejected_total{reason}); the core only ever sees
// messages from a member, for this node, with safe numbers. Pure functions: tested alone.
import type { RaftMessage } from '../../raft/core/messages.js'
import { snapshotChunkBytes } from '../../raft/node/snapshot-transfer.js'
import { EntryType, maxTermOrIndex } from '../../storage/log-entry.js'
import { maxEntrySizeBytes } from '../../storage/segment-format.js'

/** Why a message was dropped. */
export const rejectReasons = [
  /** Bytes that are not a RaftBatch (protobuf that does not decode). */
  'undecodable',
  /** An envelope with no message, or one of a type this node does not know. */
  'unknown-type',
  /** On a peer-TLS port: a stream without a certificate from the cluster CA naming a node. */
  'unauthenticated',
  /** A sender other than the stream's: the certificate's node (peer TLS), or its first sender (plaintext). */
  'sender-mismatch',
  /** A sender that is not a current member of this node's cluster. */
  'not-member',
  /** A sender that a committed configuration removed from the cluster (it is told so). */
  'removed',
  /** Addressed to another node. */
  'misaddressed',
  /** A batch of another cluster (cluster id; see checkClusterId). */
  'other-cluster',
  /** A term, index or count that is not a safe non-negative integer, an unknown entry type, entries out of order. */
  'out-of-range',
  /** An entry or snapshot chunk larger than its limit. */
  'too-large',
] as const
export type RejectReason = (typeof rejectReasons)[number]

/** Longest error text a SnapshotChunkResponse may carry, in UTF-16 units. */
export const maxErrorTextLength = 4096

/** What a check needs to know about the receiving node and the stream. */
export interface CheckContext {
  /** This node's id. */
  self: number
  /** Whether `id` is a current member other than this node (the transport's peers). */
  isMember(id: number): boolean
  /** Whether a committed configuration removed `id` from the cluster. */
  isRemoved?(id: number): boolean
  /** The node this stream speaks for: its certificate's (peer TLS) or its first sender's (plaintext). */
  streamSender: number
}

/** A term, index or counter: a whole number with headroom (maxTermOrIndex). */
const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= maxTermOrIndex
const isNodeId = (value: unknown): boolean => isCount(value) && (value as number) >= 1 && (value as number) <= 0xffffffff
const entryTypes = new Set<number>([EntryType.Normal, EntryType.NoOp, EntryType.Config])

/** The numeric fields of each message type, beyond from, to and term. */
const countFields: Record<RaftMessage['type'], readonly string[]> = {
  TimeoutNow: [],
  RequestVote: ['lastLogIndex', 'lastLogTerm'],
  RequestVoteResponse: [],
  AppendEntries: ['prevLogIndex', 'prevLogTerm', 'leaderCommit', 'seq'],
  AppendEntriesResponse: ['matchIndex', 'conflictIndex', 'conflictTerm', 'seq'],
  InstallSnapshot: ['lastIncludedIndex', 'lastIncludedTerm'],
  SnapshotChunk: ['lastIncludedIndex', 'lastIncludedTerm', 'offset', 'totalBytes'],
  SnapshotChunkResponse: ['lastIncludedIndex', 'lastIncludedTerm', 'heldBytes'],
  ReadIndex: ['requestId'],
  ReadIndexResponse: ['requestId', 'index'],
}

/** Why the fields of `message` are unsafe for the core, or undefined. */
function fieldProblem(message: RaftMessage): RejectReason | undefined {
  const fields = message as unknown as Record<string, unknown>
  if (!isCount(message.term) || !countFields[message.type].every((name) => isCount(fields[name]))) return 'out-of-range'
  if (message.type === 'AppendEntries') {
    // The entries follow prevLogIndex one by one, none from a term after the sender's.
    for (const [position, entry] of message.entries.entries()) {
      if (!isCount(entry.term) || entry.term > message.term || entry.index !== message.prevLogIndex + 1 + position || !entryTypes.has(entry.type)) return 'out-of-range'
      if (entry.data.length > maxEntrySizeBytes) return 'too-large'
    }
    if (!Number.isSafeInteger(message.prevLogIndex + message.entries.length)) return 'out-of-range'
  }
  if (message.type === 'SnapshotChunk') {
    if (message.data.length > snapshotChunkBytes) return 'too-large'
    if (message.offset + message.data.length > message.totalBytes) return 'out-of-range'
  }
  if (message.type === 'SnapshotChunkResponse' && message.error.length > maxErrorTextLength) return 'too-large'
  return undefined
}

/**
 * Why `message` must not reach the core, or undefined when it may. In order: the stream's
 * sender (a stream speaks for one node), membership, the address, the fields.
 */
export function checkMessage(message: RaftMessage, context: CheckContext): RejectReason | undefined {
  if (!isNodeId(message.from) || !isNodeId(message.to)) return 'out-of-range'
  if (message.from !== context.streamSender) return 'sender-mismatch'
  // A leader that a configuration removed hands over with TimeoutNow once that configuration
  // commits, when its successor may have applied it already: refused, the cluster waited an
  // election timeout for a leader. The core takes it only from the term's leader (it can only
  // start an election at once), so it passes from a removed node or a non-member.
  const handover = message.type === 'TimeoutNow'
  if (!handover && context.isRemoved?.(message.from) === true) return 'removed'
  if (!handover && !context.isMember(message.from)) return 'not-member'
  if (message.to !== context.self) return 'misaddressed'
  // InstallSnapshot is the core's note to its own driver: it never comes from the wire.
  if (message.type === 'InstallSnapshot') return 'unknown-type'
  return fieldProblem(message)
}

/** A cluster id as nodes make them (cluster-identity.ts): 32 lowercase hex digits. */
export function isClusterId(value: unknown): boolean {
  return typeof value === 'string' && /^[0-9a-f]{32}$/.test(value)
}

/**
 * The cluster id check of a batch: once this node knows its cluster (setClusterId), a batch
 * from another cluster, or from a node that knows none (it never joined), is dropped whole.
 * A node that does not know its cluster yet (joining) takes batches from anyone, but never one
 * whose id is not an id at all: no cluster has it, and it would reach log lines.
 */
export function checkClusterId(expected: string | undefined, received: string | undefined, expectedToken = '', receivedToken = ''): RejectReason | undefined {
  if (received !== undefined && received !== '' && !isClusterId(received)) return 'other-cluster'
  if (receivedToken !== '' && !isClusterId(receivedToken)) return 'other-cluster'
  if (expected === undefined || expected === '') return undefined
  if (expected !== received) return 'other-cluster'
  // Founded from the same node list: the random tokens tell the clusters apart, once both know theirs.
  return expectedToken === '' || receivedToken === '' || expectedToken === receivedToken ? undefined : 'other-cluster'
}

/** How a node ends the stream of a peer that was removed: the peer reads it as "you were removed". */
export const removedStatusPrefix = 'raftlog: removed from the cluster: '

/** The status details that tell node `id` it was removed (its stream ends with them). */
export function removedNotice(id: number, by: number): string {
  return `${removedStatusPrefix}node ${by} says node ${id} was removed from this cluster by a committed configuration; ids are never reused`
}

/** A batch's cluster id for a log line: itself when it is one, else what it is (never its text). */
export function describeClusterId(received: string | undefined): string {
  if (received === undefined || received === '') return 'no cluster id'
  return isClusterId(received) ? `cluster ${received}` : `a cluster id that is not 32 hex digits (${received.length} characters)`
}
