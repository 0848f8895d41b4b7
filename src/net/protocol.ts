// The wire protocol: the .proto file loaded at run time, and RaftMessage <-> protobuf objects.
// Entries travel as bytes; numbers as uint64 (decoded to JavaScript numbers).
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { packageRoot } from '../package-root.js'
import type { EntryType } from '../storage/log-entry.js'
import type { RaftMessage, RaftMessageType } from '../raft/messages.js'

// grpc-js prints its own errors to stderr; raftlog reports them itself, in its own words.
// GRPC_VERBOSITY still turns grpc's logging back on for debugging.
if (process.env.GRPC_VERBOSITY === undefined) grpc.setLogVerbosity(grpc.logVerbosity.NONE)

const protoPath = join(packageRoot(import.meta.url), 'proto', 'raftlog.proto')

interface ServiceConstructors {
  RaftTransport: grpc.ServiceClientConstructor
  RaftClient: grpc.ServiceClientConstructor
}

export const protocol = (() => {
  const definition = protoLoader.loadSync(protoPath, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true })
  return (grpc.loadPackageDefinition(definition) as unknown as { raftlog: ServiceConstructors }).raftlog
})()

/** Each message type travels through the RPC of the same name. */
export const raftMethods: RaftMessageType[] = ['RequestVote', 'RequestVoteResponse', 'AppendEntries', 'AppendEntriesResponse']

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
  lastLogIndex: number
  lastLogTerm: number
  prevLogIndex: number
  prevLogTerm: number
  leaderCommit: number
  success: boolean
  matchIndex: number
  conflictIndex: number
  conflictTerm: number
  seq: number
}

/** A RaftMessage as the protobuf object of its RPC. */
export function toWire(message: RaftMessage): Record<string, unknown> {
  switch (message.type) {
    case 'RequestVote':
      return { from: message.from, to: message.to, term: message.term, preVote: message.preVote, lastLogIndex: message.lastLogIndex, lastLogTerm: message.lastLogTerm }
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
        entries: message.entries.map((entry) => ({ index: entry.index, term: entry.term, type: entry.type, data: Buffer.from(entry.data.buffer, entry.data.byteOffset, entry.data.length) })),
      }
    case 'AppendEntriesResponse':
      return { from: message.from, to: message.to, term: message.term, success: message.success, matchIndex: message.matchIndex, conflictIndex: message.conflictIndex, conflictTerm: message.conflictTerm, seq: message.seq }
  }
}

/** The protobuf object of RPC `method` as a RaftMessage. */
export function fromWire(method: RaftMessageType, wire: Record<string, unknown>): RaftMessage {
  const w = wire as unknown as WireFields
  switch (method) {
    case 'RequestVote':
      return { type: method, from: w.from, to: w.to, term: w.term, preVote: w.preVote, lastLogIndex: w.lastLogIndex, lastLogTerm: w.lastLogTerm }
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
        entries: ((wire.entries ?? []) as WireEntry[]).map((entry) => ({ index: entry.index, term: entry.term, type: entry.type as EntryType, data: new Uint8Array(entry.data) })),
      }
    case 'AppendEntriesResponse':
      return { type: method, from: w.from, to: w.to, term: w.term, success: w.success, matchIndex: w.matchIndex, conflictIndex: w.conflictIndex, conflictTerm: w.conflictTerm, seq: w.seq }
  }
}
