// SnapshotChunks sent to a running 3-node cluster over gRPC by someone other than a leader
// sending a real snapshot: what they may write to a follower's disk. (Before these checks, a
// stream of chunks that never ended wrote 200 MiB in 2.2 s, the partial file stayed until the
// node restarted, and any member could send one.) Plaintext, where a stream speaks for the node
// its first message names: any member's id, the leader's included, can be claimed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { NodeServer } from '../../../src/net/server/node-server.js'
import { snapshotFileName } from '../../../src/storage/snapshot-format.js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { pause, sendRaw, settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

const MiB = 1024 * 1024
/** cluster_settings.snapshot_stall_timeout_ms of the test cluster. */
const stallTimeoutMs = 1000

/** Batches of one SnapshotChunk each, from `from` to `to` in `to`'s term, `count` chunks of 1 MiB from `firstOffset`. */
function chunks(from: number, to: NodeServer, options: { index: number; totalBytes: (position: number) => number; count: number; firstOffset?: number }): Record<string, unknown>[] {
  const { term, foundingId: clusterId } = to.node.status()
  return Array.from({ length: options.count }, (_, position) => ({
    clusterId,
    messages: [
      {
        snapshotChunk: {
          from,
          to: to.node.id,
          term,
          lastIncludedIndex: options.index,
          lastIncludedTerm: term,
          offset: (options.firstOffset ?? 0) + position * MiB,
          totalBytes: options.totalBytes(position),
          data: Buffer.alloc(MiB, position),
        },
      },
    ],
  }))
}

/** Bytes of the partial file of snapshot `index` in `server`'s directory (undefined: none). */
function partialBytes(cluster: Servers, server: NodeServer, index: number): number | undefined {
  const path = join(cluster.config.logDirectory, `node_${server.node.id}`, `${snapshotFileName(index)}.partial`)
  return existsSync(path) ? statSync(path).size : undefined
}

function leftovers(cluster: Servers, server: NodeServer): string[] {
  return readdirSync(join(cluster.config.logDirectory, `node_${server.node.id}`)).filter((name) => name.endsWith('.partial'))
}

describe('snapshot chunks a node did not ask for (in-process nodes, real gRPC)', () => {
  let cluster: Servers | undefined
  beforeAll(async () => {
    cluster = await startServers(false, { snapshot_stall_timeout_ms: stallTimeoutMs })
  })
  afterAll(() => stopServers(cluster))

  it('are not written when they come from a member that is not the leader', async () => {
    const { leader, follower } = await settled(cluster!)
    const other = cluster!.servers.find((server) => server !== leader && server !== follower)!
    await sendRaw(follower.config.address, chunks(other.node.id, follower, { index: 1000, totalBytes: () => 8 * MiB, count: 4 }))
    await pause(300)
    expect(leftovers(cluster!, follower)).toEqual([])
  })

  it('are refused whole when the size they declare does not fit the free disk space', async () => {
    const { leader, follower } = await settled(cluster!)
    await sendRaw(follower.config.address, chunks(leader.node.id, follower, { index: 1001, totalBytes: () => 2 ** 50, count: 4 }))
    await pause(300)
    expect(leftovers(cluster!, follower)).toEqual([])
    expect(cluster!.warnings.get(follower.node.id)!.join('\n')).toMatch(/refused snapshot 1001 of 1125899906842624 bytes does not fit: \d+ bytes still to come, \d+ free in /)
  })

  it('never make a partial file larger than the size the first chunk declared', async () => {
    const { leader, follower } = await settled(cluster!)
    // 2 MiB declared, then chunk after chunk each declaring 1 MiB more than what is sent so far:
    // a stream that never ends.
    await sendRaw(follower.config.address, chunks(leader.node.id, follower, { index: 1002, totalBytes: (position) => (position + 2) * MiB, count: 8 }))
    await pause(300)
    expect(partialBytes(cluster!, follower, 1002) ?? 0).toBeLessThanOrEqual(2 * MiB)
  })

  it('leave no partial file once the transfer stalls for snapshot_stall_timeout_ms', async () => {
    const { leader, follower } = await settled(cluster!)
    await sendRaw(follower.config.address, chunks(leader.node.id, follower, { index: 1003, totalBytes: () => 8 * MiB, count: 2 }))
    await pause(200)
    expect(partialBytes(cluster!, follower, 1003)).toBe(2 * MiB)
    const since = Date.now()
    while (partialBytes(cluster!, follower, 1003) !== undefined && Date.now() - since < 10 * stallTimeoutMs) await pause(50)
    expect(partialBytes(cluster!, follower, 1003)).toBeUndefined()
    console.log(`a stalled snapshot's partial file was deleted ${Date.now() - since} ms after its last chunk (snapshot_stall_timeout_ms ${stallTimeoutMs})`)
    expect(cluster!.warnings.get(follower.node.id)!.join('\n')).toMatch(/snapshot 1003 from node \d+ got no chunk for 1000 ms \(2097152 of 8388608 bytes\); its partial file is deleted/)
  })

  it('leave the cluster committing under the same leader', async () => {
    const { leader } = await settled(cluster!)
    const term = leader.node.status().term
    const client = ClusterClient.forCluster(cluster!.config)
    try {
      expect(decodeKvResult(await client.propose(encodeKvCommand({ op: 'put', key: 'k', value: 'v' }), 5000))).toEqual({ ok: true })
    } finally {
      client.close()
    }
    expect(leader.node.status()).toMatchObject({ role: 'leader', term })
  })
})
