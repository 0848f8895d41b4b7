// Full disks in the deterministic simulator: a node whose log cannot grow (appends throw ENOSPC)
// pauses instead of failing, acknowledges nothing it could not persist, stays a member its
// leader sees as slow, and goes on by itself once space returns, with nothing lost or reordered.
// Replay: RAFT_SEED=<seed> npx vitest run test/raft/disk-full-simulated.test.ts
import { describe, expect, it } from 'vitest'
import { Simulator, testSeed } from '../../src/testing/simulator.js'

const seed = testSeed()

function electLeader(sim: Simulator): number {
  expect(sim.runUntil(() => sim.leader() !== undefined, 500), `no leader: ${sim.describe()}`).toBe(true)
  return sim.leader()!.id
}

/** Proposes `items` through whoever leads (one that refuses is asked again later) until every node in `ids` applied them all. */
function agree(sim: Simulator, items: string[], ids?: number[], maxTicks = 5000): void {
  const done = (): boolean => sim.allApplied(items, ids)
  for (let tick = 0; tick < maxTicks && !done(); tick += 50) {
    const applied = new Set(sim.nodes.flatMap((n) => sim.appliedData(n.id)))
    for (const item of items) if (!applied.has(item)) tryPropose(sim, item)
    sim.runUntil(done, 50)
  }
  expect(done(), `not agreed: ${sim.describe()}`).toBe(true)
}

/** A proposal through the leader: its index, or the code it was refused with. */
function tryPropose(sim: Simulator, item: string): number | string | undefined {
  try {
    return sim.propose(item)
  } catch (error) {
    return (error as { code?: string }).code ?? String(error)
  }
}

/** Every node applied the same entries in the same order: each one's applied data is a prefix of the longest. */
function expectSameOrder(sim: Simulator): void {
  const sequences = sim.nodes.map((node) => sim.appliedData(node.id))
  const longest = sequences.reduce((a, b) => (b.length > a.length ? b : a))
  for (const [i, sequence] of sequences.entries()) expect(sequence, `node ${i + 1}`).toEqual(longest.slice(0, sequence.length))
  // Each item once: a retried proposal that was refused never shows up twice.
  expect(new Set(longest).size).toBe(longest.length)
}

