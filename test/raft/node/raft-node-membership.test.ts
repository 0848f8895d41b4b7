// Membership changes, learners and leadership transfer with real RaftNodes, real logs and real
// timers over MemoryNetwork (the simulator covers the interleavings; this covers the driver:
// its promises, events, state file and snapshots). Timeouts are generous for a shared machine.
import { describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { RaftLog, RaftNode, type LogEntry, type RaftNodeOptions, type StateMachine } from '../../../src/index.js'
import type { Configuration } from '../../../src/raft/core/configuration.js'
import { silentLogger } from '../../helpers/entries.js'
import { ListMachine, MemoryCluster } from '../../helpers/memory-cluster.js'
import { waitFor as waitUntil } from '../../helpers/raft-nodes.js'

type TestCluster = MemoryCluster<ListMachine>

const settings = { electionTimeout: [150, 300] as [number, number], heartbeatInterval: 30, segmentSize: 64 * 1024 }

const startCluster = (size: number, extra: Partial<RaftNodeOptions> = {}): Promise<TestCluster> =>
  MemoryCluster.start({ size, seed: 5, machine: () => new ListMachine(), node: { ...settings, ...extra } })
const startNode = (cluster: TestCluster, id: number, peers: number[], extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> => cluster.startNode(id, extra, peers)
const stopNode = (cluster: MemoryCluster<StateMachine>, id: number): Promise<void> => cluster.stopNode(id)
const leaderOf = (cluster: MemoryCluster<StateMachine>): RaftNode | undefined => cluster.leader()

function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 15_000): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 5)
}

/** Proposes `count` items named prefix-N through whoever leads, in order, each applied once. */
function propose(cluster: TestCluster, prefix: string, count: number): Promise<void> {
  const items = Array.from({ length: count }, (_, i) => `${prefix}-${i}`)
  return cluster.proposeAll(items, { timeoutMs: 30_000, applied: (item) => [...cluster.machines.values()].some((m) => m.items.includes(item)) })
}

/** Every running node applied the same items, each once. */
async function expectConverged(cluster: TestCluster): Promise<string[]> {
  const lists = (): string[][] => [...cluster.nodes.keys()].map((id) => cluster.machines.get(id)!.items)
  await waitFor('every node applied the same items', () => lists().every((items) => items.length === lists()[0]!.length && items.join() === lists()[0]!.join()))
  const items = lists()[0]!
  expect(new Set(items).size).toBe(items.length)
  return items
}

const summary = (config: Configuration): object => ({ voters: config.voters, outgoing: config.outgoing, learners: config.learners })

