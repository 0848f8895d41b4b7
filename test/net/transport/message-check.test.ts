// The gate of message-check.ts, message by message.
import { describe, expect, it } from 'vitest'
import { checkClusterId, checkMessage, describeClusterId, type CheckContext } from '../../../src/net/transport/message-check.js'
import type { RaftMessage } from '../../../src/raft/core/messages.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import { RejectionLog, emptyRejectionCounts } from '../../../src/net/transport/rejections.js'

const context: CheckContext = { self: 1, isMember: (id) => id === 2 || id === 3, streamSender: 2 }

function append(overrides: Partial<Extract<RaftMessage, { type: 'AppendEntries' }>> = {}): RaftMessage {
  return {
    type: 'AppendEntries',
    from: 2,
    to: 1,
    term: 5,
    prevLogIndex: 10,
    prevLogTerm: 4,
    leaderCommit: 10,
    seq: 1,
    entries: [
      { index: 11, term: 5, type: EntryType.Normal, data: new Uint8Array(3) },
      { index: 12, term: 5, type: EntryType.Config, data: new Uint8Array(0) },
    ],
    ...overrides,
  }
}

describe('checkMessage', () => {
  it('lets a member\'s well-formed message for this node through', () => {
    expect(checkMessage(append(), context)).toBeUndefined()
    expect(checkMessage({ type: 'RequestVote', from: 2, to: 1, term: 7, preVote: true, lastLogIndex: 0, lastLogTerm: 0, transfer: false }, context)).toBeUndefined()
  })

  it('drops a message from another sender than the stream\'s, a stranger, or for another node', () => {
    expect(checkMessage(append({ from: 3 }), context)).toBe('sender-mismatch')
    expect(checkMessage(append({ from: 9 }), { ...context, streamSender: 9 })).toBe('not-member')
    expect(checkMessage(append({ to: 3 }), context)).toBe('misaddressed')
    expect(checkMessage(append({ from: 0 }), { ...context, streamSender: 0 })).toBe('out-of-range')
  })

  it('drops unsafe numbers, entries out of order or from a later term, unknown entry types', () => {
    expect(checkMessage(append({ term: 2 ** 64 }), context)).toBe('out-of-range')
    expect(checkMessage(append({ term: -1 }), context)).toBe('out-of-range')
    expect(checkMessage(append({ leaderCommit: 1.5 }), context)).toBe('out-of-range')
    expect(checkMessage(append({ prevLogIndex: 11 }), context)).toBe('out-of-range')
    expect(checkMessage(append({ entries: [{ index: 11, term: 6, type: EntryType.Normal, data: new Uint8Array(0) }] }), context)).toBe('out-of-range')
    expect(checkMessage(append({ entries: [{ index: 11, term: 5, type: 7 as EntryType, data: new Uint8Array(0) }] }), context)).toBe('out-of-range')
    expect(checkMessage({ type: 'ReadIndexResponse', from: 2, to: 1, term: 1, requestId: 1, index: Number.MAX_SAFE_INTEGER + 2 }, context)).toBe('out-of-range')
  })

  it('drops a snapshot chunk that is too large or runs past the file', () => {
    const chunk = { type: 'SnapshotChunk' as const, from: 2, to: 1, term: 1, lastIncludedIndex: 5, lastIncludedTerm: 1, offset: 0, totalBytes: 10, data: new Uint8Array(10) }
    expect(checkMessage(chunk, context)).toBeUndefined()
    expect(checkMessage({ ...chunk, offset: 1 }, context)).toBe('out-of-range')
    expect(checkMessage({ ...chunk, totalBytes: 2 ** 30, data: new Uint8Array(1024 * 1024 + 1) }, context)).toBe('too-large')
  })

  it('never takes InstallSnapshot from the wire', () => {
    expect(checkMessage({ type: 'InstallSnapshot', from: 2, to: 1, term: 1, lastIncludedIndex: 1, lastIncludedTerm: 1 }, context)).toBe('unknown-type')
  })
})

