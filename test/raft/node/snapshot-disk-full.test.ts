// A snapshot the disk has no room for: the node's own snapshot file fails to be written with
// ENOSPC. The node goes on (it is not failed, its log as it was), the partial file is deleted,
// snapshot() says why, an automatic snapshot is not tried again after every applied slice (it
// waits, doubling), and once there is room the next one is taken and the log compacted.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { readdirSync } from 'node:fs'
import { RaftNode } from '../../../src/index.js'
import { MemoryNetwork } from '../../../src/testing/index.js'
import { SnapshotWriter } from '../../../src/storage/snapshot-store.js'
import { ListMachine } from '../../helpers/memory-cluster.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/raft-nodes.js'

const nodes: RaftNode[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const node of nodes.splice(0)) await node.stop()
})

function noSpace(): Error {
  return Object.assign(new Error('Cannot write snapshot: ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
}

async function soleNode(snapshotThreshold: number, warnings: string[]): Promise<{ node: RaftNode; dir: string }> {
  const dir = tempDir('raftlog-snapshot-full-')
  const network = new MemoryNetwork({ seed: 1 })
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    dir,
    stateMachine: new ListMachine(),
    transport: network.endpoint(1),
    electionTimeout: [60, 120],
    heartbeatInterval: 20,
    segmentSize: 64 * 1024,
    snapshotThreshold,
    snapshotTrailingEntries: 0,
    logger: { warn: (message) => warnings.push(message) },
  })
  nodes.push(node)
  await waitFor('a leader', () => node.status().role === 'leader')
  return { node, dir }
}

describe('a snapshot on a full disk', () => {
  it('snapshot() rejects with ENOSPC, leaves no partial file and does not fail the node; the next one, with room, compacts the log', async () => {
    const warnings: string[] = []
    const { node, dir } = await soleNode(1_000_000, warnings)
    for (let i = 0; i < 200; i++) await node.propose(Buffer.from(`item-${i}-${'x'.repeat(500)}`))
    const write = vi.spyOn(SnapshotWriter.prototype, 'write').mockRejectedValueOnce(noSpace())
    await expect(node.snapshot()).rejects.toMatchObject({ code: 'ENOSPC' })
    expect(write).toHaveBeenCalledTimes(1)
    expect(node.failed).toBeUndefined()
    expect(readdirSync(dir).filter((name) => name.includes('.snap'))).toEqual([])
    expect(node.status().firstIndex).toBe(1)
    expect(await node.propose(Buffer.from('after'))).toBe(201)
    const taken = await node.snapshot()
    expect(taken.index).toBe(node.status().lastApplied)
    expect(node.status().firstIndex).toBeGreaterThan(1)
  })

  it('an automatic snapshot the disk has no room for is not tried again after every applied slice: it waits, then goes in once there is room', async () => {
    const warnings: string[] = []
    const { node } = await soleNode(20, warnings)
    const write = vi.spyOn(SnapshotWriter.prototype, 'write').mockRejectedValue(noSpace())
    // Far past the threshold, many applied slices: one attempt, then the pause.
    for (let i = 0; i < 100; i++) await node.propose(Buffer.from(`item-${i}`))
    await waitFor('the first attempt', () => write.mock.calls.length >= 1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(write.mock.calls.length).toBe(1)
    expect(warnings.join('\n')).toMatch(/snapshot at index \d+ failed: the disk has no room for it \(.*ENOSPC.*\); the next one in 1 s at the earliest/)
    expect(node.failed).toBeUndefined()
    write.mockRestore()
    // Room again: after the pause, the next applied slice takes it.
    await new Promise((resolve) => setTimeout(resolve, 800))
    for (let i = 0; i < 5; i++) await node.propose(Buffer.from(`later-${i}`))
    await waitFor('a snapshot once there is room', () => node.status().snapshotIndex > 0, 10_000)
  })
})