describe('RaftNode membership changes', () => {
  it('grows with a learner that joins empty, promotes it, then removes the leader, under load', async () => {
    const cluster = await startCluster(3)
    await propose(cluster, 'before', 20)
    const joiner = await startNode(cluster, 4, [], { clusterId: cluster.nodes.get(1)!.status().clusterId })
    expect(joiner.status().configuration.voters).toEqual([])

    const load = propose(cluster, 'during', 60)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const announced: number[][] = []
    joiner.on('configuration', ({ configuration }: { configuration: Configuration }) => announced.push(configuration.learners))
    expect(summary(await leader.changeMembership({ addLearners: [{ id: 4, address: 'node-4:1' }] }))).toEqual({ voters: [1, 2, 3], outgoing: [], learners: [4] })
    await waitFor('the learner caught up', () => joiner.status().lastApplied >= leader.status().commitIndex)
    expect(joiner.status().role).toBe('follower')
    expect(joiner.configuration.addresses[4]).toBe('node-4:1')
    expect(announced.some((learners) => learners.includes(4))).toBe(true)

    const promoted = await (await waitFor('a leader', () => leaderOf(cluster))).changeMembership({ promote: [4] })
    expect(summary(promoted)).toEqual({ voters: [1, 2, 3, 4], outgoing: [], learners: [] })

    const oldLeader = await waitFor('a leader', () => leaderOf(cluster))
    const oldId = oldLeader.id
    const removed = new Promise<{ index: number }>((resolve) => oldLeader.once('removed', resolve))
    const after = await oldLeader.changeMembership({ remove: [oldId] })
    expect(after.voters).toEqual([1, 2, 3, 4].filter((id) => id !== oldId))
    expect((await removed).index).toBeGreaterThan(0)
    await waitFor('the removed leader stepped down', () => oldLeader.status().role !== 'leader')
    await load
    await stopNode(cluster, oldId)
    const newLeader = await waitFor('a new leader', () => leaderOf(cluster))
    expect(newLeader.id).not.toBe(oldId)
    await propose(cluster, 'after', 10)
    const items = await expectConverged(cluster)
    expect(items.filter((item) => item.startsWith('during-')).length).toBe(60)
    for (const node of cluster.nodes.values()) expect(summary(node.configuration)).toEqual({ voters: after.voters, outgoing: [], learners: [] })
  }, 60_000)

  it('refuses a second change while one is in flight, and a learner promoted while far behind', async () => {
    const cluster = await startCluster(3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const first = leader.changeMembership({ addLearners: [{ id: 4, address: '' }] })
    await expect(leader.changeMembership({ addLearners: [{ id: 5, address: '' }] })).rejects.toMatchObject({ code: 'ERR_CHANGE_IN_PROGRESS' })
    await first
    await expect(leader.changeMembership({ remove: [9] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('9') })
    // Two members at one address would take each other's messages.
    await leader.changeMembership({ addLearners: [{ id: 5, address: 'host-5:1' }] })
    await expect(leader.changeMembership({ addLearners: [{ id: 6, address: 'host-5:1' }] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining("node 6's address host-5:1 is node 5's already") })
    // Node 4 was never started: it is as far behind as a learner can be.
    await propose(cluster, 'x', 5)
    await expect((await waitFor('a leader', () => leaderOf(cluster))).changeMembership({ promote: [4] })).rejects.toMatchObject({ code: 'ERR_LEARNER_BEHIND' })
    const follower = [...cluster.nodes.values()].find((node) => node.status().role === 'follower')!
    await expect(follower.changeMembership({ remove: [1] })).rejects.toMatchObject({ code: 'ERR_NOT_LEADER' })
  }, 30_000)

  it('hands leadership to the voter asked for, refusing proposals meanwhile', async () => {
    const cluster = await startCluster(3)
    await propose(cluster, 'a', 10)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const target = [1, 2, 3].find((id) => id !== leader.id)!
    const transfer = leader.transferLeadership(target)
    await expect(leader.propose(Buffer.from('during transfer'))).rejects.toMatchObject({ code: 'ERR_LEADERSHIP_TRANSFER' })
    expect(await transfer).toBe(target)
    await waitFor('the target leads', () => cluster.nodes.get(target)!.status().role === 'leader')
    await expect(leader.transferLeadership(leader.id)).rejects.toMatchObject({ code: 'ERR_NOT_LEADER' })
    await propose(cluster, 'b', 10)
    const items = await expectConverged(cluster)
    expect(items).not.toContain('during transfer')
  }, 30_000)

  it('a transfer whose TimeoutNow arrives after the leader gave it up resolves with the target once it leads, never "failed"', async () => {
    const cluster = await startCluster(3)
    await propose(cluster, 'a', 3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const target = [1, 2, 3].find((id) => id !== leader.id)!
    // Past the transfer's own timeout (an election timeout's minimum, 150 ms).
    cluster.network.delayMessages((message) => (message.type === 'TimeoutNow' ? 400 : 0))
    expect(await leader.transferLeadership(target)).toBe(target)
    expect(cluster.nodes.get(target)!.status().role).toBe('leader')
  }, 30_000)

  it('a transfer to a voter that never catches up is refused as timed out: the leader leads on', async () => {
    const cluster = await startCluster(3)
    await propose(cluster, 'a', 3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const target = [1, 2, 3].find((id) => id !== leader.id)!
    cluster.network.partition([target], [1, 2, 3].filter((id) => id !== target))
    await leader.propose(Buffer.from('the target misses this'))
    await expect(leader.transferLeadership(target)).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringContaining('never caught up') })
    expect(leader.status().role).toBe('leader')
  }, 30_000)

  it('a leader that stops hands over first: a new leader well within an election timeout', async () => {
    // Long election timeouts: without a handover the others wait at least 2 s.
    const cluster = await startCluster(3, { electionTimeout: [2000, 4000], heartbeatInterval: 50 })
    const leader = await waitFor('a leader', () => leaderOf(cluster), 20_000)
    await propose(cluster, 'a', 5)
    const stoppedAt = Date.now()
    await stopNode(cluster, leader.id)
    await waitFor('a new leader', () => leaderOf(cluster), 20_000)
    expect(Date.now() - stoppedAt).toBeLessThan(1500)
  }, 40_000)

  it('a snapshot carries the configuration: a restart after compaction keeps the new membership', async () => {
    // Small segments: compaction deletes whole segments only.
    const cluster = await startCluster(3, { snapshotThreshold: 50, snapshotTrailingEntries: 0, segmentSize: 4096 })
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    await leader.changeMembership({ addLearners: [{ id: 7, address: 'node-7:1' }] })
    await propose(cluster, 'fill', 400)
    for (const node of cluster.nodes.values()) await node.snapshot()
    await waitFor('the log compacted past the change', () => [...cluster.nodes.values()].every((node) => node.status().firstIndex > 3))
    await stopNode(cluster, 2)
    // The peers given at a restart are ignored: membership lives in the log and snapshots.
    const restarted = await startNode(cluster, 2, [1, 2, 3], { snapshotThreshold: 50, snapshotTrailingEntries: 0, segmentSize: 4096 })
    expect(summary(restarted.configuration)).toEqual({ voters: [1, 2, 3], outgoing: [], learners: [7] })
    expect(restarted.configuration.addresses[7]).toBe('node-7:1')
  }, 40_000)

  it('a log compacted by hand (no snapshots) keeps the committed membership: the removed voter never counts again', async () => {
    // The README's way for a state machine without snapshot(): stop, compact up to what the
    // state machine holds, start with appliedIndex. The peers given at start are the old three.
    const noSnapshots = (): { apply(entry: LogEntry): void; items: string[] } => {
      const items: string[] = []
      return { items, apply: (entry) => void items.push(Buffer.from(entry.data).toString()) }
    }
    const cluster = await MemoryCluster.start({ size: 3, seed: 5, machine: noSnapshots, node: { ...settings, segmentSize: 4096 } })
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const leaving = [1, 2, 3].find((id) => id !== leader.id)!
    await leader.propose(Buffer.from('first'))
    // Every voter answered: a change that leaves two voters needs both heard from.
    await waitFor('every node applied the first entry', () => [...cluster.nodes.values()].every((node) => node.status().lastApplied >= leader.status().commitIndex))
    await leader.changeMembership({ remove: [leaving] })
    for (let i = 0; i < 200; i++) await leader.propose(Buffer.from(`fill-${i}-${'x'.repeat(40)}`))
    await waitFor('every voter applied everything', () => [...cluster.nodes.values()].every((node) => node.id === leaving || node.status().lastApplied >= leader.status().commitIndex))
    await waitFor('the removed node knows it', () => cluster.nodes.get(leaving)!.wasRemoved)
    const applied = new Map<number, number>()
    for (const id of [1, 2, 3]) {
      applied.set(id, cluster.nodes.get(id)!.status().lastApplied)
      await stopNode(cluster, id)
    }
    for (const id of [1, 2, 3]) {
      const log = RaftLog.open(join(cluster.root, `node_${id}`))
      log.compact(applied.get(id)!)
      if (id !== leaving) expect(log.firstIndex, 'compaction removed the configuration entries').toBeGreaterThan(5)
      log.close()
    }
    for (const id of [1, 2, 3]) await cluster.startNode(id, { appliedIndex: applied.get(id)! })
    const stayers = [1, 2, 3].filter((id) => id !== leaving)
    for (const id of stayers) expect(cluster.nodes.get(id)!.configuration.voters).toEqual(stayers)
    expect(cluster.nodes.get(leaving)!.wasRemoved).toBe(true)
  }, 40_000)

  it('a removed follower hears that it was removed, and knows it again when it restarts', async () => {
    const cluster = await startCluster(4)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const followerId = [1, 2, 3, 4].find((id) => id !== leader.id)!
    const follower = cluster.nodes.get(followerId)!
    const removed = new Promise<{ index: number }>((resolve) => follower.once('removed', resolve))
    await leader.changeMembership({ remove: [followerId] })
    expect((await removed).index).toBe(follower.status().configurationIndex)
    expect(follower.wasRemoved).toBe(true)
    await stopNode(cluster, followerId)
    const again = await startNode(cluster, followerId, [1, 2, 3, 4])
    expect(again.wasRemoved).toBe(true)
    await propose(cluster, 'after', 5)
  }, 30_000)

  it('a node removed while it was down is told so by the members when it asks for votes, and stops standing', async () => {
    const cluster = await startCluster(4)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    const downId = [1, 2, 3, 4].find((id) => id !== leader.id)!
    await stopNode(cluster, downId)
    await leader.changeMembership({ remove: [downId] })
    await propose(cluster, 'after', 5)
    // Past the election timeout in which the leader still sends a removed node the log.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // It comes back knowing nothing of its removal (no member sends it the log any more).
    const back = await startNode(cluster, downId, [1, 2, 3, 4])
    let removedEvent: { by?: number } | undefined
    back.once('removed', (event: { by?: number }) => (removedEvent = event))
    expect(back.wasRemoved).toBe(false)
    const told = await waitFor('a member told it it was removed', () => removedEvent)
    expect([1, 2, 3, 4].filter((id) => id !== downId)).toContain(told.by)
    expect(back.wasRemoved).toBe(true)
    // It never disturbs the others: the leader keeps its term.
    const term = leader.status().term
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(back.status().role).toBe('follower')
    expect((await waitFor('a leader', () => leaderOf(cluster))).status().term).toBe(term)
    // It remembers: started again, it knows at once, though its log never said so.
    await stopNode(cluster, downId)
    const again = await startNode(cluster, downId, [1, 2, 3, 4])
    expect(again.wasRemoved).toBe(true)
    expect(again.configuration.voters).toContain(downId)
  }, 30_000)

  it('refuses a directory of another node or another cluster', async () => {
    const cluster = await startCluster(1)
    const node = cluster.nodes.get(1)!
    const clusterId = node.status().clusterId
    expect(clusterId).toMatch(/^[0-9a-f]{32}$/)
    await stopNode(cluster, 1)
    const dir = join(cluster.root, 'node_1')
    const options = { dir, stateMachine: new ListMachine(), transport: cluster.network.endpoint(2), logger: silentLogger, ...settings }
    await expect(RaftNode.start({ ...options, id: 2, peers: [2] })).rejects.toMatchObject({ code: 'ERR_WRONG_NODE', message: expect.stringContaining(dir) })
    await expect(RaftNode.start({ ...options, id: 1, peers: [1], clusterId: 'f'.repeat(32) })).rejects.toMatchObject({ code: 'ERR_WRONG_CLUSTER', message: expect.stringContaining(clusterId) })
    const again = await RaftNode.start({ ...options, id: 1, peers: [1], clusterId })
    expect(again.status().clusterId).toBe(clusterId)
    await again.stop()
  }, 20_000)
})
