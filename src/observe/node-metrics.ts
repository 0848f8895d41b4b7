// A node's metrics in the Prometheus text format (prom-client). Gauges and counters are read from
// the node when Prometheus scrapes (status(), stats(), the transport's counts): nothing runs
// between scrapes. Only latencies are recorded as they happen, from the node's events.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { RaftNode } from '../raft/node/raft-node.js'
import type { PeerCounts, TransportCounts } from '../net/transport/grpc-transport.js'
import { directoryBytes } from '../net/server/directory-bytes.js'

/** What the metrics are read from. */
export interface MetricsSource {
  node: RaftNode
  /** The gRPC transport's counters (absent for a transport without them). */
  transport?: { counts: TransportCounts; peerCounts: Map<number, PeerCounts> }
  /** The node's directory, for its size on disk. */
  dir: string
}

const roles = ['follower', 'candidate', 'leader'] as const
/** A flush is one pwrite and one fdatasync per dirty segment: well under a millisecond on a fast disk, seconds on a sick one. */
const fsyncBucketsSeconds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]
const snapshotBucketsSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/**
 * One node's Prometheus metrics (prom-client), read from its RaftNode, transport and directory when
 * scraped.
 */
export class NodeMetrics {
  readonly registry = new Registry()
  private source: MetricsSource | undefined
  /** The commit index when the node started: what it recovered is not counted as committed now. */
  private commitIndexAtStart = 0
  private readonly fsync: Histogram
  private readonly snapshotTaken: Histogram
  private readonly snapshotInstalled: Histogram
  private readonly onFlush = ({ durationMs }: { durationMs: number }): void => this.fsync.observe(durationMs / 1000)
  private readonly onSnapshot = ({ from }: { from: number }): void => {
    const stats = this.source?.node.stats()
    const ms = from === 0 ? stats?.lastSnapshotMs : stats?.lastInstallMs
    if (ms !== undefined) (from === 0 ? this.snapshotTaken : this.snapshotInstalled).observe(ms / 1000)
  }

  constructor(nodeId: number) {
    // Every series carries the node's id: a dashboard over the whole cluster tells them apart
    // without relabelling.
    this.registry.setDefaultLabels({ node_id: String(nodeId) })
    collectDefaultMetrics({ register: this.registry })
    const registers = [this.registry]
    this.fsync = new Histogram({ name: 'raftlog_fsync_duration_seconds', help: 'Time to make the log durable (pwrite and fdatasync of its dirty segments), per flush', buckets: fsyncBucketsSeconds, registers })
    this.snapshotTaken = new Histogram({ name: 'raftlog_snapshot_duration_seconds', help: 'Time to take a snapshot here, file durable and log compacted', buckets: snapshotBucketsSeconds, registers })
    this.snapshotInstalled = new Histogram({ name: 'raftlog_snapshot_install_duration_seconds', help: "Time to install a leader's snapshot, from its first chunk to the state restored", buckets: snapshotBucketsSeconds, registers })
    this.stateGauges()
    this.activityCounters()
    this.transportCounters()
  }

  /** Starts reading from `source`; the latencies from its events on. */
  attach(source: MetricsSource): void {
    this.detach()
    this.source = source
    this.commitIndexAtStart = source.node.status().commitIndex
    source.node.on('flush', this.onFlush)
    source.node.on('snapshot', this.onSnapshot)
  }

  detach(): void {
    this.source?.node.off('flush', this.onFlush)
    this.source?.node.off('snapshot', this.onSnapshot)
    this.source = undefined
  }

