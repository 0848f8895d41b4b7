// Snapshots, compaction and InstallSnapshot with real RaftNodes, real logs and real timers over
// MemoryNetwork: small segments and a small threshold, so that a few thousand proposals take
// many snapshots. Timeouts are generous for a shared machine.
import { describe, expect, it } from 'vitest'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftNode, type RaftNodeOptions } from '../../../src/index.js'
import { MemoryNetwork } from '../../../src/testing/index.js'
import { silentLogger } from '../../helpers/entries.js'
import { ListMachine, MemoryCluster } from '../../helpers/memory-cluster.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { waitFor as waitUntil } from '../../helpers/raft-nodes.js'

type TestCluster = MemoryCluster<ListMachine>

const settings = { electionTimeout: [80, 160] as [number, number], heartbeatInterval: 20, segmentSize: 64 * 1024, snapshotThreshold: 200, snapshotTrailingEntries: 50 }

const startCluster = (size: number): Promise<TestCluster> => MemoryCluster.start({ size, seed: 11, machine: () => new ListMachine(), node: settings })
const startNode = (cluster: TestCluster, id: number, extra: Partial<RaftNodeOptions> = {}): Promise<RaftNode> => cluster.startNode(id, extra)
const leaderOf = (cluster: TestCluster): RaftNode | undefined => cluster.leader()

function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  return waitUntil(what, probe, timeoutMs, 10)
}

/** Proposes items through whoever leads, `inFlight` at a time, until each one was applied there (items are unique). */
function proposeAll(cluster: TestCluster, items: string[], inFlight = 32): Promise<void> {
  return cluster.proposeAll(items, { inFlight, timeoutMs: 60_000, applied: (item) => [...cluster.machines.values()].some((m) => m.items.includes(item)) })
}

function directoryBytes(dir: string): number {
  return readdirSync(dir).reduce((sum, name) => sum + statSync(join(dir, name)).size, 0)
}

/** Every node's state machine holds exactly `items`, each once, in the same order. */
async function expectConverged(cluster: TestCluster, count: number): Promise<void> {
  await waitFor('every node applied everything', () => [...cluster.machines.values()].every((m) => m.items.length === count), 30_000).catch((error: Error) => {
    const seen = [...cluster.nodes].map(([id, node]) => `node ${id}: ${cluster.machines.get(id)!.items.length} items, ${cluster.machines.get(id)!.restores} restores, ${JSON.stringify(node.status())} ${cluster.machines.get(id)!.items.slice(0, 3).map((x) => x.slice(0, 12)).join()}...${cluster.machines.get(id)!.items.slice(-8).map((x) => x.slice(0, 12)).join()}`)
    throw new Error(`${error.message} (${count} expected)\n${seen.join('\n')}`)
  })
  const [reference, ...others] = [...cluster.machines.values()].map((m) => m.items)
  expect(new Set(reference).size).toBe(count)
  for (const items of others) expect(items).toEqual(reference)
}

