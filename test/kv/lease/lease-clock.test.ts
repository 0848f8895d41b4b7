// The leader's lease clock with a clock and leadership the test moves: a lease expires only
// through a committed revoke, a keep-alive pushes its deadline, a new term gives every lease its
// whole TTL again (a change of leader never makes one expire early), and a follower keeps no time.
import { describe, expect, it } from 'vitest'
import { encodeKvCommand, KvStateMachine, type KvCommand } from '../../../src/kv/kv-state-machine.js'
import { LeaseClock } from '../../../src/kv/lease/lease-clock.js'
import { EntryType } from '../../../src/storage/log-entry.js'

function setUp() {
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
  })
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
})