describe(`A full disk in the simulator (RAFT_SEED=${seed})`, () => {
  it('a follower whose disk fills pauses, acknowledges nothing it could not persist, is not deposed as gone, and catches up once space returns', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    const term = sim.node(leader).core.currentTerm
    agree(sim, Array.from({ length: 20 }, (_, i) => `before-${i}`))
    const full = [1, 2, 3].find((id) => id !== leader)!
    const other = [1, 2, 3].find((id) => id !== leader && id !== full)!
    sim.fillDisk(full)
    const heldAt = sim.node(full).log.lastIndex
    const during = Array.from({ length: 60 }, (_, i) => `during-${i}`)
    agree(sim, during, [leader, other])
    sim.run(200)
    const paused = sim.node(full)
    expect(paused.core.diskFull?.message).toMatch(/ENOSPC/)
    // Nothing appended, so nothing acknowledged: the leader never counted the full node past what it holds.
    expect(paused.log.lastIndex).toBe(heldAt)
    const seen = sim.node(leader).core.followers().find((f) => f.id === full)!
    expect(seen.match).toBeLessThanOrEqual(heldAt)
    // Slow, not gone: the leader kept its term and leadership, and the full node stood for nothing.
    expect(sim.leader()!.id).toBe(leader)
    expect(sim.node(leader).core.currentTerm).toBe(term)
    expect(paused.core.role).toBe('follower')
    sim.freeDisk(full)
    agree(sim, ['after'])
    expect(sim.node(full).core.diskFull).toBeUndefined()
    expect(sim.appliedData(full)).toEqual(sim.appliedData(leader))
    expect(sim.appliedData(full)).toEqual([...Array.from({ length: 20 }, (_, i) => `before-${i}`), ...during, 'after'])
    expectSameOrder(sim)
    expect(sim.violations).toEqual([])
  })

  it('a leader whose disk fills refuses proposals with ERR_DISK_FULL and hands leadership over; it rejoins once space returns', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const first = electLeader(sim)
    agree(sim, Array.from({ length: 10 }, (_, i) => `a-${i}`))
    sim.fillDisk(first)
    // A proposal large enough to need room: refused, never appended.
    const refused = tryPropose(sim, 'refused-while-full')
    sim.run(1)
    expect(refused === 'ERR_DISK_FULL' || typeof refused === 'number').toBe(true)
    expect(sim.runUntil(() => sim.leader() !== undefined && sim.leader()!.id !== first, 1000), sim.describe()).toBe(true)
    expect(sim.node(first).core.diskFull).toBeDefined()
    const others = [1, 2, 3].filter((id) => id !== first)
    const b = Array.from({ length: 40 }, (_, i) => `b-${i}`)
    agree(sim, b, others)
    // The paused node never stood again while full.
    expect(sim.node(first).core.role).not.toBe('leader')
    sim.freeDisk(first)
    agree(sim, ['c'])
    expect(sim.appliedData(first)).toEqual(sim.appliedData(sim.leader()!.id))
    expect(sim.appliedData(first)).not.toContain('refused-while-full')
    expectSameOrder(sim)
    expect(sim.violations).toEqual([])
  })

  it('a follower given room for a few entries at a time catches up in pieces: a held batch larger than the room is taken a prefix at a time', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    const full = [1, 2, 3].find((id) => id !== leader)!
    const other = [1, 2, 3].find((id) => id !== leader && id !== full)!
    sim.fillDisk(full)
    const items = Array.from({ length: 60 }, (_, i) => `p-${i}`)
    agree(sim, items, [leader, other])
    sim.run(100)
    const before = sim.node(full).log.lastIndex
    // Room for 7 entries at a time, far fewer than a batch of the leader's (up to 64).
    for (let round = 0; round < 40 && !sim.allApplied(items, [full]); round++) {
      sim.freeDisk(full, 7)
      sim.run(150)
    }
    expect(sim.node(full).log.lastIndex).toBeGreaterThan(before)
    expect(sim.allApplied(items, [full]), sim.describe()).toBe(true)
    expect(sim.appliedData(full)).toEqual(sim.appliedData(leader).slice(0, sim.appliedData(full).length))
    sim.freeDisk(full)
    agree(sim, ['done'])
    expectSameOrder(sim)
    expect(sim.violations).toEqual([])
  })

  it('with two of three disks full nothing commits, and everything resumes in order once they have room', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    agree(sim, ['x0', 'x1'])
    const [f1, f2] = [1, 2, 3].filter((id) => id !== leader) as [number, number]
    sim.fillDisk(f1)
    sim.fillDisk(f2)
    const commitBefore = sim.node(leader).core.committed
    for (let i = 0; i < 10; i++) tryPropose(sim, `stuck-${i}`)
    sim.run(300)
    // No majority could persist them: nothing committed, nothing applied anywhere.
    expect(sim.node(leader).core.committed).toBe(commitBefore)
    for (const node of sim.nodes) expect(sim.appliedData(node.id)).toEqual(['x0', 'x1'])
    sim.freeDisk(f1)
    sim.freeDisk(f2)
    // Not proposed again: the leader held them all along, and they commit once the others have room.
    const stuck = Array.from({ length: 10 }, (_, i) => `stuck-${i}`)
    expect(sim.runUntil(() => sim.allApplied(stuck), 2000), sim.describe()).toBe(true)
    expect(sim.appliedData(leader)).toEqual(['x0', 'x1', ...stuck])
    expectSameOrder(sim)
    expect(sim.violations).toEqual([])
  })

  it('a follower full while the others compact resumes through a snapshot it could not install before', () => {
    const sim = new Simulator({ nodes: 3, seed, snapshotEvery: 20, snapshotTrailing: 5 })
    const leader = electLeader(sim)
    agree(sim, ['s0'])
    const full = [1, 2, 3].find((id) => id !== leader)!
    sim.fillDisk(full)
    agree(sim, Array.from({ length: 100 }, (_, i) => `s-${i + 1}`), [1, 2, 3].filter((id) => id !== full))
    sim.run(200)
    expect(sim.node(full).core.diskFull).toBeDefined()
    expect(sim.node(sim.leader()!.id).log.firstIndex).toBeGreaterThan(sim.node(full).log.lastIndex + 1)
    sim.freeDisk(full)
    agree(sim, ['s-last'])
    expect(sim.appliedData(full)).toEqual(sim.appliedData(sim.leader()!.id))
    expect(sim.violations).toEqual([])
  })

  it('nemesis: disks fill and empty at random under loss, delays and slow flushes; nothing acknowledged is lost or reordered', () => {
    const sim = new Simulator({ nodes: 5, seed, snapshotEvery: 30, snapshotTrailing: 5 })
    sim.dropRate = 0.05
    sim.maxDelayTicks = 3
    sim.maxFlushTicks = 3
    electLeader(sim)
    let pick = seed ^ 0x2545f491
    const next = (): number => (pick = (pick * 1103515245 + 12345) & 0x7fffffff)
    const proposed: string[] = []
    for (let round = 0; round < 120; round++) {
      const node = sim.node(1 + (next() % 5))
      if (next() % 3 === 0) node.log.full = !node.log.full
      // At most two full at once: a majority keeps room, so the cluster must keep committing.
      while (sim.nodes.filter((n) => n.log.full).length > 2) sim.nodes.find((n) => n.log.full)!.log.full = false
      for (let i = 0; i < 3; i++) {
        const item = `n-${round}-${i}`
        proposed.push(item)
        tryPropose(sim, item)
      }
      sim.run(10)
    }
    for (const node of sim.nodes) node.log.full = false
    agree(sim, ['end'])
    sim.run(200)
    const applied = sim.appliedData(sim.leader()!.id)
    // Only what was proposed, each once, in the same order everywhere.
    expect(applied.filter((item) => item !== 'end').every((item) => proposed.includes(item))).toBe(true)
    expectSameOrder(sim)
    for (const node of sim.nodes) expect(node.core.diskFull, `node ${node.id}`).toBeUndefined()
    expect(sim.violations).toEqual([])
  })
})