describe('RaftNode snapshots', () => {
  it('keeps every node directory bounded however much is committed', async () => {
    const cluster = await startCluster(3)
    const items = Array.from({ length: 3000 }, (_, i) => `item-${i}-${'x'.repeat(200)}`)
    await proposeAll(cluster, items)
    await expectConverged(cluster, items.length)
    for (const [id, node] of cluster.nodes) {
      const status = node.status()
      expect(status.snapshotIndex, `node ${id}`).toBeGreaterThan(2500)
      expect(status.firstIndex).toBeGreaterThan(1)
      // 3000 entries of 200 B in the log would be ~700 KB plus segment preallocation; what is left
      // is a few segments of 64 KiB, two snapshots and the state file.
      // Two snapshots, once a snapshot in progress has pruned the oldest (for a moment, three).
      const snapshots = (): string[] => readdirSync(cluster.dirs.get(id)!).filter((f) => f.endsWith('.snap'))
      await waitFor(`node ${id} keeps two snapshots`, () => snapshots().length === 2)
      expect(directoryBytes(cluster.dirs.get(id)!)).toBeLessThan(2 * 1024 * 1024)
    }
  })

  it('a follower cut off while the others compact catches up through InstallSnapshot', async () => {
    const cluster = await startCluster(3)
    await proposeAll(cluster, ['first'])
    const leader = leaderOf(cluster)!
    const away = [...cluster.nodes.keys()].find((id) => id !== leader.id)!
    cluster.network.disconnect(away)
    const items = Array.from({ length: 1500 }, (_, i) => `while-away-${i}`)
    await proposeAll(cluster, items)
    await waitFor('the log compacted past the follower', () => leaderOf(cluster)!.status().firstIndex > cluster.nodes.get(away)!.status().lastIndex + 1)
    cluster.network.connect(away)
    await proposeAll(cluster, ['back'])
    await expectConverged(cluster, items.length + 2)
    expect(cluster.machines.get(away)!.restores).toBeGreaterThan(0)
    expect(cluster.nodes.get(away)!.status().snapshotIndex).toBeGreaterThan(1000)
  })

  it('catches up by snapshot over an unreliable network, and when the follower crashes in the middle of a transfer', async () => {
    const cluster = await startCluster(3)
    // Big items make a snapshot of several chunks: the transfer takes a while.
    const big = (i: number): string => `${i}:${'y'.repeat(8000)}`
    await proposeAll(cluster, [big(0)])
    const leader = leaderOf(cluster)!
    const away = [...cluster.nodes.keys()].find((id) => id !== leader.id)!
    await cluster.nodes.get(away)!.stop()
    cluster.nodes.delete(away)
    const items = Array.from({ length: 1200 }, (_, i) => big(i + 1))
    await proposeAll(cluster, items)
    cluster.network.setUnreliable({ dropRate: 0.05, minDelayMs: 0, maxDelayMs: 5, reorder: true })
    // Back, and gone again as soon as the snapshot starts to arrive.
    const restarted = await startNode(cluster, away)
    const dir = cluster.dirs.get(away)!
    await waitFor('a partial snapshot', () => readdirSync(dir).some((f) => f.endsWith('.partial')), 30_000)
    await restarted.stop()
    cluster.nodes.delete(away)
    await startNode(cluster, away)
    await proposeAll(cluster, ['last'])
    cluster.network.setReliable()
    await expectConverged(cluster, items.length + 2)
  })

  it('restarting every node again and again restores state from snapshots: nothing lost, nothing twice, applied only grows', async () => {
    const cluster = await startCluster(3)
    const all: string[] = []
    const lastApplied = new Map<number, number>()
    for (let round = 0; round < 4; round++) {
      const items = Array.from({ length: 400 }, (_, i) => `r${round}-${i}`)
      all.push(...items)
      await proposeAll(cluster, items)
      await expectConverged(cluster, all.length)
      for (const [id, node] of cluster.nodes) {
        const applied = node.status().lastApplied
        expect(applied).toBeGreaterThanOrEqual(lastApplied.get(id) ?? 0)
        lastApplied.set(id, applied)
        await node.stop()
      }
      for (const id of cluster.dirs.keys()) {
        const node = await startNode(cluster, id)
        // Started from its snapshot: the state is there before a single entry is replayed.
        expect(node.status().snapshotIndex).toBeGreaterThan(0)
        expect(cluster.machines.get(id)!.restores).toBe(1)
        expect(node.status().lastApplied).toBeGreaterThanOrEqual(node.status().snapshotIndex)
      }
    }
    // Proposed 32 at a time: the order is the log's, the set is what was proposed, each once.
    expect([...cluster.machines.get(1)!.items].sort()).toEqual([...all].sort())
  })

  it('a new node with an empty directory catches up by snapshot', async () => {
    const cluster = await startCluster(3)
    const items = Array.from({ length: 1000 }, (_, i) => `early-${i}-${'z'.repeat(500)}`)
    await proposeAll(cluster, items)
    const leader = leaderOf(cluster)!
    // Every snapshot the 1,000 entries call for is taken (they fall every 200 applied entries).
    await waitFor('the last snapshot taken and the log compacted', () => {
      const status = leader.status()
      return status.lastApplied >= items.length && status.lastApplied - status.snapshotIndex < settings.snapshotThreshold && status.firstIndex > 1
    })
    const replaced = [...cluster.nodes.keys()].find((id) => id !== leader.id)!
    await cluster.nodes.get(replaced)!.stop()
    cluster.nodes.delete(replaced)
    // Its disk is replaced by an empty one.
    cluster.dirs.set(replaced, join(tempDir('raftlog-new-node-'), `node_${replaced}`))
    await startNode(cluster, replaced)
    await proposeAll(cluster, ['after'])
    await expectConverged(cluster, items.length + 1)
    expect(cluster.machines.get(replaced)!.restores).toBe(1)
  })

  it('a threshold below the trailing entries takes snapshots and compacts nothing until the log is longer than the margin', async () => {
    const cluster = await startCluster(1)
    await cluster.nodes.get(1)!.stop()
    cluster.nodes.delete(1)
    const node = await startNode(cluster, 1, { snapshotThreshold: 50, snapshotTrailingEntries: 500 })
    await proposeAll(cluster, Array.from({ length: 300 }, (_, i) => `short-${i}`))
    // Once the last snapshot is written, the node looks again: it ends within a threshold of the end.
    await waitFor('a snapshot near the end', () => node.status().snapshotIndex > node.status().lastApplied - 50)
    expect(node.failed).toBeUndefined()
    expect(node.status().firstIndex).toBe(1)
  })

  it('node.snapshot() takes one now and status() reports it; a state machine without snapshot() says so', async () => {
    const cluster = await startCluster(1)
    await proposeAll(cluster, ['a', 'b', 'c'])
    const node = cluster.nodes.get(1)!
    const taken = await node.snapshot()
    expect(taken).toEqual({ index: node.status().lastApplied, term: node.status().term })
    expect(node.status()).toMatchObject({ snapshotIndex: taken.index, snapshotTerm: taken.term })
    const plain = await RaftNode.start({ id: 1, peers: [1], dir: tempDir(), stateMachine: { apply: () => undefined }, transport: new MemoryNetwork().endpoint(1), logger: silentLogger })
    await expect(plain.snapshot()).rejects.toMatchObject({ code: 'ERR_UNSUPPORTED' })
    await plain.stop()
  })
})
