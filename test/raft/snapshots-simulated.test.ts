// Snapshots and InstallSnapshot in the deterministic simulator: logs are compacted behind
// snapshots, and a follower that needs compacted entries gets the leader's snapshot instead,
// under partitions, loss, slow disks and crashes. Replay: RAFT_SEED=<seed> npx vitest run test/raft
import { describe, expect, it } from 'vitest'
import { Simulator, testSeed } from '../../src/testing/simulator.js'

const seed = testSeed()

function cluster(nodes = 3): Simulator {
  return new Simulator({ nodes, seed, snapshotEvery: 20, snapshotTrailing: 5 })
}

function electLeader(sim: Simulator): number {
  expect(sim.runUntil(() => sim.leader() !== undefined, 500), `no leader: ${sim.describe()}`).toBe(true)
  return sim.leader()!.id
}

/** Proposes `items` through whoever leads until every live node applied them all. */
function agree(sim: Simulator, items: string[], maxTicks = 5000, ids?: number[]): void {
  const done = (): boolean => sim.allApplied(items, ids)
  for (let tick = 0; tick < maxTicks && !done(); tick += 50) {
    const applied = new Set(sim.nodes.flatMap((n) => sim.appliedData(n.id)))
    for (const item of items) if (!applied.has(item)) sim.propose(item)
    sim.runUntil(done, 50)
  }
  expect(done(), `not agreed: ${sim.describe()}`).toBe(true)
}

describe(`Snapshots in the simulator (RAFT_SEED=${seed})`, () => {
  it('compacts every log behind its snapshots: the log stays short however much is committed', () => {
    const sim = cluster()
    electLeader(sim)
    agree(sim, Array.from({ length: 300 }, (_, i) => `c${i}`))
    for (const node of sim.nodes) {
      expect(node.log.firstIndex, `node ${node.id}`).toBeGreaterThan(250)
      expect(node.log.lastIndex - node.log.firstIndex).toBeLessThan(60)
    }
    expect(sim.violations).toEqual([])
  })

  it('a follower cut off while the others compact catches up through the leader\'s snapshot', () => {
    const sim = cluster()
    const leader = electLeader(sim)
    const away = [1, 2, 3].find((id) => id !== leader)!
    sim.partition([away], [1, 2, 3].filter((id) => id !== away))
    agree(sim, Array.from({ length: 100 }, (_, i) => `while-away-${i}`), 5000, [1, 2, 3].filter((id) => id !== away))
    expect(sim.node(sim.leader()!.id).log.firstIndex).toBeGreaterThan(sim.node(away).log.lastIndex + 1)
    const installedBefore = sim.counts.snapshotsInstalled
    sim.heal()
    agree(sim, ['back'])
    expect(sim.counts.snapshotsInstalled).toBeGreaterThan(installedBefore)
    expect(sim.appliedData(away)).toEqual(sim.appliedData(sim.leader()!.id))
    expect(sim.violations).toEqual([])
  })

  it('a node whose disk was replaced comes back through a snapshot', () => {
    const sim = cluster()
    electLeader(sim)
    agree(sim, Array.from({ length: 80 }, (_, i) => `x${i}`))
    const victim = sim.nodes.find((n) => n.core.role !== 'leader')!.id
    sim.wipe(victim)
    sim.restart(victim)
    agree(sim, ['after-wipe'])
    expect(sim.appliedData(victim)).toEqual(sim.appliedData(sim.leader()!.id))
    expect(sim.violations).toEqual([])
  })

  it('nemesis with snapshots: loss, duplicates, slow disks, crashes mid-flush and lost transfers', () => {
    const sim = cluster(5)
    sim.dropRate = 0.1
    sim.duplicateRate = 0.1
    sim.maxDelayTicks = 5
    sim.maxFlushTicks = 5
    sim.crashKeepsUnflushed = true
    electLeader(sim)
    let pick = seed ^ 0x1b873593
    for (let round = 0; round < 150; round++) {
      pick = (pick * 1103515245 + 12345) & 0x7fffffff
      const id = 1 + (pick % 5)
      const node = sim.node(id)
      if (node.alive && sim.nodes.filter((n) => n.alive).length > 3 && pick % 3 === 0) sim.crash(id)
      else if (!node.alive) sim.restart(id)
      for (let i = 0; i < 3; i++) sim.propose(`n${round}-${i}`)
      sim.run(2 + (pick % 10))
    }
    for (const node of sim.nodes) if (!node.alive) sim.restart(node.id)
    sim.dropRate = 0
    sim.duplicateRate = 0
    agree(sim, ['calm'], 8000)
    const reference = sim.appliedData(sim.leader()!.id)
    for (const node of sim.nodes) expect(sim.appliedData(node.id)).toEqual(reference)
    expect(sim.counts.snapshotsTaken).toBeGreaterThan(0)
    expect(sim.violations).toEqual([])
  })
})
