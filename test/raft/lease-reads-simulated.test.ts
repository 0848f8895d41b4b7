// Lease reads (Raft dissertation §6.4.1) in the deterministic simulator: a leader serves a read
// without a round of messages only while no other node can have been elected. A leadership
// transfer breaks that promise on purpose (a TimeoutNow'd candidate is voted for inside the
// old leader's lease), so a leader that sent TimeoutNow has given its term's lease away, even
// when the transfer times out and it leads on (etcd, tikv and CockroachDB closed the same hole).
// Replay: RAFT_SEED=<seed> npx vitest run test/raft/lease-reads
import { describe, expect, it } from 'vitest'
import { Simulator, testSeed } from '../../src/testing/simulator.js'

const seed = testSeed()

describe(`Lease reads in the simulator (RAFT_SEED=${seed})`, () => {
  it('a leader that sent TimeoutNow serves no lease read for the rest of its term, even after the transfer timed out', () => {
    const sim = new Simulator({ nodes: 3, seed, electionTicks: [30, 60], core: { readMode: 'lease' } })
    expect(sim.runUntil(() => sim.leader() !== undefined, 1000)).toBe(true)
    const old = sim.leader()!
    const target = old.id === 1 ? 2 : 1
    const third = [1, 2, 3].find((id) => id !== old.id && id !== target)!
    sim.propose('x=1')
    expect(sim.runUntil(() => sim.allApplied(['x=1']), 200)).toBe(true)

    // The TimeoutNow is held back past the transfer's timeout: the old leader gives up and leads on.
    sim.extraDelay = (message) => (message.type === 'TimeoutNow' ? 40 : 0)
    old.core.transferLeadership(target)
    expect(sim.runUntil(() => old.core.transferringTo === 0, 100)).toBe(true)
    expect(old.core.role).toBe('leader')
    sim.extraDelay = () => 0

    // The TimeoutNow arrives: the target stands, and the third node votes for it although it
    // heard from the old leader within its lease. The old leader is cut off just then.
    expect(sim.runUntil(() => sim.node(target).core.role === 'candidate', 100)).toBe(true)
    sim.partition([old.id], [target, third])
    expect(sim.runUntil(() => sim.node(target).core.role === 'leader', 100)).toBe(true)
    sim.node(target).core.propose(Buffer.from('x=2'))
    expect(sim.runUntil(() => sim.allApplied(['x=2'], [target, third]), 100)).toBe(true)
    const x2 = sim.node(target).applied.find((entry) => Buffer.from(entry.data).toString() === 'x=2')!.index

    // x=2 is acknowledged; a read on the old leader now must not be served below it.
    const served: number[] = []
    sim.listener = { readState: (node, _requestId, index) => node === old.id && served.push(index) }
    old.core.readIndex(7)
    sim.run(60)
    expect(served.filter((index) => index < x2), 'a stale lease read was served by the old leader').toEqual([])
    expect(sim.violations).toEqual([])
  })
})
