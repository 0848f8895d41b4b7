// Membership changes, learners and leadership transfer in the deterministic simulator (Raft
// dissertation chapter 4 and §3.10): joint consensus under load and faults, a change cut short
// by a leader crash at each step, learners that never count, transfers to lagging and cut-off
// nodes. Safety is checked on every apply. Replay: RAFT_SEED=<seed> npx vitest run test/raft
import { describe, expect, it } from 'vitest'
import { Simulator, testSeed } from '../../src/testing/simulator.js'
import { isJoint, type Configuration } from '../../src/raft/core/configuration.js'
import type { MembershipChange } from '../../src/raft/core/membership-change.js'

const seed = testSeed()
let proposed = 0

function electLeader(sim: Simulator): number {
  expect(sim.runUntil(() => sim.leader() !== undefined, 800), `no leader: ${sim.describe()}`).toBe(true)
  return sim.leader()!.id
}

/** Runs `ticks` ticks, proposing an entry every other tick through whoever leads. */
function underLoad(sim: Simulator, ticks: number): void {
  for (let i = 0; i < ticks; i++) {
    if (i % 2 === 0) sim.propose(`load-${proposed++}`)
    sim.step()
  }
}

/** The leader's configuration once it is committed and not joint (the change is done), or undefined. */
function settledConfiguration(sim: Simulator): Configuration | undefined {
  const leader = sim.leader()
  if (leader === undefined) return undefined
  const config = leader.core.configuration
  return isJoint(config) || leader.core.configurationIndex > leader.core.committed ? undefined : config
}

/** Live members of the leader's configuration: nodes removed, or never added, hear nothing more. */
function liveMembers(sim: Simulator): number[] {
  const config = sim.leader()?.core.configuration
  return sim.nodes.filter((n) => n.alive && (config === undefined || [...config.voters, ...config.learners].includes(n.id))).map((n) => n.id)
}

/** Asks for `change` until the leader takes it, then runs until the new configuration is settled everywhere. */
function change(sim: Simulator, request: MembershipChange, maxTicks = 3000): Configuration {
  for (let tick = 0; tick < maxTicks; tick += 10) {
    const refused = sim.changeMembership(request)
    if (refused === undefined) break
    expect(['ERR_NOT_LEADER', 'ERR_CHANGE_IN_PROGRESS', 'ERR_LEARNER_BEHIND', 'ERR_UNSAFE_CHANGE']).toContain(refused)
    underLoad(sim, 10)
  }
  let settled: Configuration | undefined
  expect(sim.runUntil(() => (settled = settledConfiguration(sim)) !== undefined && matches(settled, request), maxTicks), `change not settled: ${sim.describe()}`).toBe(true)
  return settled!
}

function matches(config: Configuration, request: MembershipChange): boolean {
  return (
    (request.addVoters ?? []).every((m) => config.voters.includes(m.id)) &&
    (request.addLearners ?? []).every((m) => config.learners.includes(m.id)) &&
    (request.promote ?? []).every((id) => config.voters.includes(id)) &&
    (request.remove ?? []).every((id) => !config.voters.includes(id) && !config.learners.includes(id)) &&
    (request.demote ?? []).every((id) => config.learners.includes(id)) &&
    (request.updateAddresses ?? []).every((m) => config.addresses[m.id] === m.address)
  )
}

/** Every live member applied the last proposal. */
function agree(sim: Simulator, maxTicks = 3000): void {
  const marker = `marker-${proposed++}`
  const done = (): boolean => sim.leader() !== undefined && liveMembers(sim).every((id) => sim.appliedData(id).includes(marker))
  for (let tick = 0; tick < maxTicks && !done(); tick += 30) {
    if (!sim.nodes.some((n) => sim.appliedData(n.id).includes(marker))) sim.propose(marker)
    sim.runUntil(done, 30)
  }
  expect(done(), `not agreed: ${sim.describe()}`).toBe(true)
}

