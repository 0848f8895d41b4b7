// A node's reads (Raft dissertation §6.4, etcd's ReadIndex messages): held on a leader until its
// term's no-op commits, queued for a round of heartbeats, forwarded to the leader by a follower,
// and handed to the driver as read states or as reads to ask again.
import { describe, expect, it } from 'vitest'
import { ReadIndexCoordinator } from '../../../src/raft/core/read-index.js'
import type { RaftMessage } from '../../../src/raft/core/messages.js'

/** Node 1's reads, and what it sent. */
function coordinator(): { reads: ReadIndexCoordinator; sent: RaftMessage[] } {
  const sent: RaftMessage[] = []
  return { reads: new ReadIndexCoordinator(1, (message) => sent.push(message)), sent }
}

describe('ReadIndexCoordinator on a follower', () => {
  it("asks the leader for a read index, and hands the answer to the driver as a read state", () => {
    const { reads, sent } = coordinator()
    reads.forward(10, 2, 4)
    expect(sent).toEqual([{ type: 'ReadIndex', from: 1, to: 2, term: 4, requestId: 10 }])
    expect(reads.hasOutput).toBe(false)
    reads.leaderAnswered(2, 10, 33)
    expect(reads.take()).toEqual({ readStates: [{ requestId: 10, index: 33 }], droppedReads: [] })
    expect(reads.hasOutput).toBe(false)
  })

  it('drops a read the leader answered with index 0 (it could not confirm it): the driver asks again', () => {
    const { reads } = coordinator()
    reads.forward(10, 2, 4)
    reads.leaderAnswered(2, 10, 0)
    expect(reads.take()).toEqual({ readStates: [], droppedReads: [10] })
  })

  it('ignores an answer from a node other than the leader it asked: a lower index would serve a stale read', () => {
    const { reads } = coordinator()
    reads.forward(10, 2, 4)
    reads.leaderAnswered(3, 10, 1)
    expect(reads.hasOutput).toBe(false)
    reads.leaderAnswered(2, 10, 33)
    expect(reads.take()).toEqual({ readStates: [{ requestId: 10, index: 33 }], droppedReads: [] })
  })

  it('ignores an answer for a read it no longer holds (answered or dropped already)', () => {
    const { reads } = coordinator()
    reads.forward(10, 2, 4)
    reads.leaderAnswered(2, 10, 33)
    reads.leaderAnswered(2, 10, 34)
    reads.leaderAnswered(2, 11, 35)
    expect(reads.take().readStates).toEqual([{ requestId: 10, index: 33 }])
  })

  it('keeps, when a new leader is known, only the reads asked of that leader (it will still answer them); drops those asked of another', () => {
    const { reads, sent } = coordinator()
    reads.forward(10, 2, 4)
    reads.forward(11, 3, 5)
    reads.dropAll(false, 3, 5)
    expect(reads.take()).toEqual({ readStates: [], droppedReads: [10] })
    reads.leaderAnswered(3, 11, 40)
    expect(reads.take().readStates).toEqual([{ requestId: 11, index: 40 }])
    // A follower answers nobody when leadership moves: it held no one else's reads.
    expect(sent.filter((m) => m.type === 'ReadIndexResponse')).toEqual([])
  })

  it('drops every forwarded read when no leader is known (an election began)', () => {
    const { reads } = coordinator()
    reads.forward(10, 2, 4)
    reads.forward(11, 2, 4)
    reads.dropAll(false, 0, 4)
    expect(reads.take().droppedReads).toEqual([10, 11])
    reads.leaderAnswered(2, 10, 40)
    expect(reads.hasOutput).toBe(false)
  })
})

describe('ReadIndexCoordinator on a leader', () => {
  it("holds reads that arrive before the term's no-op commits and gives them back once, in order (§6.4 step 1: the commit index may lag the last leader's)", () => {
    const { reads } = coordinator()
    reads.holdUntilNoop({ requestId: 1, from: 1 })
    reads.holdUntilNoop({ requestId: 2, from: 3 })
    expect(reads.takeHeld()).toEqual([{ requestId: 1, from: 1 }, { requestId: 2, from: 3 }])
    expect(reads.takeHeld()).toEqual([])
  })

  it("serves its own read as a read state and a follower's with a ReadIndexResponse at the read's index", () => {
    const { reads, sent } = coordinator()
    reads.serve({ requestId: 1, from: 1, index: 20 }, 6)
    reads.serve({ requestId: 2, from: 3, index: 21 }, 6)
    expect(reads.take().readStates).toEqual([{ requestId: 1, index: 20 }])
    expect(sent).toEqual([{ type: 'ReadIndexResponse', from: 1, to: 3, term: 6, requestId: 2, index: 21 }])
  })

  it('serves the reads of the rounds a majority answered, and only those', () => {
    const { reads, sent } = coordinator()
    reads.queue.add({ requestId: 1, from: 1, index: 20 })
    reads.queue.add({ requestId: 2, from: 3, index: 20 })
    reads.queue.startRound(5)
    reads.queue.add({ requestId: 3, from: 1, index: 22 })
    reads.queue.startRound(9)
    reads.confirm(4, 6)
    expect(reads.hasOutput).toBe(false)
    reads.confirm(8, 6)
    expect(reads.take().readStates).toEqual([{ requestId: 1, index: 20 }])
    expect(sent).toEqual([{ type: 'ReadIndexResponse', from: 1, to: 3, term: 6, requestId: 2, index: 20 }])
    reads.confirm(9, 6)
    expect(reads.take().readStates).toEqual([{ requestId: 3, index: 22 }])
  })

  it("when leadership is lost, drops its own reads (queued, in a round or held for the no-op) and answers followers' with index 0 so they ask again", () => {
    const { reads, sent } = coordinator()
    reads.queue.add({ requestId: 1, from: 1, index: 20 })
    reads.queue.add({ requestId: 2, from: 3, index: 20 })
    reads.queue.startRound(5)
    reads.queue.add({ requestId: 3, from: 1, index: 21 })
    reads.holdUntilNoop({ requestId: 4, from: 1 })
    reads.holdUntilNoop({ requestId: 5, from: 2 })
    reads.dropAll(true, 0, 6)
    expect(reads.take()).toEqual({ readStates: [], droppedReads: [1, 3, 4] })
    expect(sent).toEqual([
      { type: 'ReadIndexResponse', from: 1, to: 3, term: 6, requestId: 2, index: 0 },
      { type: 'ReadIndexResponse', from: 1, to: 2, term: 6, requestId: 5, index: 0 },
    ])
    // Nothing is left to serve, nor to hand over a second time.
    reads.confirm(100, 6)
    expect(reads.hasOutput).toBe(false)
    expect(reads.takeHeld()).toEqual([])
  })

  it('keeps nothing held as a leader when it steps down for a new leader: that leader never saw those reads', () => {
    const { reads } = coordinator()
    reads.queue.add({ requestId: 1, from: 1, index: 20 })
    reads.dropAll(true, 2, 7)
    expect(reads.take().droppedReads).toEqual([1])
  })
})
