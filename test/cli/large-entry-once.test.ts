// A large entry crosses each link once (issue 20, "Elections under load"): three real `raftlog
// node` processes, one 8 MiB put, and the bytes of log entries each node sent to each peer, read
// from their metrics. A copy in flight is never followed by another while the follower writes it.
import { afterEach, describe, expect, it } from 'vitest'
import { startNode, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { sampleValue, scrape, type Sample } from '../helpers/prometheus.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { encodeKvCommand } from '../../src/kv/kv-state-machine.js'

const mib = 1024 * 1024
const valueBytes = 8 * mib
/** The put's key, its client session's envelope and the key-value command around the value. */
const envelopeAllowanceBytes = 4096
/** A term that moves during a put makes its own copies (a new leader, the client's retry): such a try is set aside. */
const maxTries = 3

const nodes: NodeProcess[] = []
afterEach(() => {
  for (const node of nodes.splice(0)) node.child.kill('SIGKILL')
})

interface Snapshot {
  /** Entry payload bytes sent to each node, by every node together. */
  bytesTo: Map<number, number>
  terms: number[]
  applied: number[]
  committed: number[]
  leader: number | undefined
}

async function snapshot(metricsPorts: number[]): Promise<Snapshot> {
  const pages: Sample[][] = await Promise.all(metricsPorts.map((port) => scrape(port)))
  const ids = metricsPorts.map((_, i) => i + 1)
  const bytesTo = new Map(ids.map((to) => [to, pages.reduce((sum, page) => sum + (sampleValue(page, 'raftlog_transport_entry_bytes_sent_total', { peer: String(to) }) ?? 0), 0)]))
  const read = (name: string): number[] => pages.map((page) => sampleValue(page, name) ?? 0)
  const leader = ids.find((_, i) => sampleValue(pages[i] as Sample[], 'raftlog_role', { role: 'leader' }) === 1)
  return { bytesTo, terms: read('raftlog_term'), applied: read('raftlog_applied_index'), committed: read('raftlog_commit_index'), leader }
}

describe('a large entry goes once to each follower', () => {
  it('8 MiB put on a 3-node cluster: each follower is sent its bytes once (entry bytes per peer in the metrics)', async () => {
    const dir = tempDir('raftlog-once-')
    // The default timing (etcd's): what a user runs. max_request_bytes lets an 8 MiB value in.
    const { path: config, ports, metricsPorts } = await writeConfig(dir, 3, { max_request_bytes: 16 * mib, election_timeout_range: '{ min: 1000, max: 2000 }', heartbeat_interval: 100 }, { metrics: true })
    for (const id of [1, 2, 3]) nodes.push(startNode(config, id))
    await waitFor('a leader in the metrics', async () => (await snapshot(metricsPorts).catch(() => undefined))?.leader, 30_000)
    const client = new ClusterClient(ports.map((port) => `127.0.0.1:${port}`))
    try {
      // Opens the client session: the put below is then one entry.
      await client.propose(encodeKvCommand({ op: 'put', key: 'warm-up', value: 'x' }), 20_000)
      const settled: { leader: number; sent: Record<number, number> }[] = []
      const setAside: string[] = []
      for (let attempt = 0; attempt < maxTries && settled.length === 0; attempt++) {
        const before = await snapshot(metricsPorts)
        await client.propose(encodeKvCommand({ op: 'put', key: `large-${attempt}`, value: new Uint8Array(valueBytes).fill(attempt + 1) }), 30_000)
        // Every node applied it: every follower holds the entry, and what went to it is counted.
        const after = await waitFor('every node to apply the put', async () => {
          const now = await snapshot(metricsPorts)
          return now.applied.every((applied) => applied >= Math.max(...now.committed)) ? now : undefined
        })
        if (after.leader === undefined || before.terms.join() !== after.terms.join()) {
          setAside.push(`try ${attempt + 1}: terms ${before.terms.join('/')} -> ${after.terms.join('/')}`)
          continue
        }
        const followers = [1, 2, 3].filter((id) => id !== after.leader)
        settled.push({ leader: after.leader, sent: Object.fromEntries(followers.map((id) => [id, (after.bytesTo.get(id) ?? 0) - (before.bytesTo.get(id) ?? 0)])) })
      }
      expect(settled, `every try saw an election: ${setAside.join('; ')}`).toHaveLength(1)
      const { leader, sent } = settled[0]!
      expect(Object.keys(sent)).toHaveLength(2)
      for (const [follower, bytes] of Object.entries(sent)) {
        expect(bytes, `entry bytes node ${leader} sent to node ${follower} for one ${valueBytes}-byte put`).toBeGreaterThanOrEqual(valueBytes)
        expect(bytes, `entry bytes node ${leader} sent to node ${follower} for one ${valueBytes}-byte put`).toBeLessThan(valueBytes + envelopeAllowanceBytes)
      }
    } finally {
      client.close()
    }
  })
})