describe(`Membership in the simulator (RAFT_SEED=${seed})`, () => {
  it('demotes the leader to a learner: it hands over, steps down, and keeps getting the log without a vote', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const first = electLeader(sim)
    underLoad(sim, 50)
    const config = change(sim, { demote: [first] })
    expect(config.voters).not.toContain(first)
    expect(config.learners).toEqual([first])
    const next = sim.leader()!.id
    expect(next).not.toBe(first)
    agree(sim)
    // A learner never stands: cut off from every voter, it waits instead of campaigning.
    const voters = config.voters
    sim.partition([first], voters)
    const stood = sim.runUntil(() => sim.node(first).core.role !== 'follower', 2000)
    expect(stood, sim.describe()).toBe(false)
  })

  it("moves a member to another address through the log: every member's configuration names the new one", () => {
    const sim = new Simulator({ nodes: 3, seed })
    electLeader(sim)
    const config = change(sim, { updateAddresses: [{ id: 2, address: 'moved:2' }] })
    expect(config.addresses[2]).toBe('moved:2')
    agree(sim)
    expect(sim.nodes.map((n) => n.core.configuration.addresses[2])).toEqual(['moved:2', 'moved:2', 'moved:2'])
  })

  it('grows from 3 to 5 (learners first, then promoted) and shrinks back to 3, under load', () => {
    const sim = new Simulator({ nodes: 3, seed })
    electLeader(sim)
    sim.addNode(4)
    sim.addNode(5)
    let config = change(sim, { addLearners: [{ id: 4, address: '' }, { id: 5, address: '' }] })
    expect(config).toMatchObject({ voters: [1, 2, 3], learners: [4, 5] })
    config = change(sim, { promote: [4, 5] })
    expect(config).toMatchObject({ voters: [1, 2, 3, 4, 5], learners: [] })
    underLoad(sim, 100)
    config = change(sim, { remove: [2, 3] })
    expect(config.voters).toEqual([1, 4, 5])
    agree(sim)
    // The removed nodes take no part any more: they neither lead nor stand.
    for (const id of [2, 3]) sim.crash(id)
    agree(sim)
    expect(sim.violations).toEqual([])
  })

  it('replaces a member while another is cut off', () => {
    const sim = new Simulator({ nodes: 5, seed })
    const leader = electLeader(sim)
    const [cut, replaced] = [1, 2, 3, 4, 5].filter((id) => id !== leader) as [number, number]
    sim.partition([cut], [1, 2, 3, 4, 5, 6].filter((id) => id !== cut))
    sim.addNode(6)
    change(sim, { addVoters: [{ id: 6, address: '' }], remove: [replaced] })
    sim.heal()
    agree(sim)
    expect(sim.leader()!.core.configuration.voters).toEqual([1, 2, 3, 4, 5, 6].filter((id) => id !== replaced))
    expect(sim.violations).toEqual([])
  })

  it('removes the leader: it steps down once the new configuration commits and hands over', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    underLoad(sim, 20)
    change(sim, { remove: [leader] })
    expect(sim.runUntil(() => sim.leader() !== undefined && sim.leader()!.id !== leader, 500)).toBe(true)
    expect(sim.node(leader).core.role).not.toBe('leader')
    sim.crash(leader)
    agree(sim)
    expect(sim.violations).toEqual([])
  })

  for (const moment of ['before C_old,new commits', 'between C_old,new and C_new', 'after C_new commits'] as const) {
    it(`a change cut short by a leader crash ${moment} ends in one configuration, safely`, () => {
      const sim = new Simulator({ nodes: 5, seed })
      const leader = electLeader(sim)
      underLoad(sim, 20)
      sim.addNode(6)
      expect(sim.changeMembership({ addVoters: [{ id: 6, address: '' }], remove: [leader === 1 ? 2 : 1] })).toBeUndefined()
      const node = sim.node(leader)
      const jointIndex = node.core.configurationIndex
      if (moment === 'between C_old,new and C_new') sim.runUntil(() => node.core.committed >= jointIndex && !isJoint(node.core.configuration), 500)
      if (moment === 'after C_new commits') sim.runUntil(() => node.core.committed >= node.core.configurationIndex && !isJoint(node.core.configuration), 500)
      sim.crash(leader)
      underLoad(sim, 100)
      sim.restart(leader)
      // Whatever survived, the cluster settles on the old configuration or the new one, and serves.
      expect(sim.runUntil(() => settledConfiguration(sim) !== undefined, 3000), sim.describe()).toBe(true)
      agree(sim)
      expect(sim.violations).toEqual([])
    })
  }

  it('a learner never votes nor counts: with the voters cut off, it neither stands nor commits anything', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    sim.addNode(4)
    change(sim, { addLearners: [{ id: 4, address: '' }] })
    const others = [1, 2, 3].filter((id) => id !== leader)
    // The leader and the learner together, the two other voters together.
    sim.partition([leader, 4], others)
    const committedBefore = sim.node(leader).core.committed
    sim.propose('needs-a-voter')
    sim.run(300)
    expect(sim.node(leader).core.committed === committedBefore || !sim.appliedData(4).includes('needs-a-voter')).toBe(true)
    expect(sim.node(4).core.role).toBe('follower')
    sim.heal()
    agree(sim)
    expect(sim.node(4).core.role).toBe('follower')
    expect(sim.violations).toEqual([])
  })

  it('refuses a second change while one is in flight, and a promotion while the learner lags', () => {
    const sim = new Simulator({ nodes: 3, seed })
    electLeader(sim)
    sim.addNode(4)
    sim.addNode(5)
    expect(sim.changeMembership({ addLearners: [{ id: 4, address: '' }] })).toBeUndefined()
    expect(sim.changeMembership({ addLearners: [{ id: 5, address: '' }] })).toBe('ERR_CHANGE_IN_PROGRESS')
    expect(sim.runUntil(() => settledConfiguration(sim)?.learners.includes(4) === true, 1000)).toBe(true)
    // Node 4 is cut off while 1,500 entries are committed: it may not become a voter yet.
    sim.partition([4], [1, 2, 3])
    for (let i = 0; i < 1500; i++) sim.propose(`far-${i}`)
    sim.run(200)
    expect(sim.changeMembership({ promote: [4] })).toBe('ERR_LEARNER_BEHIND')
    sim.heal()
    change(sim, { promote: [4] })
    expect(sim.violations).toEqual([])
  })

  it('hands leadership to a lagging voter once it caught up, without waiting for an election timeout', () => {
    const sim = new Simulator({ nodes: 3, seed, electionTicks: [30, 60] })
    const leader = electLeader(sim)
    const target = [1, 2, 3].find((id) => id !== leader)!
    sim.partition([target], [1, 2, 3].filter((id) => id !== target))
    underLoad(sim, 50)
    sim.heal()
    const started = sim.time
    expect(sim.node(leader).core.transferLeadership(target)).toBe(target)
    // Proposals are refused while handing over.
    expect(sim.node(leader).core.propose(Buffer.from('during'))).toBeUndefined()
    expect(sim.runUntil(() => sim.leader()?.id === target, 200), sim.describe()).toBe(true)
    // Far less than the 30 ticks a follower would wait before standing on its own.
    expect(sim.time - started).toBeLessThan(30)
    agree(sim)
    expect(sim.violations).toEqual([])
  })

  it('gives a transfer to a cut-off voter up after an election timeout, and leads on', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    const target = [1, 2, 3].find((id) => id !== leader)!
    sim.partition([target], [1, 2, 3].filter((id) => id !== target))
    underLoad(sim, 10)
    sim.node(leader).core.transferLeadership(target)
    expect(sim.node(leader).core.propose(Buffer.from('refused'))).toBeUndefined()
    sim.run(25)
    expect(sim.node(leader).core.role).toBe('leader')
    expect(sim.node(leader).core.transferringTo).toBe(0)
    expect(sim.node(leader).core.propose(Buffer.from('accepted again'))).toBeDefined()
    sim.heal()
    agree(sim)
    expect(sim.violations).toEqual([])
  })

  it('a removed follower and learner get C_new and its commit, so they know they were removed, and stop standing', () => {
    const sim = new Simulator({ nodes: 5, seed })
    sim.dropRate = 0.1
    electLeader(sim)
    sim.addNode(6)
    change(sim, { addLearners: [{ id: 6, address: '' }] })
    underLoad(sim, 100)
    const leader = sim.leader()!.id
    const removed = [1, 2, 3, 4, 5].filter((id) => id !== leader).slice(0, 1)
    const done = change(sim, { remove: [...removed, 6] })
    const knowsItWasRemoved = (id: number): boolean => {
      const core = sim.node(id).core
      return !core.configuration.voters.includes(id) && !core.configuration.learners.includes(id) && core.committed >= core.configurationIndex && core.configurationIndex > 0
    }
    expect(sim.runUntil(() => [...removed, 6].every(knowsItWasRemoved), 3000), sim.describe()).toBe(true)
    expect(sim.node(removed[0]!).core.configuration.voters).toEqual(done.voters)
    // Out of the configuration, a removed voter never stands again: terms stay put.
    const term = sim.leader()!.core.currentTerm
    underLoad(sim, 500)
    expect(sim.leader()!.core.currentTerm).toBe(term)
    // Once they know, the leader sends them nothing more, and a later change does not bring them back.
    const tracked = (): number[] => sim.leader()?.core.followers().map((f) => f.id) ?? []
    expect(tracked().filter((id) => [...removed, 6].includes(id))).toEqual([])
    expect(sim.changeMembership({ remove: [done.voters.find((id) => id !== sim.leader()!.id)!] })).toBeUndefined()
    for (let tick = 0; tick < 300; tick++) {
      sim.step()
      expect(tracked().filter((id) => [...removed, 6].includes(id))).toEqual([])
    }
    expect(sim.violations).toEqual([])
  })

  it('nemesis: membership changes back and forth under loss, crashes and snapshots', () => {
    const sim = new Simulator({ nodes: 3, seed, snapshotEvery: 30, snapshotTrailing: 5 })
    sim.dropRate = 0.05
    sim.maxDelayTicks = 3
    sim.maxFlushTicks = 3
    electLeader(sim)
    for (const id of [4, 5]) sim.addNode(id)
    const steps: MembershipChange[] = [
      { addLearners: [{ id: 4, address: '' }] },
      { promote: [4] },
      { addLearners: [{ id: 5, address: '' }], remove: [1] },
      { promote: [5] },
      { remove: [2] },
    ]
    let pick = seed ^ 0x51ed27
    for (const step of steps) {
      change(sim, step, 5000)
      pick = (pick * 1103515245 + 12345) & 0x7fffffff
      const victim = sim.nodes.filter((n) => n.alive)[pick % sim.nodes.filter((n) => n.alive).length]!.id
      sim.crash(victim)
      underLoad(sim, 60)
      sim.restart(victim)
      underLoad(sim, 60)
    }
    sim.dropRate = 0
    for (const id of [1, 2]) sim.crash(id)
    agree(sim, 5000)
    expect(sim.leader()!.core.configuration.voters).toEqual([3, 4, 5])
    expect(sim.violations).toEqual([])
  })
})