describe('checkClusterId', () => {
  const a = 'a'.repeat(32)
  const b = 'b'.repeat(32)

  it('passes anything while this node knows no cluster (it is joining), then only batches of its own', () => {
    expect(checkClusterId(undefined, b)).toBeUndefined()
    expect(checkClusterId('', b)).toBeUndefined()
    expect(checkClusterId(a, a)).toBeUndefined()
    expect(checkClusterId(a, b)).toBe('other-cluster')
    // A sender that knows no cluster never joined this one.
    expect(checkClusterId(a, undefined)).toBe('other-cluster')
    expect(checkClusterId(a, '')).toBe('other-cluster')
  })

  it('drops a batch whose id is not an id at all, even on a node that is joining', () => {
    const forged = `${'f'.repeat(31)}\n2026-12-01T00:00:00.000Z [node 1] election won: leader for term 99`
    for (const expected of [undefined, '', a]) {
      expect(checkClusterId(expected, forged)).toBe('other-cluster')
      expect(checkClusterId(expected, 'A'.repeat(32))).toBe('other-cluster')
      expect(checkClusterId(expected, 'f'.repeat(8 * 1024 * 1024))).toBe('other-cluster')
    }
  })

  it('describes a claimed id for a log line without its text unless it is a real one', () => {
    expect(describeClusterId(a)).toBe(`cluster ${a}`)
    expect(describeClusterId('')).toBe('no cluster id')
    expect(describeClusterId(`${'f'.repeat(31)}\nforged`)).toBe('a cluster id that is not 32 hex digits (38 characters)')
    expect(describeClusterId('f'.repeat(8 * 1024 * 1024))).toBe('a cluster id that is not 32 hex digits (8388608 characters)')
  })

  it('tells apart clusters founded from the same node list by their random tokens, once both sides know theirs', () => {
    const [id, other, t1, t2] = ['1'.repeat(32), '2'.repeat(32), 'a'.repeat(32), 'b'.repeat(32)]
    expect(checkClusterId(id, id, t1, t1)).toBeUndefined()
    expect(checkClusterId(id, id, t1, t2)).toBe('other-cluster')
    // One side has not committed its token yet (the first seconds of a cluster): the founding id decides.
    expect(checkClusterId(id, id, '', t2)).toBeUndefined()
    expect(checkClusterId(id, id, t1, '')).toBeUndefined()
    expect(checkClusterId(id, other, t1, t1)).toBe('other-cluster')
    // A token that is not 32 hex digits is no token: dropped, whatever this node knows.
    expect(checkClusterId(id, id, '', `${'f'.repeat(31)}\nforged`)).toBe('other-cluster')
  })
})

describe('the removed-node check', () => {
  it('refuses a removed sender before anything else about it', () => {
    const removed: CheckContext = { ...context, isRemoved: (id) => id === 2 }
    expect(checkMessage({ type: 'RequestVote', from: 2, to: 1, term: 2, lastLogIndex: 9, lastLogTerm: 1, preVote: false, transfer: false }, removed)).toBe('removed')
    expect(checkMessage({ type: 'AppendEntriesResponse', from: 2, to: 1, term: 1, success: true, matchIndex: 9, seq: 1 } as RaftMessage, removed)).toBe('removed')
    expect(checkMessage({ type: 'RequestVote', from: 2, to: 1, term: 2, lastLogIndex: 9, lastLogTerm: 1, preVote: false, transfer: false }, context)).toBeUndefined()
  })

  it('takes the handover (TimeoutNow) of a leader its own removal has just removed, member or not', () => {
    const removedNonMember: CheckContext = { ...context, isRemoved: (id) => id === 2, isMember: (id) => id !== 2 }
    expect(checkMessage({ type: 'TimeoutNow', from: 2, to: 1, term: 1 }, removedNonMember)).toBeUndefined()
    // Still from the stream's own node, and to this one.
    expect(checkMessage({ type: 'TimeoutNow', from: 2, to: 3, term: 1 }, removedNonMember)).toBe('misaddressed')
    expect(checkMessage({ type: 'TimeoutNow', from: 3, to: 1, term: 1 }, removedNonMember)).toBe('sender-mismatch')
  })
})

describe('RejectionLog', () => {
  it('counts every rejection and logs a reason at most once per interval, saying how many it did not log', () => {
    const counts = emptyRejectionCounts()
    const lines: string[] = []
    let now = 0
    const log = new RejectionLog(counts, (line) => lines.push(line), () => now)
    for (let i = 0; i < 100; i++) log.reject('sender-mismatch', `message ${i}`)
    log.reject('not-member', 'a stranger')
    expect(counts['sender-mismatch']).toBe(100)
    expect(lines).toEqual(['dropped a Raft message (sender-mismatch): message 0', 'dropped a Raft message (not-member): a stranger'])
    now = 10_000
    log.reject('sender-mismatch', 'message 100')
    expect(lines[2]).toBe('dropped a Raft message (sender-mismatch): message 100 (99 more dropped for this reason since the last report)')
  })
})
