// The ReadIndex queue (Raft dissertation §6.4, etcd's read_only.go): a read may be served once a
// majority answered a heartbeat sent after it arrived. Rounds are numbered by the seq of the first
// AppendEntries of the round; a majority answering a seq at or past it confirms the round.
import { describe, expect, it } from 'vitest'
import { ReadOnlyQueue, type PendingRead } from '../../../src/raft/core/read-only.js'

const read = (requestId: number, index = 7, from = 1): PendingRead => ({ requestId, from, index })
const ids = (reads: PendingRead[]): number[] => reads.map((r) => r.requestId)

describe('ReadOnlyQueue', () => {
  it('holds a read until a round sent after it arrived is answered by a majority (dissertation §6.4 steps 2–3)', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    expect(queue.needsRound).toBe(true)
    // No round yet: no answer, however recent, is known to come from after the read.
    expect(queue.confirm(1_000)).toEqual([])
    queue.startRound(5)
    expect(queue.needsRound).toBe(false)
    expect(queue.confirm(4)).toEqual([])
    expect(queue.confirm(5)).toEqual([read(1)])
    expect(queue.size).toBe(0)
  })

  it('sends one round at a time: reads that arrive while one is unanswered wait for it, then share the next', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    expect(queue.roundDue).toBe(true)
    queue.startRound(5)
    queue.add(read(2))
    queue.add(read(3))
    expect(queue.needsRound).toBe(true)
    expect(queue.roundDue).toBe(false)
    expect(ids(queue.confirm(5))).toEqual([1])
    expect(queue.roundDue).toBe(true)
    queue.startRound(9)
    expect(ids(queue.confirm(9))).toEqual([2, 3])
    expect(queue.roundDue).toBe(false)
  })

  it('serves every read that arrived before a round with that one round (etcd batches them too)', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    queue.add(read(2, 8, 3))
    queue.startRound(5)
    expect(queue.confirm(6)).toEqual([read(1), read(2, 8, 3)])
  })

  it('keeps a read that arrived after a round was sent for the next round: answers to the earlier one prove nothing about it', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    queue.startRound(5)
    queue.add(read(2))
    expect(ids(queue.confirm(7))).toEqual([1])
    expect(queue.needsRound).toBe(true)
    queue.startRound(8)
    expect(queue.confirm(7)).toEqual([])
    expect(ids(queue.confirm(8))).toEqual([2])
  })

  it('sends no round for no reads: a round started with none waiting holds nothing', () => {
    const queue = new ReadOnlyQueue()
    queue.startRound(3)
    queue.add(read(1))
    expect(queue.confirm(3)).toEqual([])
    expect(queue.size).toBe(1)
  })

  it('confirms rounds in order: an answer past a later round confirms the earlier ones too', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    queue.startRound(5)
    queue.add(read(2))
    queue.startRound(8)
    expect(queue.size).toBe(2)
    expect(ids(queue.confirm(9))).toEqual([1, 2])
    expect(queue.confirm(9)).toEqual([])
  })

  it('gives back every read held, sent or not, when leadership is lost (they must be asked again elsewhere)', () => {
    const queue = new ReadOnlyQueue()
    queue.add(read(1))
    queue.startRound(5)
    queue.add(read(2))
    expect(ids(queue.clear())).toEqual([1, 2])
    expect(queue.size).toBe(0)
    expect(queue.needsRound).toBe(false)
    expect(queue.confirm(100)).toEqual([])
  })
})
