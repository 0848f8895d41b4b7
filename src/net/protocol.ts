// The wire protocol: the .proto file loaded at run time, and RaftMessage <-> protobuf objects.
// Entries travel as bytes; numbers as uint64 (decoded to JavaScript numbers).
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { packageRoot } from '../package-root.js'
import type { EntryType } from '../storage/log-entry.js'
import type { RaftMessage, RaftMessageType } from '../raft/core/messages.js'

// grpc-js prints its own errors to stderr; raftlog reports them itself, in its own words.
// GRPC_VERBOSITY still turns grpc's logging back on for debugging.
if (process.env.GRPC_VERBOSITY === undefined) grpc.setLogVerbosity(grpc.logVerbosity.NONE)

const protoPath = join(packageRoot(import.meta.url), 'proto', 'raftlog.proto')

interface ServiceConstructors {
  RaftTransport: grpc.ServiceClientConstructor
  RaftClient: grpc.ServiceClientConstructor
  /** Many groups' messages between RaftHosts. */
  RaftHosts: grpc.ServiceClientConstructor
  /** Proposals to a RaftHost's groups. */
  RaftHostClient: grpc.ServiceClientConstructor
}

export const protocol = (() => {
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true })
  return (grpc.loadPackageDefinition(definition) as unknown as { raftlog: ServiceConstructors }).raftlog
})()

/** Message types that travel (InstallSnapshot never does: its file does, in chunks). */
export type WireMethod = Exclude<RaftMessageType, 'InstallSnapshot'>

/** The RaftEnvelope field that carries each message type. */
export const envelopeFields: Record<WireMethod, string> = {
  TimeoutNow: 'timeoutNow',
  RequestVote: 'requestVote',
  RequestVoteResponse: 'requestVoteResponse',
  AppendEntries: 'appendEntries',
  AppendEntriesResponse: 'appendEntriesResponse',
  SnapshotChunk: 'snapshotChunk',
  SnapshotChunkResponse: 'snapshotChunkResponse',
  ReadIndex: 'readIndex',
  ReadIndexResponse: 'readIndexResponse',
}
const methodOfField = new Map(Object.entries(envelopeFields).map(([method, field]) => [field, method as WireMethod]))

/** A message as a RaftEnvelope (the oneof set). */
export function toEnvelope(message: RaftMessage): Record<string, unknown> {
  if (message.type === 'InstallSnapshot') throw new Error('InstallSnapshot never goes over the wire: the driver sends the snapshot in SnapshotChunk messages')
  return { [envelopeFields[message.type]]: toWire(message) }
}

/** A RaftEnvelope as a message; undefined for an empty or unknown one (a newer peer's message type). */
export function fromEnvelope(envelope: Record<string, unknown>): RaftMessage | undefined {
  const field = envelope.message
  const method = typeof field === 'string' ? methodOfField.get(field) : undefined
  if (method === undefined) return undefined
  return fromWire(method, envelope[field as string] as Record<string, unknown>)
}

interface WireEntry {
  index: number
  term: number
  type: number
  data: Buffer
}

/** Every scalar field of the Raft RPCs, as proto-loader decodes them (defaults filled in). */
interface WireFields {
  from: number
  to: number
  term: number
  preVote: boolean
  voteGranted: boolean
  transfer: boolean
  lastLogIndex: number
  lastLogTerm: number
  prevLogIndex: number
  prevLogTerm: number
  leaderCommit: number
  commitNotice: boolean
  success: boolean
  matchIndex: number
  conflictIndex: number
  conflictTerm: number
  seq: number
  lastIncludedIndex: number
  lastIncludedTerm: number
  offset: number
  totalBytes: number
  heldBytes: number
  done: boolean
  error: string
  requestId: number
  index: number
}

