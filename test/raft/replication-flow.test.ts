// How a leader feeds its followers, played by the deterministic simulator: entries go out on
// proposals and answers only, within a window that answers free; a follower that lost its log is
// found and refilled. Replay a failure: RAFT_SEED=<seed> npx vitest run test/raft
import { describe, expect, it } from 'vitest'
import { Simulator, testSeed } from '../../src/testing/simulator.js'

const seed = testSeed()
const kib = 1024
/** Small limits so that a test moves megabytes, not gigabytes. */
const limits = { maxBytesPerAppend: 64 * kib, maxInflightBytes: 256 * kib, maxInflightAppends: 64 }

function cluster(nodes = 3): Simulator {
  return new Simulator({ nodes, seed, maxEntriesPerAppend: 512, core: limits })
}

function electLeader(sim: Simulator): number {
  expect(sim.runUntil(() => sim.leader() !== undefined, 500), `no leader: ${sim.describe()}`).toBe(true)
  return sim.leader()!.id
}

function payload(i: number, bytes = kib): Uint8Array {
  return new Uint8Array(bytes).fill(i & 0xff)
}

/** Runs until every live node applied at least `count` Normal entries. */
function allApplied(sim: Simulator, count: number, maxTicks: number, ids = sim.nodes.filter((n) => n.alive).map((n) => n.id)): boolean {
  return sim.runUntil(() => ids.every((id) => sim.appliedData(id).length >= count), maxTicks)
}

