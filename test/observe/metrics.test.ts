// Metrics as Prometheus sees them: three real `raftlog node` processes with a metrics_port each,
// scraped over HTTP and parsed, while the cluster takes writes and reads and loses its leader.
import { describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { runCli } from '../helpers/cli.js'
import { exited, startNode, waitFor, writeConfig, type NodeProcess } from '../helpers/processes.js'
import { get, sampleValue, scrape, type Sample } from '../helpers/prometheus.js'
import { tempDir } from '../helpers/temp-dir.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'

/** The node whose metrics say it leads, with its samples; undefined when none does. */
async function leaderByMetrics(metricsPorts: Map<number, number>): Promise<{ id: number; samples: Sample[] } | undefined> {
  for (const [id, port] of metricsPorts) {
    const samples = await scrape(port).catch(() => undefined)
    if (samples !== undefined && sampleValue(samples, 'raftlog_role', { role: 'leader' }) === 1) return { id, samples }
  }
  return undefined
}

describe('metrics, /healthz and /readyz on each node', () => {
  it('are served on metrics_port, move with writes and reads, and show the new leader after a kill', async () => {
    const dir = tempDir('raftlog-metrics-')
    const { path: config, ports: grpcPorts, metricsPorts: ports } = await writeConfig(dir, 3, {}, { metrics: true })
    const metricsPorts = new Map(ports.map((port, i) => [i + 1, port]))
    const nodes = new Map<number, NodeProcess>()

    // One node of three: up, but no leader can be elected, so not ready.
    nodes.set(1, startNode(config, 1))
    const url = (id: number, path: string): string => `http://127.0.0.1:${metricsPorts.get(id)}${path}`
    await waitFor('node 1 to serve HTTP', async () => ((await get(url(1, '/healthz'))).status === 200 ? true : undefined)).catch((error: Error) => {
      throw new Error(`${error.message}; node 1 said:\n${nodes.get(1)!.output.join('\n')}`)
    })
    expect(await get(url(1, '/healthz'))).toEqual({ status: 200, body: 'ok\n' })
    const alone = await get(url(1, '/readyz'))
    expect(alone.status).toBe(503)
    expect(alone.body).toMatch(/^not ready: no known leader/)
    expect((await get(url(1, '/nothing'))).status).toBe(404)

    nodes.set(2, startNode(config, 2))
    nodes.set(3, startNode(config, 3))
    const leader = await waitFor('a leader in the metrics', () => leaderByMetrics(metricsPorts))
    for (const id of [1, 2, 3]) await waitFor(`node ${id} ready`, async () => ((await get(url(id, '/readyz'))).status === 200 ? true : undefined))
    expect((await get(url(leader.id, '/readyz'))).body).toBe(`ok: leader is node ${leader.id}\n`)

    const before = await scrape(metricsPorts.get(leader.id)!)
    expect(sampleValue(before, 'raftlog_leader_id', { node_id: String(leader.id) })).toBe(leader.id)
    expect(sampleValue(before, 'raftlog_term')).toBeGreaterThan(0)
    const client = new ClusterClient(grpcPorts.map((port) => `127.0.0.1:${port}`))
    for (let i = 0; i < 5; i++) await client.propose(encodeKvCommand({ op: 'put', key: `key-${i}`, value: 'value' }), 5000)
    for (let i = 0; i < 3; i++) expect(decodeKvResult(await client.read('key-0', 5000))).toEqual({ ok: true, value: Buffer.from('value') })
    client.close()
    const after = await scrape(metricsPorts.get(leader.id)!)
    const grew = (name: string, labels: Record<string, string> = {}): number => (sampleValue(after, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0)
    // Five puts (and a client session) went through the log.
    expect(grew('raftlog_commit_index')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_applied_index')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_last_index')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_proposals_total')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_entries_committed_total')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_log_entries_appended_total')).toBeGreaterThanOrEqual(5)
    expect(grew('raftlog_log_bytes_appended_total')).toBeGreaterThan(5 * 'key-0value'.length)
    expect(grew('raftlog_fsync_duration_seconds_count')).toBeGreaterThanOrEqual(1)
    expect(sampleValue(after, 'raftlog_fsync_duration_seconds_bucket', { le: '+Inf' })).toBe(sampleValue(after, 'raftlog_fsync_duration_seconds_count'))
    expect(sampleValue(after, 'raftlog_first_index')).toBe(1)
    expect(sampleValue(after, 'raftlog_disk_bytes')).toBeGreaterThan(1048576)
    expect(sampleValue(after, 'raftlog_elections_total')).toBeGreaterThanOrEqual(1)
    // The leader's view of each follower, and of the link to each.
    const followers = [1, 2, 3].filter((id) => id !== leader.id)
    for (const follower of followers) {
      expect(sampleValue(after, 'raftlog_follower_match_lag_entries', { follower: String(follower) })).toBeGreaterThanOrEqual(0)
      expect(grew('raftlog_transport_messages_sent_total', { peer: String(follower) })).toBeGreaterThan(0)
    }
    // Reads are served by any node: the three were counted somewhere.
    let reads = 0
    for (const port of metricsPorts.values()) reads += sampleValue(await scrape(port), 'raftlog_reads_total') ?? 0
    expect(reads).toBeGreaterThanOrEqual(3)

    nodes.get(leader.id)!.child.kill('SIGKILL')
    await exited(nodes.get(leader.id)!.child)
    metricsPorts.delete(leader.id)
    const next = await waitFor('a new leader in the metrics', () => leaderByMetrics(metricsPorts))
    expect(next.id).not.toBe(leader.id)
    for (const id of metricsPorts.keys()) {
      await waitFor(`node ${id} to follow node ${next.id}`, async () => (sampleValue(await scrape(metricsPorts.get(id)!), 'raftlog_leader_id') === next.id ? true : undefined))
    }
    expect(sampleValue(next.samples, 'raftlog_term')).toBeGreaterThan(sampleValue(before, 'raftlog_term')!)
    // The dead node's link fails, by peer.
    await waitFor('stream errors to the dead node', async () => ((sampleValue(await scrape(metricsPorts.get(next.id)!), 'raftlog_transport_stream_errors_total', { peer: String(leader.id) }) ?? 0) > 0 ? true : undefined))

    for (const node of nodes.values()) node.child.kill('SIGTERM')
    await Promise.all([...nodes.values()].map((node) => exited(node.child)))
  }, 90_000)

  it('refuses to start on a taken metrics port, before it locks its log', async () => {
    const dir = tempDir('raftlog-metrics-')
    const { path: config, metricsPorts } = await writeConfig(dir, 1, {}, { metrics: true })
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(metricsPorts[0], '127.0.0.1', resolve))
    try {
      const taken = await runCli(['node', '-n', '1', '-c', config])
      expect([taken.status, taken.stderr.trim()]).toEqual([1, `Error: Failed to bind metrics to 127.0.0.1:${metricsPorts[0]} - address already in use`])
      expect(existsSync(join(dir, 'logs', 'node_1'))).toBe(false)
    } finally {
      blocker.close()
    }
  })
})
