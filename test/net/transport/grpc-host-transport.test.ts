// The receiving end of a host stream: only a known host's batch gets through, and of it only the
// group messages that name that host as sender and this one as receiver, with fields in range;
// quiesce notices with numbers out of range are dropped. Counted, never thrown.
import { describe, expect, it } from 'vitest'
import { GrpcHostTransport } from '../../../src/net/transport/grpc-host-transport.js'
import { toEnvelope } from '../../../src/net/protocol.js'
import type { RaftMessage } from '../../../src/raft/core/messages.js'

const transport = new GrpcHostTransport(1, [
  { id: 1, address: '127.0.0.1:1' },
  { id: 2, address: '127.0.0.1:2' },
])
const check = (wire: unknown) => (transport as unknown as { checked(wire: unknown, certified: number | undefined): unknown }).checked(wire, undefined)
/** An envelope as proto-loader decodes one: its oneof names the field set. */
const wire = (message: RaftMessage): Record<string, unknown> => {
  const envelope = toEnvelope(message)
  return { ...envelope, message: Object.keys(envelope)[0] }
}
const vote = (from: number, to: number): RaftMessage => ({ type: 'RequestVote', from, to, term: 3, preVote: false, lastLogIndex: 0, lastLogTerm: 0, transfer: false })

describe('GrpcHostTransport, receiving', () => {
  it('passes a member host\'s group messages addressed here', () => {
    expect(check({ from: 2, messages: [{ group: 7, message: wire(vote(2, 1)) }], quiesce: [{ group: 7, term: 3, lastIndex: 9 }] })).toEqual({ from: 2, messages: [{ group: 7, message: vote(2, 1) }], quiesce: [{ group: 7, term: 3, lastIndex: 9 }] })
  })

  it('drops a stranger\'s batch, and messages sent for another host, to another, or to group 0', () => {
    const before = transport.counts.rejected
    expect(check({ from: 9, messages: [{ group: 1, message: wire(vote(9, 1)) }] })).toBeUndefined()
    const batch = check({ from: 2, messages: [{ group: 1, message: wire(vote(3, 1)) }, { group: 1, message: wire(vote(2, 4)) }, { group: 0, message: wire(vote(2, 1)) }, { group: 1, message: {} }], quiesce: [{ group: 0, term: 1, lastIndex: 1 }, { group: 1, term: -1, lastIndex: 1 }] }) as { messages: unknown[]; quiesce: unknown[] }
    expect([batch.messages, batch.quiesce]).toEqual([[], []])
    expect(transport.counts.rejected - before).toBe(2 + 4 + 2)
  })

  it('passes a group\'s snapshot chunks and their answers (a follower behind a compacted log catches up through the host stream)', () => {
    const chunk: RaftMessage = { type: 'SnapshotChunk', from: 2, to: 1, term: 3, lastIncludedIndex: 40, lastIncludedTerm: 2, offset: 0, totalBytes: 5, data: Buffer.from('state') }
    const answer: RaftMessage = { type: 'SnapshotChunkResponse', from: 2, to: 1, term: 3, lastIncludedIndex: 40, lastIncludedTerm: 2, heldBytes: 5, done: true, error: '' }
    const batch = check({ from: 2, messages: [{ group: 5, message: wire(chunk) }, { group: 6, message: wire(answer) }], quiesce: [] }) as { messages: { group: number; message: RaftMessage }[] }
    expect(batch.messages.map(({ group, message }) => [group, message.type])).toEqual([
      [5, 'SnapshotChunk'],
      [6, 'SnapshotChunkResponse'],
    ])
    expect(Buffer.from((batch.messages[0]?.message as { data: Uint8Array }).data).toString()).toBe('state')
    expect(batch.messages[1]?.message).toEqual(answer)
  })
})
