// NodeMetrics against a stand-in node: what a scrape shows when the node's role, followers and
// snapshots change, without a cluster (the live cluster test covers the rest).
import { emptyRejectionCounts } from '../../src/net/transport/rejections.js'
import { describe, expect, it } from 'vitest'
import { EventEmitter } from 'node:events'
import { NodeMetrics } from '../../src/observe/node-metrics.js'
import type { RaftNode, RaftNodeStats, RaftStatus } from '../../src/raft/node/raft-node.js'
import { parseMetrics, sampleValue } from '../helpers/prometheus.js'
import { tempDir } from '../helpers/temp-dir.js'

class FakeNode extends EventEmitter {
  current: RaftStatus = { id: 1, role: 'follower', term: 3, leaderId: 2, commitIndex: 10, lastApplied: 10, firstIndex: 1, lastIndex: 12, snapshotIndex: 0, snapshotTerm: 0, diskFull: false, diskFullReason: '', logBytes: 0, maxLogBytes: 0, configuration: { voters: [1, 2, 3], outgoing: [], learners: [], addresses: {} }, configurationIndex: 1, clusterId: '', foundingId: '' }
  counters: RaftNodeStats = {
    proposals: 0,
    reads: 0,
    elections: 0,
    snapshotsTaken: 0,
    snapshotsInstalled: 0,
    lastSnapshotMs: undefined,
    lastInstallMs: undefined,
    log: { entriesAppended: 0, bytesAppended: 0, segmentsRotated: 0, flushes: 0, segmentsRecycled: 0 },
    followers: [],
  }
  status(): RaftStatus {
    return this.current
  }
  stats(): RaftNodeStats {
    return this.counters
  }
}

async function scrape(metrics: NodeMetrics): Promise<ReturnType<typeof parseMetrics>> {
  return parseMetrics(await metrics.metrics())
}

describe('NodeMetrics', () => {
  it('follows the role, and shows follower lag only while the node leads', async () => {
    const node = new FakeNode()
    const metrics = new NodeMetrics(1)
    metrics.attach({ node: node as unknown as RaftNode, dir: tempDir('raftlog-metrics-') })
    let samples = await scrape(metrics)
    expect([sampleValue(samples, 'raftlog_role', { role: 'follower' }), sampleValue(samples, 'raftlog_role', { role: 'leader' })]).toEqual([1, 0])
    expect(sampleValue(samples, 'raftlog_leader_id', { node_id: '1' })).toBe(2)

    node.current = { ...node.current, role: 'leader', term: 4, leaderId: 1, lastIndex: 20 }
    node.counters.followers = [{ id: 2, match: 20, next: 21, state: 'replicate', inflight: 0 }, { id: 3, match: 15, next: 16, state: 'replicate', inflight: 1 }]
    samples = await scrape(metrics)
    expect([sampleValue(samples, 'raftlog_role', { role: 'follower' }), sampleValue(samples, 'raftlog_role', { role: 'leader' })]).toEqual([0, 1])
    expect(sampleValue(samples, 'raftlog_follower_match_lag_entries', { follower: '2' })).toBe(0)
    expect(sampleValue(samples, 'raftlog_follower_match_lag_entries', { follower: '3' })).toBe(5)

    node.current = { ...node.current, role: 'follower', term: 5, leaderId: 3 }
    node.counters.followers = []
    samples = await scrape(metrics)
    expect(samples.filter((s) => s.name === 'raftlog_follower_match_lag_entries')).toEqual([])
  })

  it('records snapshot and install durations and fsync latencies as they happen', async () => {
    const node = new FakeNode()
    const metrics = new NodeMetrics(1)
    metrics.attach({ node: node as unknown as RaftNode, dir: tempDir('raftlog-metrics-') })
    node.counters.lastSnapshotMs = 250
    node.emit('snapshot', { index: 100, term: 3, from: 0 })
    node.counters.lastInstallMs = 1500
    node.emit('snapshot', { index: 200, term: 4, from: 2 })
    node.emit('flush', { durationMs: 2 })
    node.emit('flush', { durationMs: 40 })
    const samples = await scrape(metrics)
    expect([sampleValue(samples, 'raftlog_snapshot_duration_seconds_count'), sampleValue(samples, 'raftlog_snapshot_duration_seconds_sum')]).toEqual([1, 0.25])
    expect([sampleValue(samples, 'raftlog_snapshot_install_duration_seconds_count'), sampleValue(samples, 'raftlog_snapshot_install_duration_seconds_sum')]).toEqual([1, 1.5])
    expect(sampleValue(samples, 'raftlog_fsync_duration_seconds_count')).toBe(2)
    expect(sampleValue(samples, 'raftlog_fsync_duration_seconds_bucket', { le: '0.0025' })).toBe(1)
    expect(sampleValue(samples, 'raftlog_fsync_duration_seconds_bucket', { le: '0.05' })).toBe(2)

    // Detached (the node stopped): its events no longer count.
    metrics.detach()
    node.emit('flush', { durationMs: 1 })
    expect(sampleValue(await scrape(metrics), 'raftlog_fsync_duration_seconds_count')).toBe(2)
  })

  it('turns the counts the node keeps into counters, committed entries from its start', async () => {
    const node = new FakeNode()
    const metrics = new NodeMetrics(1)
    metrics.attach({ node: node as unknown as RaftNode, dir: tempDir('raftlog-metrics-') })
    // The node started at commit index 10: entries committed are counted from there.
    node.current = { ...node.current, commitIndex: 16 }
    node.counters = { ...node.counters, proposals: 7, reads: 3, elections: 2, log: { entriesAppended: 9, bytesAppended: 900, segmentsRotated: 1, flushes: 4, segmentsRecycled: 0 } }
    const samples = await scrape(metrics)
    expect(sampleValue(samples, 'raftlog_entries_committed_total')).toBe(6)
    expect(sampleValue(samples, 'raftlog_proposals_total')).toBe(7)
    expect(sampleValue(samples, 'raftlog_reads_total')).toBe(3)
    expect(sampleValue(samples, 'raftlog_elections_total')).toBe(2)
    expect(sampleValue(samples, 'raftlog_log_bytes_appended_total')).toBe(900)
    expect(sampleValue(samples, 'raftlog_log_segment_rotations_total')).toBe(1)
    node.current = { ...node.current, commitIndex: 21 }
    expect(sampleValue(await scrape(metrics), 'raftlog_entries_committed_total')).toBe(11)
  })
  it('counts Raft messages rejected at the gate by reason', async () => {
    const node = new FakeNode()
    const metrics = new NodeMetrics(1)
    const counts = { sent: 0, batches: 0, dropped: 0, received: 0, misaddressed: 0, streamsOpened: 0, rejected: emptyRejectionCounts() }
    metrics.attach({ node: node as unknown as RaftNode, dir: tempDir('raftlog-metrics-'), transport: { counts, peerCounts: new Map() } })
    counts.rejected['sender-mismatch'] = 2
    counts.rejected.unauthenticated = 1
    let samples = await scrape(metrics)
    expect(sampleValue(samples, 'raftlog_messages_rejected_total', { reason: 'sender-mismatch' })).toBe(2)
    expect(sampleValue(samples, 'raftlog_messages_rejected_total', { reason: 'unauthenticated' })).toBe(1)
    expect(sampleValue(samples, 'raftlog_messages_rejected_total', { reason: 'out-of-range' })).toBe(0)
    counts.rejected['sender-mismatch'] = 5
    samples = await scrape(metrics)
    expect(sampleValue(samples, 'raftlog_messages_rejected_total', { reason: 'sender-mismatch' })).toBe(5)
  })
})
