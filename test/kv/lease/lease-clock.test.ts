// The leader's lease clock with a clock and leadership the test moves: a lease expires only
// through a committed revoke, a keep-alive pushes its deadline, a new term gives every lease its
// whole TTL again (a change of leader never makes one expire early), and a follower keeps no time.
import { describe, expect, it } from 'vitest'
import { encodeKvCommand, KvStateMachine, type KvCommand } from '../../../src/kv/kv-state-machine.js'
import { LeaseClock } from '../../../src/kv/lease/lease-clock.js'
import { EntryType } from '../../../src/storage/log-entry.js'

function setUp(checkpointIntervalMs?: number) {
  const kv = new KvStateMachine()
  let index = 0
  const apply = (command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
  const state = { now: 0, term: 1 as number | undefined, proposed: [] as KvCommand[] }
  const clock = new LeaseClock(kv, {
    leaderTerm: () => state.term,
    confirmLeadership: async () => {
      if (state.term === undefined) throw Object.assign(new Error('not leader'), { code: 'ERR_NOT_LEADER' })
    },
    // Proposals commit at once, as on a healthy leader.
    propose: async (command) => {
      state.proposed.push(command)
      return apply(command)
    },
    now: () => state.now,
    appliedIndex: () => index,
  }, { checkpointIntervalMs })
  return { kv, apply, state, clock }
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('LeaseClock', () => {
  it('revokes a lease through the log once its TTL passes without a keep-alive', async () => {
    const { kv, apply, state, clock } = setUp()
    apply({ op: 'leaseGrant', id: 1, ttl: 10 })
    state.now = 9_999
    clock.check()
    expect(state.proposed).toEqual([])
    state.now = 10_000
    clock.check()
    await flush()
    expect(state.proposed).toEqual([{ op: 'leaseRevoke', id: 1 }])
    expect(kv.lease(1)).toBeUndefined()
  })

  it('pushes the deadline on a keep-alive and tells the TTL left', async () => {
    const { apply, state, clock } = setUp()
    apply({ op: 'leaseGrant', id: 2, ttl: 10 })
    state.now = 8_000
    expect(clock.remaining(2)).toBe(2)
    expect(await clock.keepAlive(2)).toBe(10)
    state.now = 17_000
    clock.check()
    expect(state.proposed).toEqual([])
    expect(clock.remaining(2)).toBe(1)
    await expect(clock.keepAlive(99)).rejects.toMatchObject({ code: 'ERR_LEASE_NOT_FOUND' })
    expect(clock.remaining(99)).toBe(-1)
  })

  it("tells the whole seconds a lease has left cut down, as etcd's LeaseTimeToLive (59 right after a grant of 60), and a live lease never as gone", async () => {
    const { kv, apply, state, clock } = setUp()
    apply({ op: 'leaseGrant', id: 7, ttl: 60 })
    state.now = 1
    expect(clock.remaining(7)).toBe(59)
    // Its last second: 0, as etcd answers; -1 is for a lease that does not exist.
    state.now = 59_500
    expect(clock.remaining(7)).toBe(0)
    // Past its deadline, before its revoke is applied: still there, still 0.
    state.now = 60_000
    expect(clock.remaining(7)).toBe(0)
    clock.check()
    await flush()
    expect(kv.lease(7)).toBeUndefined()
    expect(clock.remaining(7)).toBe(-1)
  })

  it('gives every lease its whole TTL again in a new term, so a new leader never expires one early', () => {
    const { apply, state, clock } = setUp()
    apply({ op: 'leaseGrant', id: 3, ttl: 10 })
    clock.check()
    // At 8 s this node is elected again, in term 3 (the lease's deadline was 10 s): it counts 10 s from now.
    state.now = 8_000
    state.term = 3
    clock.check()
    state.now = 17_000
    clock.check()
    expect(state.proposed).toEqual([])
    expect(clock.remaining(3)).toBe(1)
  })

  it('keeps no time on a follower: no revoke, and keep-alives and TTLs are refused', async () => {
    const { apply, state, clock } = setUp()
    state.term = undefined
    apply({ op: 'leaseGrant', id: 4, ttl: 1 })
    state.now = 60_000
    clock.check()
    expect(state.proposed).toEqual([])
    expect(() => clock.remaining(4)).toThrow(expect.objectContaining({ code: 'ERR_NOT_LEADER' }))
    await expect(clock.keepAlive(4)).rejects.toMatchObject({ code: 'ERR_NOT_LEADER' })
  })

  it("checkpoints what a lease has left once it ran down by an interval, and a new leader counts from that, never earlier than the lease's true end", async () => {
    const { kv, apply, state, clock } = setUp(60_000)
    apply({ op: 'leaseGrant', id: 5, ttl: 600 })
    apply({ op: 'leaseGrant', id: 6, ttl: 59 })
    const checkpoints = (): KvCommand[] => state.proposed.filter((command) => command.op === 'leaseCheckpoint')
    clock.check()
    state.now = 58_000
    clock.check()
    expect(state.proposed).toEqual([])
    state.now = 61_500
    clock.check()
    await flush()
    // Lease 6 (shorter than the interval) is never checkpointed, as etcd's rule has it: it expires.
    expect(checkpoints()).toEqual([{ op: 'leaseCheckpoint', proposedAt: 2, checkpoints: [{ id: 5, remaining: 539 }] }])
    expect(kv.lease(5)?.remaining).toBe(539)
    expect(kv.lease(6)).toBeUndefined()
    // Not again until it ran down by another interval.
    state.now = 100_000
    clock.check()
    expect(checkpoints()).toHaveLength(1)
    // Elected again in term 2 at 200 s: lease 5 truly ends at 600 s; counted from its checkpoint, at 739 s (not 800 s).
    state.now = 200_000
    state.term = 2
    clock.check()
    expect(clock.remaining(5)).toBe(539)
    state.now = 738_999
    clock.check()
    expect(state.proposed.filter((command) => command.op === 'leaseRevoke' && command.id === 5)).toEqual([])
    state.now = 739_000
    clock.check()
    await flush()
    expect(state.proposed.at(-1)).toEqual({ op: 'leaseRevoke', id: 5 })
  })

  it('a keep-alive of a checkpointed lease commits a checkpoint of 0 before it answers, so the next leader counts its whole TTL', async () => {
    const { kv, apply, state, clock } = setUp(60_000)
    apply({ op: 'leaseGrant', id: 7, ttl: 600 })
    clock.check()
    state.now = 300_000
    clock.check()
    await flush()
    expect(kv.lease(7)?.remaining).toBe(300)
    expect(await clock.keepAlive(7)).toBe(600)
    expect(state.proposed.at(-1)).toEqual({ op: 'leaseCheckpoint', proposedAt: 2, checkpoints: [{ id: 7, remaining: 0 }] })
    expect(kv.lease(7)?.remaining).toBe(0)
    // The client was told 600 s at 300 s: a new leader at 301 s must not end the lease before 900 s.
    state.now = 301_000
    state.term = 2
    clock.check()
    state.now = 900_000
    clock.check()
    expect(state.proposed.filter((command) => command.op === 'leaseRevoke')).toEqual([])
    // A keep-alive of a lease with no checkpoint commits nothing.
    apply({ op: 'leaseGrant', id: 9, ttl: 600 })
    const before = state.proposed.length
    await clock.keepAlive(9)
    expect(state.proposed).toHaveLength(before)
  })

  it('checkpoints nothing with an interval of 0, and refuses a bad interval', async () => {
    const { apply, state, clock } = setUp(0)
    apply({ op: 'leaseGrant', id: 8, ttl: 9_000 })
    clock.check()
    state.now = 8_000_000
    clock.check()
    await flush()
    expect(state.proposed).toEqual([])
    expect(() => new LeaseClock(new KvStateMachine(), { leaderTerm: () => 1, confirmLeadership: async () => {}, propose: async () => new Uint8Array(), now: () => 0, appliedIndex: () => 0 }, { checkpointIntervalMs: -1 })).toThrow(/checkpointIntervalMs must be/)
  })

  it('a keep-alive that comes while a checkpoint of its lease is still being committed resets it after that checkpoint', async () => {
    const kv = new KvStateMachine()
    let index = 0
    const apply = (command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
    const log: KvCommand[] = []
    let releaseCheckpoint: (() => void) | undefined
    let logTail = Promise.resolve()
    let now = 0
    const clock = new LeaseClock(kv, {
      leaderTerm: () => 1,
      confirmLeadership: async () => {},
      // Entries commit in the order proposed, as in a log; the first checkpoint waits for the test.
      propose: (command) => {
        log.push(command)
        const held = command.op === 'leaseCheckpoint' && releaseCheckpoint === undefined && command.checkpoints[0]!.remaining > 0
        const gate = held ? new Promise<void>((resolve) => (releaseCheckpoint = resolve)) : undefined
        const committed = logTail.then(() => gate).then(() => apply(command))
        logTail = committed.then(() => undefined)
        return committed
      },
      now: () => now,
      appliedIndex: () => index,
    }, { checkpointIntervalMs: 60_000 })
    apply({ op: 'leaseGrant', id: 3, ttl: 600 })
    clock.check()
    now = 100_000
    clock.check()
    expect(log).toEqual([{ op: 'leaseCheckpoint', proposedAt: 1, checkpoints: [{ id: 3, remaining: 500 }] }])
    const renewed = clock.keepAlive(3)
    await flush()
    releaseCheckpoint!()
    expect(await renewed).toBe(600)
    expect(log.at(-1)).toEqual({ op: 'leaseCheckpoint', proposedAt: 1, checkpoints: [{ id: 3, remaining: 0 }] })
    expect(kv.lease(3)?.remaining).toBe(0)
  })
})
