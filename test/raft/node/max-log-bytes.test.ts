// maxLogBytes (max_log_bytes): a leader refuses a proposal that would take its log past the
// ceiling (ERR_LOG_FULL, never appended), says so once, takes a snapshot at once, and takes
// writes again once compaction made room. A state machine without snapshots stays refused.
import { afterEach, describe, expect, it } from 'vitest'
import { RaftNode, type LogEntry, type RaftNodeOptions } from '../../../src/index.js'
import { MemoryNetwork } from '../../../src/testing/index.js'
import { ListMachine } from '../../helpers/memory-cluster.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'
import { waitFor } from '../../helpers/raft-nodes.js'

const segmentSize = 64 * 1024
const maxLogBytes = 2 * segmentSize
const nodes: RaftNode[] = []
afterEach(async () => {
  for (const node of nodes.splice(0)) await node.stop()
})

async function soleLeader(extra: Partial<RaftNodeOptions>): Promise<RaftNode> {
  const node = await RaftNode.start({
    id: 1,
    peers: [1],
    dir: tempDir('raftlog-max-log-'),
    stateMachine: new ListMachine(),
    transport: new MemoryNetwork({ seed: 1 }).endpoint(1),
    electionTimeout: [60, 120],
    heartbeatInterval: 20,
    segmentSize,
    maxLogBytes,
    snapshotThreshold: 1_000_000,
    snapshotTrailingEntries: 0,
    logger: silentLogger,
    ...extra,
  })
  nodes.push(node)
  await waitFor('a leader', () => node.status().role === 'leader')
  return node
}

/** Proposes 1 KiB items until one is refused; returns the refusal and how many went in. */
async function untilRefused(node: RaftNode): Promise<{ error: { code: string; message: string }; accepted: number }> {
  for (let i = 0; i < 1000; i++) {
    try {
      await node.propose(Buffer.from(`item-${i}-${'x'.repeat(1000)}`))
    } catch (error) {
      return { error: error as { code: string; message: string }, accepted: i }
    }
  }
  throw new Error('never refused')
}

describe('maxLogBytes', () => {
  it('the leader refuses with ERR_LOG_FULL at the ceiling (nothing appended), snapshots at once, and takes writes again once compacted', async () => {
    const node = await soleLeader({})
    const full: unknown[] = []
    node.on('logFull', (event) => full.push(event))
    const { error, accepted } = await untilRefused(node)
    expect(error.code).toBe('ERR_LOG_FULL')
    expect(error.message).toMatch(/^Node 1's log holds \d+ bytes and would pass its ceiling, max_log_bytes 131072, with this entry; it takes a snapshot now/)
    // About 128 KiB of 1 KiB entries (each 32 bytes of frame header more).
    expect(accepted).toBeGreaterThan(100)
    const status = node.status()
    expect(status.logBytes).toBeLessThanOrEqual(maxLogBytes)
    expect(status.maxLogBytes).toBe(maxLogBytes)
    await waitFor('a snapshot and a compacted log', () => node.status().snapshotIndex > 0 && node.status().logBytes < maxLogBytes / 2, 10_000)
    expect(await node.propose(Buffer.from('after'))).toBe(accepted + 1)
    await new Promise((resolve) => setImmediate(resolve))
    expect(full).toEqual([{ logBytes: expect.any(Number), maxLogBytes }])
  })

  it('a state machine without snapshots stays refused, and the message says why', async () => {
    const node = await soleLeader({ stateMachine: { apply: (entry: LogEntry) => entry.index } })
    const { error } = await untilRefused(node)
    expect(error.code).toBe('ERR_LOG_FULL')
    expect(error.message).toMatch(/its state machine takes no snapshots .* so its log is never compacted: raise max_log_bytes/)
    await new Promise((resolve) => setTimeout(resolve, 200))
    await expect(node.propose(new Uint8Array(1000))).rejects.toMatchObject({ code: 'ERR_LOG_FULL' })
    // Small entries that still fit go in: the ceiling is on bytes.
    expect(typeof (await node.propose(new Uint8Array(0)))).toBe('number')
  })

  it('is refused below two segments: the log keeps its open segment and compaction frees whole segments only', async () => {
    await expect(soleLeader({ maxLogBytes: segmentSize })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/maxLogBytes must be 0 \(no ceiling\) or a whole number of bytes from twice the segment size \(131072\)/) })
  })
})