describe(`Replication flow control in the simulator (RAFT_SEED=${seed})`, () => {
  it('a follower whose disk was replaced is found and caught up by the same leader', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    for (let i = 0; i < 50; i++) sim.propose(`before-${i}`)
    expect(allApplied(sim, 50, 500)).toBe(true)
    const follower = [1, 2, 3].find((id) => id !== leader)!
    sim.wipe(follower)
    sim.restart(follower)
    sim.run(100)
    expect(sim.leader()!.id).toBe(leader)
    for (let i = 0; i < 5; i++) sim.propose(`after-${i}`)
    expect(allApplied(sim, 55, 1000), sim.describe()).toBe(true)
    expect(sim.leader()!.id).toBe(leader)
    expect(sim.appliedData(follower)).toEqual(sim.appliedData(leader))
    expect(sim.violations).toEqual([])
  })

  for (const fate of ['partitioned', 'crashed'] as const) {
    it(`a ${fate} follower is sent at most one window of entries, however long it stays silent`, () => {
      const sim = cluster()
      const leader = electLeader(sim)
      sim.run(10)
      const silent = [1, 2, 3].find((id) => id !== leader)!
      if (fate === 'crashed') sim.crash(silent)
      else sim.partition([silent], [1, 2, 3].filter((id) => id !== silent))
      const before = sim.bytesSentTo.get(silent) ?? 0
      for (let i = 0; i < 2000; i++) sim.propose(payload(i))
      expect(allApplied(sim, 2000, 3000, [1, 2, 3].filter((id) => id !== silent))).toBe(true)
      sim.run(500)
      // 2 MB were committed; the silent follower was offered one window's worth, then heartbeats.
      expect((sim.bytesSentTo.get(silent) ?? 0) - before).toBeLessThanOrEqual(limits.maxInflightBytes + limits.maxBytesPerAppend)
      expect(sim.violations).toEqual([])
    })
  }

  it('a lagging follower never has more than the byte limit in flight before it answers', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    sim.run(10)
    const slow = [1, 2, 3].find((id) => id !== leader)!
    sim.node(slow).flushTicks = 60
    const before = sim.bytesSentTo.get(slow) ?? 0
    for (let i = 0; i < 2000; i++) sim.propose(payload(i))
    sim.run(50)
    // Its first answer waits for its 60-tick flush: until then only one window went out.
    expect((sim.bytesSentTo.get(slow) ?? 0) - before).toBeLessThanOrEqual(limits.maxInflightBytes + limits.maxBytesPerAppend)
    sim.node(slow).flushTicks = 1
    expect(allApplied(sim, 2000, 5000)).toBe(true)
    expect(sim.violations).toEqual([])
  })

  it('never sends an entry again while a copy is in flight, with slow disks everywhere', () => {
    const sim = cluster(5)
    sim.maxFlushTicks = 8
    electLeader(sim)
    sim.run(10)
    const leader = sim.leader()!.id
    const term = sim.leader()!.core.currentTerm
    // A few large entries among small ones: the kind that was re-sent on every heartbeat.
    for (let i = 0; i < 300; i++) sim.propose(payload(i, i % 50 === 0 ? 200 * kib : kib))
    expect(allApplied(sim, 300, 5000)).toBe(true)
    // Only meaningful if nobody was deposed in between (a new leader sends its log afresh).
    expect([sim.leader()!.id, sim.leader()!.core.currentTerm]).toEqual([leader, term])
    const resent = [...sim.copiesSent].filter(([, copies]) => copies > 1)
    expect(resent).toEqual([])
    expect(sim.violations).toEqual([])
  })

  it('sends a large entry once to a follower whose flush of it outlasts the lost-append timeout, heartbeats arriving all along', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    sim.run(10)
    const term = sim.leader()!.core.currentTerm
    const slow = [1, 2, 3].find((id) => id !== leader)!
    // appendTimeoutTicks defaults to the election timeout's minimum (10 ticks): the flush takes
    // three of them, while a heartbeat reaches the follower every 2 ticks. Its answers keep
    // their order (as the driver's do), so none of them says the large append was lost.
    sim.node(slow).flushTicks = 30
    const index = sim.propose(payload(7, 1024 * kib))!
    expect(allApplied(sim, 1, 200), sim.describe()).toBe(true)
    sim.run(50)
    expect([sim.leader()!.id, sim.leader()!.core.currentTerm]).toEqual([leader, term])
    // One entry larger than the byte limits: it travels alone, once to each follower.
    for (const id of [1, 2, 3].filter((id) => id !== leader)) expect(sim.copiesSent.get(`${id}:${index}`), `copies of index ${index} sent to node ${id}`).toBe(1)
    expect(sim.violations).toEqual([])
  })

  it('sends entries lost on the way again once the follower answers later messages', () => {
    const sim = cluster()
    electLeader(sim)
    sim.dropRate = 0.3
    sim.duplicateRate = 0.2
    sim.maxDelayTicks = 4
    for (let i = 0; i < 200; i++) {
      sim.propose(`lossy-${i}`)
      if (i % 10 === 0) sim.run(1)
    }
    // Proposals to a node that lost leadership meanwhile are gone: count what was committed.
    sim.run(2000)
    sim.dropRate = 0
    // The lossy network may have left an election under way: the last proposal goes to a leader.
    expect(sim.runUntil(() => sim.leader() !== undefined, 1000), sim.describe()).toBe(true)
    sim.propose('last')
    const leader = sim.leader()!.id
    expect(sim.runUntil(() => sim.nodes.every((n) => sim.appliedData(n.id).at(-1) === 'last'), 3000), sim.describe()).toBe(true)
    for (const node of sim.nodes) expect(sim.appliedData(node.id)).toEqual(sim.appliedData(leader))
    expect(sim.violations).toEqual([])
  })
})

describe(`A leader writes while it replicates (Raft dissertation §10.2.1, RAFT_SEED=${seed})`, () => {
  it('commits through two fast followers while its own flush is held back', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    sim.run(10)
    sim.node(leader).flushTicks = 1000
    for (let i = 0; i < 20; i++) sim.propose(`while-flushing-${i}`)
    const followers = [1, 2, 3].filter((id) => id !== leader)
    expect(allApplied(sim, 20, 200, followers), sim.describe()).toBe(true)
    expect(sim.node(leader).core.committed).toBeGreaterThanOrEqual(sim.node(leader).log.lastIndex)
    expect(sim.violations).toEqual([])
  })

  it('never counts its own unflushed entries: with one follower down, nothing commits until its flush is done', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    sim.run(10)
    const [up, down] = [1, 2, 3].filter((id) => id !== leader) as [number, number]
    sim.crash(down)
    const committedBefore = sim.node(leader).core.committed
    sim.node(leader).flushTicks = 60
    sim.propose('needs-the-leader')
    sim.run(40)
    // The one follower holds it, but a majority needs the leader's own disk too.
    expect(sim.node(up).log.lastIndex).toBeGreaterThan(committedBefore)
    expect(sim.node(leader).core.committed).toBe(committedBefore)
    expect(allApplied(sim, 1, 200, [leader, up])).toBe(true)
    expect(sim.violations).toEqual([])
  })
})
