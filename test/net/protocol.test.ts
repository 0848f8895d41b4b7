import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type * as grpc from '@grpc/grpc-js'
import { envelopeFields, fromEnvelope, protocol, toEnvelope } from '../../src/net/protocol.js'
import type { RaftMessage } from '../../src/raft/core/messages.js'

type WireMessage = Exclude<RaftMessage, { type: 'InstallSnapshot' }>
import { EntryType, type LogEntry } from '../../src/storage/log-entry.js'

const nodeId = fc.integer({ min: 1, max: 0xffffffff })
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER })
const envelope = { from: nodeId, to: nodeId, term: count }
const entry = fc.record({
  index: count,
  term: count,
  type: fc.constantFrom(EntryType.Normal, EntryType.NoOp, EntryType.Config),
  data: fc.uint8Array({ maxLength: 64 }),
})
const message: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.record({ type: fc.constant('RequestVote' as const), ...envelope, preVote: fc.boolean(), lastLogIndex: count, lastLogTerm: count, transfer: fc.boolean() }),
  fc.record({ type: fc.constant('TimeoutNow' as const), ...envelope }),
  fc.record({ type: fc.constant('RequestVoteResponse' as const), ...envelope, preVote: fc.boolean(), voteGranted: fc.boolean() }),
  fc.record({ type: fc.constant('AppendEntries' as const), ...envelope, prevLogIndex: count, prevLogTerm: count, entries: fc.array(entry, { maxLength: 5 }), leaderCommit: count, seq: count }),
  fc.record({ type: fc.constant('AppendEntries' as const), ...envelope, prevLogIndex: count, prevLogTerm: count, entries: fc.constant([] as LogEntry[]), leaderCommit: count, seq: count, commitNotice: fc.constant(true) }),
  fc.record({ type: fc.constant('AppendEntriesResponse' as const), ...envelope, success: fc.boolean(), matchIndex: count, conflictIndex: count, conflictTerm: count, seq: count }),
  fc.record({ type: fc.constant('SnapshotChunk' as const), ...envelope, lastIncludedIndex: count, lastIncludedTerm: count, offset: count, totalBytes: count, data: fc.uint8Array({ maxLength: 64 }) }),
  fc.record({ type: fc.constant('SnapshotChunkResponse' as const), ...envelope, lastIncludedIndex: count, lastIncludedTerm: count, heldBytes: count, done: fc.boolean(), error: fc.string() }),
  fc.record({ type: fc.constant('ReadIndex' as const), ...envelope, requestId: count }),
  fc.record({ type: fc.constant('ReadIndexResponse' as const), ...envelope, requestId: count, index: count }),
)

/** Through the bytes gRPC really sends: the stream's own serializer and deserializer, in a batch of one. */
function overTheWire(m: WireMessage): { decoded: RaftMessage; bytes: Buffer } {
  const method = (protocol.RaftTransport.service as grpc.ServiceDefinition).Stream!
  const bytes = method.requestSerialize({ messages: [toEnvelope(m)] })
  const batch = method.requestDeserialize(bytes) as { messages: Record<string, unknown>[] }
  return { decoded: fromEnvelope(batch.messages[0]!)!, bytes }
}

describe('the wire protocol', () => {
  it('has one streaming RPC between nodes, with an envelope field per Raft message type', () => {
    expect(Object.keys(protocol.RaftTransport.service)).toEqual(['Stream'])
    expect((protocol.RaftTransport.service as grpc.ServiceDefinition).Stream!.requestStream).toBe(true)
    expect(Object.keys(envelopeFields).sort()).toEqual(['AppendEntries', 'AppendEntriesResponse', 'ReadIndex', 'ReadIndexResponse', 'RequestVote', 'RequestVoteResponse', 'SnapshotChunk', 'SnapshotChunkResponse', 'TimeoutNow'])
    expect(Object.keys(protocol.RaftClient.service).sort()).toEqual(['Calls', 'ChangeMembership', 'Join', 'Propose', 'Read', 'SaveSnapshot', 'Status', 'TransferLeadership'])
  })

  it('skips an envelope it does not know (a newer peer)', () => {
    expect(fromEnvelope({})).toBeUndefined()
    expect(fromEnvelope({ message: 'somethingNew', somethingNew: {} })).toBeUndefined()
  })

  it('carries every Raft message through protobuf unchanged', () => {
    fc.assert(
      fc.property(message, (m) => {
        expect(overTheWire(m).decoded).toEqual(m)
      }),
      { numRuns: 500 },
    )
  })

  it('sends entries as bytes, not JSON: a 1000-byte entry in a batch costs 1000 bytes and a few more', () => {
    const data = new Uint8Array(1000).fill(0xff)
    const m: RaftMessage = { type: 'AppendEntries', from: 1, to: 2, term: 3, prevLogIndex: 9, prevLogTerm: 3, leaderCommit: 9, seq: 1, entries: [{ index: 10, term: 3, type: EntryType.Normal, data }] }
    const { decoded, bytes } = overTheWire(m)
    expect(bytes.length).toBeGreaterThan(1000)
    expect(bytes.length).toBeLessThan(1040)
    expect(decoded).toEqual(m)
  })

  it('hands out entry data that does not alias the received buffer', () => {
    const m: RaftMessage = { type: 'AppendEntries', from: 1, to: 2, term: 1, prevLogIndex: 0, prevLogTerm: 0, leaderCommit: 0, seq: 1, entries: [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }] }
    const method = (protocol.RaftTransport.service as grpc.ServiceDefinition).Stream!
    const bytes = method.requestSerialize({ messages: [toEnvelope(m)] })
    const decoded = fromEnvelope((method.requestDeserialize(bytes) as { messages: Record<string, unknown>[] }).messages[0]!)!
    bytes.fill(0)
    expect(decoded.type === 'AppendEntries' && [...decoded.entries[0]!.data]).toEqual([1, 2, 3])
  })
})
