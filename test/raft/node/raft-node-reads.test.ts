// RaftNode.read(): linearizable reads with no log entry (ReadIndex, Raft dissertation §6.4), on
// the leader and on followers, batched, and never stale on a leader that was cut off.
import { describe, expect, it } from 'vitest'
import type { LogEntry, RaftNode, RaftNodeOptions } from '../../../src/index.js'
import { MemoryCluster } from '../../helpers/memory-cluster.js'
import { waitFor as waitUntil } from '../../helpers/raft-nodes.js'

/** A register: the last value written. */
class Register {
  value = ''
  apply(entry: LogEntry): string {
    this.value = Buffer.from(entry.data).toString()
    return this.value
  }
}

type TestCluster = MemoryCluster<Register>

const startCluster = (size: number, extra: Partial<RaftNodeOptions> = {}): Promise<TestCluster> =>
  MemoryCluster.start({ size, seed: 5, machine: () => new Register(), node: { electionTimeout: [80, 160], heartbeatInterval: 20, ...extra } })
const leaderOf = (cluster: TestCluster): RaftNode | undefined => cluster.leader()

function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 5)
}

describe('RaftNode.read()', () => {
  it('on the leader and on every follower sees every write acknowledged before it, and writes no entry', async () => {
    const cluster = await startCluster(3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    await leader.propose(Buffer.from('one'))
    const lastIndex = leader.status().lastIndex
    expect(leader.clusterId, 'the cluster token is committed (no entry of its own to come)').not.toBe(leader.foundingId)
    for (const [id, node] of cluster.nodes) {
      const index = await node.read()
      expect(index, `node ${id}`).toBeGreaterThanOrEqual(leader.status().commitIndex - 1)
      expect(cluster.machines.get(id)!.value).toBe('one')
    }
    expect(leader.status().lastIndex).toBe(lastIndex)
  })

  it('on a follower whose state machine lags, waits until it applied what the leader committed', async () => {
    const cluster = await startCluster(3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    await leader.propose(Buffer.from('before'))
    const follower = [...cluster.nodes.values()].find((node) => node !== leader)!
    const machine = cluster.machines.get(follower.id)!
    await waitFor('the follower applied', () => machine.value === 'before')
    // From now on the follower's state machine takes 300 ms per entry.
    const apply = machine.apply.bind(machine)
    machine.apply = (entry: LogEntry) => new Promise((resolve) => setTimeout(() => resolve(apply(entry)), 300)) as never
    await leader.propose(Buffer.from('after'))
    expect(machine.value).toBe('before')
    await follower.read()
    expect(machine.value).toBe('after')
  })

  it('serves a hundred concurrent reads with a round or two of heartbeats, not a hundred', async () => {
    const cluster = await startCluster(3)
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    await leader.propose(Buffer.from('x'))
    await leader.read()
    const before = cluster.network.counts.sent
    await Promise.all(Array.from({ length: 100 }, () => leader.read()))
    // Each round is an AppendEntries and its answer per follower; heartbeats may pass meanwhile.
    expect(cluster.network.counts.sent - before).toBeLessThan(20)
  })

  it('a leader cut off from the others never answers a read with what it holds: it cannot confirm one', async () => {
    const cluster = await startCluster(3)
    const old = await waitFor('a leader', () => leaderOf(cluster))
    await old.propose(Buffer.from('v1'))
    const others = [...cluster.nodes.keys()].filter((id) => id !== old.id)
    cluster.network.partition([old.id], others)
    // Settled whenever it settles; looked at below.
    const stale = old.read().then(
      (index) => `resolved at ${index}`,
      (error: { code: string }) => error.code,
    )
    const next = await waitFor('a new leader', () => others.map((id) => cluster.nodes.get(id)!).find((node) => node.status().role === 'leader'))
    await next.propose(Buffer.from('v2'))
    expect(await stale).toMatch(/^ERR_(NOT_LEADER|TIMEOUT)$/)
    cluster.network.heal()
    await waitFor('the old leader to follow the new one', () => old.status().leaderId === next.id)
    await old.read()
    expect(cluster.machines.get(old.id)!.value).toBe('v2')
  })

  it('lease reads need no round of messages while the lease holds', async () => {
    const cluster = await startCluster(3, { readMode: 'lease', leaseClockDriftMs: 10 })
    const leader = await waitFor('a leader', () => leaderOf(cluster))
    await leader.propose(Buffer.from('leased'))
    // The commit reaches the followers in a message of its own, answered: let that traffic end.
    await waitFor('the followers applied the write', () => [...cluster.machines.values()].every((machine) => machine.value === 'leased'))
    await new Promise((resolve) => setTimeout(resolve, 10))
    await leader.read()
    const before = cluster.network.counts.sent
    const startedAt = Date.now()
    for (let reads = 0; reads < 50; reads++) await leader.read()
    // Only the heartbeats of those milliseconds went out (20 ms apart, to two followers), not a
    // round per read (which would be 100 messages).
    const heartbeats = 2 * (Math.ceil((Date.now() - startedAt) / 20) + 1)
    expect(cluster.network.counts.sent - before).toBeLessThanOrEqual(heartbeats)
    expect(cluster.machines.get(leader.id)!.value).toBe('leased')
  })

  it('says ERR_NOT_LEADER at once when no leader is known', async () => {
    const cluster = await startCluster(3, { electionTimeout: [5000, 6000], heartbeatInterval: 1000 })
    await expect(cluster.nodes.get(1)!.read()).rejects.toMatchObject({ code: 'ERR_NOT_LEADER' })
  })
})