/** A RaftMessage as the protobuf object of its RPC. */
export function toWire(message: RaftMessage): Record<string, unknown> {
  switch (message.type) {
    case 'TimeoutNow':
      return { from: message.from, to: message.to, term: message.term }
    case 'RequestVote':
      return { from: message.from, to: message.to, term: message.term, preVote: message.preVote, lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm, transfer: message.transfer }
    case 'RequestVoteResponse':
      return { from: message.from, to: message.to, term: message.term, preVote: message.preVote, voteGranted: message.voteGranted }
    case 'AppendEntries':
      return {
        from: message.from,
        to: message.to,
        term: message.term,
        prevLogIndex: message.prevLogIndex,
        prevLogTerm: message.prevLogTerm,
        leaderCommit: message.leaderCommit,
        seq: message.seq,
        ...(message.commitNotice === true ? { commitNotice: true } : {}),
        entries: message.entries.map((entry) => ({ index: entry.index, term: entry.term, type: entry.type, data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length) })),
      }
    case 'AppendEntriesResponse':
      return { from: message.from, to: message.to, term: message.term, success: message.success, matchIndex: message.matchIndex, conflictIndex: message.conflictIndex, conflictTerm: message.conflictTerm, seq: message.seq }
    case 'SnapshotChunk':
      return {
        from: message.from,
        to: message.to,
        term: message.term,
        lastIncludedIndex: message.lastIncludedIndex,
        lastIncludedTerm: message.lastIncludedTerm,
        offset: message.offset,
        totalBytes: message.totalBytes,
        data: Buffer.from(message.data.buffer, message.data.byteOffset, message.data.length),
      }
    case 'SnapshotChunkResponse':
      return { from: message.from, to: message.to, term: message.term, lastIncludedIndex: message.lastIncludedIndex, lastIncludedTerm: message.lastIncludedTerm, heldBytes: message.heldBytes, done: message.done, error: message.error }
    case 'ReadIndex':
      return { from: message.from, to: message.to, term: message.term, requestId: message.requestId }
    case 'ReadIndexResponse':
      return { from: message.from, to: message.to, term: message.term, requestId: message.requestId, index: message.index }
    case 'InstallSnapshot':
      throw new Error('InstallSnapshot never goes over the wire: the driver sends the snapshot in SnapshotChunk messages')
  }
}

/** The protobuf object of RPC `method` as a RaftMessage. */
export function fromWire(method: WireMethod, wire: Record<string, unknown>): RaftMessage {
  const w = wire as unknown as WireFields
  switch (method) {
    case 'TimeoutNow':
      return { type: method, from: w.from, to: w.to, term: w.term }
    case 'RequestVote':
      return { type: method, from: w.from, to: w.to, term: w.term, preVote: w.preVote, lastLogIndex: w.lastLogIndex, lastLogTerm: w.lastLogTerm, transfer: w.transfer }
    case 'RequestVoteResponse':
      return { type: method, from: w.from, to: w.to, term: w.term, preVote: w.preVote, voteGranted: w.voteGranted }
    case 'AppendEntries':
      return {
        type: method,
        from: w.from,
        to: w.to,
        term: w.term,
        prevLogIndex: w.prevLogIndex,
        prevLogTerm: w.prevLogTerm,
        leaderCommit: w.leaderCommit,
        seq: w.seq,
        ...(w.commitNotice === true ? { commitNotice: true } : {}),
        entries: ((wire.entries ?? []) as WireEntry[]).map((entry) => ({ index: entry.index, term: entry.term, type: entry.type as EntryType, data: new Uint8Array(entry.data) })),
      }
    case 'AppendEntriesResponse':
      return { type: method, from: w.from, to: w.to, term: w.term, success: w.success, matchIndex: w.matchIndex, conflictIndex: w.conflictIndex, conflictTerm: w.conflictTerm, seq: w.seq }
    case 'SnapshotChunk':
      return {
        type: method,
        from: w.from,
        to: w.to,
        term: w.term,
        lastIncludedIndex: w.lastIncludedIndex,
        lastIncludedTerm: w.lastIncludedTerm,
        offset: w.offset,
        totalBytes: w.totalBytes,
        data: new Uint8Array((wire.data as Buffer | undefined) ?? new Uint8Array(0)),
      }
    case 'SnapshotChunkResponse':
      return { type: method, from: w.from, to: w.to, term: w.term, lastIncludedIndex: w.lastIncludedIndex, lastIncludedTerm: w.lastIncludedTerm, heldBytes: w.heldBytes, done: w.done, error: w.error }
    case 'ReadIndex':
      return { type: method, from: w.from, to: w.to, term: w.term, requestId: w.requestId }
    case 'ReadIndexResponse':
      return { type: method, from: w.from, to: w.to, term: w.term, requestId: w.requestId, index: w.index }
  }
}
