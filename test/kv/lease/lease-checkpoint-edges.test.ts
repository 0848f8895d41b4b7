// Lease checkpoints at their edges, with a leader whose proposals wait in a log until the test
// commits them, in order: a new leader that counts leases before it applied the last term's
// entries, how late the first checkpoint of a lease may come, and an id revoked and granted again
// while a checkpoint of the old lease is on its way. Each lease must end no earlier than promised,
// and a change of leader may stretch a long lease by about one interval at most.
import { describe, expect, it } from 'vitest'
import { encodeKvCommand, KvStateMachine, type KvCommand } from '../../../src/kv/kv-state-machine.js'
import { LeaseClock } from '../../../src/kv/lease/lease-clock.js'
import { EntryType } from '../../../src/storage/log-entry.js'

function setUp(checkpointIntervalMs: number) {
  const kv = new KvStateMachine()
  let index = 0
  const apply = (command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
  const state = { now: 0, term: 1 as number | undefined, log: [] as KvCommand[], proposed: [] as KvCommand[] }
  const waiting: (() => void)[] = []
  /** Appends `command` to the log, to be applied at commitAll() (what the lease service's grant and revoke do through the node). */
  const propose = (command: KvCommand): Promise<Uint8Array> => {
    state.proposed.push(command)
    state.log.push(command)
    return new Promise((resolve) => waiting.push(() => resolve(apply(command))))
  }
  const commitAll = (): void => {
    for (const commit of waiting.splice(0)) commit()
  }
  const clock = new LeaseClock(kv, { leaderTerm: () => state.term, confirmLeadership: async () => {}, propose, now: () => state.now, appliedIndex: () => index }, { checkpointIntervalMs })
  return { kv, apply, state, clock, propose, commitAll }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const revokes = (proposed: KvCommand[], id: number): KvCommand[] => proposed.filter((command) => command.op === 'leaseRevoke' && command.id === id)

describe('lease checkpoints at the edges', () => {
  it("a new leader that counted a lease before it applied the last term's keep-alive reset counts the whole TTL once it applies it", async () => {
    const { apply, state, clock } = setUp(60_000)
    // Term 1 (another node led): lease 1 of 600 s, checkpointed at 570 s left...
    apply({ op: 'leaseGrant', id: 1, ttl: 600 })
    apply({ op: 'leaseCheckpoint', proposedAt: 1, checkpoints: [{ id: 1, remaining: 570 }] })
    // ...then at 0 s a keep-alive: the old leader committed { 1: 0 } and told the client 600 s,
    // then died before any follower heard that the entry was committed.
    // This node wins term 2 and counts its leases before it applies the last term's entries.
    state.term = 2
    state.now = 100
    clock.check()
    // Its first entry commits, and with it the last term's keep-alive reset.
    apply({ op: 'leaseCheckpoint', proposedAt: 2, checkpoints: [{ id: 1, remaining: 0 }] })
    // Promised until 600 s; counted from the old checkpoint it would end at 570.1 s.
    state.now = 571_000
    clock.check()
    await flush()
    expect(revokes(state.proposed, 1)).toEqual([])
    // Counted to 600.1 s: 29.1 s left, told in whole seconds cut down.
    expect(clock.remaining(1)).toBe(29)
  })

  it('checkpoints a lease within a check of its running down by an interval, so a change of leader stretches it by one interval at most', () => {
    const { apply, state, clock, commitAll } = setUp(60_000)
    clock.check()
    state.now = 1_000
    apply({ op: 'leaseGrant', id: 2, ttl: 600 }) // truly ends at 601 s
    for (let now = 1_000; now <= 119_000; now += 250) {
      state.now = now
      clock.check()
      commitAll()
    }
    // A new leader at 119 s: the lease truly has 482 s left, and its last checkpoint is at most
    // about one interval old.
    state.term = 2
    expect(clock.remaining(2)).toBeLessThanOrEqual(482 + 60 + 1)
    expect(clock.remaining(2)).toBeGreaterThanOrEqual(482)
  })

  it('a checkpoint of a lease whose id was revoked and granted again before it applied passes over the new lease', async () => {
    const { kv, apply, state, clock, propose, commitAll } = setUp(60_000)
    apply({ op: 'leaseGrant', id: 3, ttl: 600 })
    clock.check()
    // At 100 s a client revokes lease 3 and grants it again (same id, 600 s) without waiting.
    state.now = 100_000
    const revoked = propose({ op: 'leaseRevoke', id: 3 })
    const granted = propose({ op: 'leaseGrant', id: 3, ttl: 600 })
    // The leader's check comes before they apply: it checkpoints the old lease (500 s left).
    clock.check()
    commitAll()
    await Promise.all([revoked, granted])
    expect(state.log.map((command) => command.op)).toEqual(['leaseRevoke', 'leaseGrant', 'leaseCheckpoint'])
    expect(kv.lease(3)?.remaining).toBe(0)
    // The new lease ends at 700 s: a new leader at 101 s must not end it at 601 s.
    state.now = 101_000
    state.term = 2
    clock.check()
    state.now = 602_000
    clock.check()
    expect(revokes(state.proposed, 3).slice(1)).toEqual([])
  })
})