describe(`Removed ids in the simulator (RAFT_SEED=${seed})`, () => {
  it('a removed id is never added again: the change is refused, and the old node cannot elect itself from its first life', () => {
    // Node 1 founds the cluster alone and writes; nodes 2 and 3 join and are promoted; node 1
    // leaves. Then an operator brings node 1 back with an empty disk and asks to add it again.
    const sim = new Simulator({ nodes: 1, seed })
    electLeader(sim)
    underLoad(sim, 120)
    for (const id of [2, 3]) sim.addNode(id)
    change(sim, { addLearners: [{ id: 2, address: '' }, { id: 3, address: '' }] })
    underLoad(sim, 40)
    change(sim, { promote: [2, 3] })
    const after = change(sim, { remove: [1] })
    expect(after.removed).toEqual([1])
    agree(sim)
    sim.rejoinEmpty(1)
    underLoad(sim, 20)
    expect(sim.changeMembership({ addLearners: [{ id: 1, address: '' }] })).toBe('ERR_ID_REMOVED')
    expect(sim.changeMembership({ addVoters: [{ id: 1, address: '' }] })).toBe('ERR_ID_REMOVED')
    // A new id is welcome, and the cluster goes on; the removed node never leads.
    sim.addNode(4)
    change(sim, { addLearners: [{ id: 4, address: '' }] })
    for (let tick = 0; tick < 300; tick++) {
      if (tick % 2 === 0) sim.propose(`after-${tick}`)
      sim.step()
      expect(sim.node(1).core.role).not.toBe('leader')
    }
    agree(sim)
    expect(sim.leader()!.core.configuration.removed).toEqual([1])
    expect(sim.violations).toEqual([])
  })

  it('snapshots carry the removed ids: a node that starts from one still refuses them', () => {
    const sim = new Simulator({ nodes: 3, seed, snapshotEvery: 20, snapshotTrailing: 2 })
    electLeader(sim)
    const leader = sim.leader()!.id
    const leaving = [1, 2, 3].find((id) => id !== leader)!
    change(sim, { remove: [leaving] })
    underLoad(sim, 200)
    // Every node compacted past the Config entries; a restart starts from a snapshot.
    for (const node of sim.nodes.filter((n) => n.alive && n.id !== leaving)) {
      expect(node.log.firstIndex).toBeGreaterThan(node.core.configurationIndex)
      sim.crash(node.id)
      sim.restart(node.id)
    }
    electLeader(sim)
    expect(sim.leader()!.core.configuration.removed).toEqual([leaving])
    expect(sim.changeMembership({ addLearners: [{ id: leaving, address: '' }] })).toBe('ERR_ID_REMOVED')
  })
})