  /** The metrics page, as Prometheus scrapes it. */
  metrics(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  private stateGauges(): void {
    const registers = [this.registry]
    const metrics = this
    const status = (): ReturnType<RaftNode['status']> | undefined => metrics.source?.node.status()
    new Gauge({
      name: 'raftlog_role',
      help: "1 for this node's role (follower, candidate or leader), 0 for the others",
      labelNames: ['role'],
      registers,
      collect() {
        const role = status()?.role
        if (role === undefined) return this.reset()
        for (const each of roles) this.set({ role: each }, each === role ? 1 : 0)
      },
    })
    const gauge = (name: string, help: string, read: (s: ReturnType<RaftNode['status']>) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const current = status()
          if (current === undefined) this.reset()
          else this.set(read(current))
        },
      })
    }
    gauge('raftlog_term', 'Current term', (s) => s.term)
    gauge('raftlog_leader_id', 'The leader this node knows (0: none known)', (s) => s.leaderId)
    gauge('raftlog_commit_index', 'Highest log index known to be committed', (s) => s.commitIndex)
    gauge('raftlog_applied_index', 'Highest log index applied to the state machine', (s) => s.lastApplied)
    gauge('raftlog_first_index', 'First index in the log (entries before it live in a snapshot)', (s) => s.firstIndex)
    gauge('raftlog_last_index', 'Last index in the log', (s) => s.lastIndex)
    gauge('raftlog_snapshot_index', 'Last index of the newest snapshot (0: none)', (s) => s.snapshotIndex)
    gauge('raftlog_disk_full', '1 while the log cannot grow (its disk is full: ENOSPC or EDQUOT) and the node appends nothing, refuses proposals and looks for room; 0 otherwise', (s) => (s.diskFull ? 1 : 0))
    gauge('raftlog_log_bytes', 'Bytes of the entries the log holds (what max_log_bytes bounds)', (s) => s.logBytes)
    gauge('raftlog_max_log_bytes', 'max_log_bytes: a leader refuses writes past it (ERR_LOG_FULL); 0: no ceiling', (s) => s.maxLogBytes)
    new Gauge({
      name: 'raftlog_follower_match_lag_entries',
      help: "On the leader: entries of its log each follower is not known to hold (last index - the follower's match index)",
      labelNames: ['follower'],
      registers,
      collect() {
        // A node that stops leading has no followers to show: no stale series stay behind.
        this.reset()
        const node = metrics.source?.node
        if (node === undefined) return
        const lastIndex = node.status().lastIndex
        for (const follower of node.stats().followers) this.set({ follower: String(follower.id) }, Math.max(0, lastIndex - follower.match))
      },
    })
    new Gauge({
      name: 'raftlog_disk_bytes',
      help: "Bytes of the node's directory: log segments (preallocated), snapshots, state file",
      registers,
      async collect() {
        const dir = metrics.source?.dir
        if (dir === undefined) this.reset()
        else this.set(await directoryBytes(dir))
      },
    })
  }

  private activityCounters(): void {
    const stats = (): ReturnType<RaftNode['stats']> | undefined => this.source?.node.stats()
    this.counter('raftlog_proposals_total', 'Proposals this node accepted as leader', () => stats()?.proposals)
    this.counter('raftlog_entries_committed_total', 'Entries this node saw committed since it started (its commit index moving on)', () => {
      const commitIndex = this.source?.node.status().commitIndex
      return commitIndex === undefined ? undefined : commitIndex - this.commitIndexAtStart
    })
    this.counter('raftlog_reads_total', 'Linearizable reads served', () => stats()?.reads)
    this.counter('raftlog_elections_total', 'Votes this node asked for: each pre-vote and each election it started counts one', () => stats()?.elections)
    this.counter('raftlog_log_entries_appended_total', 'Entries appended to the log', () => stats()?.log.entriesAppended)
    this.counter('raftlog_log_bytes_appended_total', 'Payload bytes appended to the log', () => stats()?.log.bytesAppended)
    this.counter('raftlog_log_segment_rotations_total', 'Segments the log moved on to (a new segment opened when one filled)', () => stats()?.log.segmentsRotated)
    this.counter('raftlog_log_flushes_total', 'Flushes of the log', () => stats()?.log.flushes)
    this.counter('raftlog_snapshots_taken_total', 'Snapshots taken here', () => stats()?.snapshotsTaken)
    this.counter('raftlog_snapshots_installed_total', 'Snapshots installed from the leader', () => stats()?.snapshotsInstalled)
  }

  private transportCounters(): void {
    const transport = (): MetricsSource['transport'] => this.source?.transport
    const byPeer = (name: string, help: string, read: (counts: PeerCounts) => number): void => {
      const seen = new Map<string, number>()
      new Counter({
        name,
        help,
        labelNames: ['peer'],
        registers: [this.registry],
        collect() {
          for (const [peer, counts] of transport()?.peerCounts ?? []) {
            const label = String(peer)
            const value = read(counts)
            this.inc({ peer: label }, Math.max(0, value - (seen.get(label) ?? 0)))
            seen.set(label, value)
          }
        },
      })
    }
    byPeer('raftlog_transport_messages_sent_total', 'Raft messages handed to the stream to a peer', (counts) => counts.sent)
    byPeer('raftlog_transport_messages_dropped_total', 'Raft messages to a peer dropped: a full queue, a broken stream (Raft sends again)', (counts) => counts.dropped)
    byPeer('raftlog_transport_entries_sent_total', 'Log entries sent to a peer in AppendEntries (an entry sent again counts again)', (counts) => counts.entriesSent)
    byPeer('raftlog_transport_entry_bytes_sent_total', 'Payload bytes of the log entries sent to a peer (an entry sent again counts again)', (counts) => counts.entryBytesSent)
    byPeer('raftlog_transport_stream_errors_total', 'Streams to a peer that ended with an error (the peer down, a connection lost)', (counts) => counts.streamErrors)
    this.counter('raftlog_transport_messages_received_total', 'Raft messages received from peers', () => transport()?.counts.received)
    const rejected = new Map<string, number>()
    new Counter({
      name: 'raftlog_messages_rejected_total',
      help: 'Raft messages received and dropped before reaching the core, by reason (message-check.ts: unauthenticated, sender-mismatch, not-member, out-of-range, ...)',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        for (const [reason, value] of Object.entries(transport()?.counts.rejected ?? {})) {
          this.inc({ reason }, Math.max(0, value - (rejected.get(reason) ?? 0)))
          rejected.set(reason, value)
        }
      },
    })
  }

  /** A counter that follows a number the node counts itself (only ever growing while it runs). */
  private counter(name: string, help: string, read: () => number | undefined): void {
    let seen = 0
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        const value = read()
        if (value === undefined) return
        this.inc(Math.max(0, value - seen))
        seen = Math.max(seen, value)
      },
    })
  }
}