describe(`Changes that would end a cluster (RAFT_SEED=${seed})`, () => {
  it('voters asked for before they start enter as learners, never count, and vote once they run and caught up', () => {
    const sim = new Simulator({ nodes: 3, seed })
    electLeader(sim)
    underLoad(sim, 20)
    // Four voters that do not exist (yet): as voters they would be 4 of 7, a majority that
    // can never answer. As learners the cluster goes on.
    const ghosts = [4, 5, 6, 7].map((id) => ({ id, address: '' }))
    expect(sim.changeMembership({ addVoters: ghosts })).toBeUndefined()
    let config: Configuration | undefined
    expect(sim.runUntil(() => (config = settledConfiguration(sim)) !== undefined, 1000)).toBe(true)
    expect(config).toMatchObject({ voters: [1, 2, 3], learners: [4, 5, 6, 7], promoteWhenCaughtUp: [4, 5, 6, 7] })
    sim.crash(sim.leader()!.id)
    agree(sim)
    // Two of them start, catch up, and become voters without being asked again.
    for (const id of [4, 5]) sim.addNode(id)
    expect(
      sim.runUntil(() => {
        const voters = sim.leader()?.core.configuration.voters ?? []
        return voters.includes(4) && voters.includes(5)
      }, 3000),
      sim.describe(),
    ).toBe(true)
    underLoad(sim, 100)
    const now = sim.leader()!.core.configuration
    expect(now.promoteWhenCaughtUp).toEqual([6, 7])
    expect(now.learners).toEqual([6, 7])
    agree(sim)
    expect(sim.violations).toEqual([])
  })

  it('refuses a change after which the voters heard from lately are not a majority (strict reconfiguration check)', () => {
    const sim = new Simulator({ nodes: 3, seed })
    const leader = electLeader(sim)
    underLoad(sim, 20)
    const [down, up] = [1, 2, 3].filter((id) => id !== leader) as [number, number]
    sim.crash(down)
    underLoad(sim, 40)
    // Removing the live follower would leave the leader and a dead node: no majority, ever.
    expect(sim.changeMembership({ remove: [up] })).toBe('ERR_UNSAFE_CHANGE')
    expect(sim.leader()!.core.configuration.voters).toEqual([1, 2, 3])
    // Removing the dead one is what an operator needs, and is allowed.
    const after = change(sim, { remove: [down] })
    expect(after.voters).toEqual([leader, up].sort((a, b) => a - b))
    // Moving the live one counts it out too: it answers at its old address until restarted, and
    // the leader alone is not a majority of two. (The simulator's members start with no address.)
    change(sim, { updateAddresses: [{ id: up, address: `at:${up}` }] })
    expect(sim.changeMembership({ updateAddresses: [{ id: up, address: `moved:${up}` }] })).toBe('ERR_UNSAFE_CHANGE')
    expect(sim.leader()!.core.configuration.addresses[up]).toBe(`at:${up}`)
    agree(sim)
    expect(sim.violations).toEqual([])
  })
})
