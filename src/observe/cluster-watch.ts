// What the status page shows, kept up to date: every node's status (the Status RPC of each, as
// `raftlog status` asks it), write and read rates over the last minutes, and the recent elections
// and leader changes. The rates come from successive polls: committed entries from the highest
// commit index, reads from each node's read counter.
import type { NodeStatus } from '../net/client/cluster-client.js'
import { Poller } from './poller.js'

export interface WatchedNode extends NodeStatus {
  /** Entries the node has still to apply of what the leader committed; undefined with no leader. */
  lag?: number
}

export interface RatePoint {
  /** ms since the epoch */
  time: number
  /** Entries committed per second since the previous poll (client writes, and the leader's no-ops and sessions). */
  writesPerSecond: number
  /** Linearizable reads served per second, over every reachable node. */
  readsPerSecond: number
}

export interface ClusterEvent {
  time: number
  kind: 'election' | 'leader' | 'no-leader' | 'unreachable' | 'reachable'
  message: string
}

export interface ClusterView {
  updatedAt: number
  leader: { id: number; term: number } | null
  nodes: WatchedNode[]
  rates: RatePoint[]
  events: ClusterEvent[]
}

export interface StatusSource {
  statuses(timeoutMs: number): Promise<NodeStatus[]>
}

/** How often the nodes are asked. */
export const watchIntervalMs = 1000
/** How far back the chart goes. */
export const rateHistoryMs = 10 * 60 * 1000
/** Events kept for the page, newest first. */
export const maxEvents = 50

/**
 * Polls every node's status and keeps what the status page shows: roles, terms, indexes and a short
 * history of each.
 */
export class ClusterWatch {
  private nodes: WatchedNode[] = []
  private leader: { id: number; term: number } | null = null
  private readonly rates: RatePoint[] = []
  private readonly events: ClusterEvent[] = []
  private previous: { time: number; commitIndex: number; reads: Map<string, number> } | undefined
  private readonly reachable = new Map<string, boolean>()
  /** Nodes that answered at least once. */
  private readonly answered = new Set<string>()
  private readonly poller = new Poller(watchIntervalMs, async () => this.observe(await this.source.statuses(watchIntervalMs), Date.now()))
  private updatedAt = 0

  constructor(private readonly source: StatusSource) {}

  /** Polls the nodes every watchIntervalMs until stop(). */
  start(): void {
    this.poller.start()
  }

  stop(): void {
    this.poller.stop()
  }

  view(): ClusterView {
    return { updatedAt: this.updatedAt, leader: this.leader, nodes: this.nodes, rates: this.rates, events: this.events }
  }

  /** Takes one poll's answers, made at `now`. */
  observe(statuses: NodeStatus[], now: number): void {
    this.updatedAt = now
    const up = statuses.filter((s) => s.reachable)
    const leading = up.filter((s) => s.role === 'leader').sort((a, b) => (b.term ?? 0) - (a.term ?? 0))[0]
    const leader = leading === undefined ? null : { id: leading.id as number, term: leading.term as number }
    this.nodes = statuses.map((s) => ({ ...s, ...(leading !== undefined && s.reachable ? { lag: Math.max(0, (leading.commitIndex ?? 0) - (s.lastApplied ?? 0)) } : {}) }))
    this.noteReachability(statuses, now)
    this.noteLeader(leader, now)
    this.noteRates(up, now)
  }

  private noteReachability(statuses: NodeStatus[], now: number): void {
    for (const s of statuses) {
      const was = this.reachable.get(s.address)
      this.reachable.set(s.address, s.reachable)
      const name = `node ${s.id ?? s.address}`
      if (was === true && !s.reachable) this.event(now, 'unreachable', `${name} unreachable: ${s.error ?? 'no answer'}`)
      if (was === false && s.reachable) this.event(now, 'reachable', `${name} reachable${this.answered.has(s.address) ? ' again' : ''}`)
      if (s.reachable) this.answered.add(s.address)
    }
  }

  private noteLeader(leader: { id: number; term: number } | null, now: number): void {
    const before = this.leader
    this.leader = leader
    if (leader === null) {
      if (before !== null) this.event(now, 'no-leader', `no leader (node ${before.id} led term ${before.term})`)
      return
    }
    if (before !== null && before.id === leader.id && before.term === leader.term) return
    // A new term with a leader is an election won; the first sight of a leader is only that.
    if (before === null && this.events.length === 0) this.event(now, 'leader', `node ${leader.id} leads (term ${leader.term})`)
    else this.event(now, 'election', `node ${leader.id} elected leader for term ${leader.term}${before === null ? '' : ` (was node ${before.id}, term ${before.term})`}`)
  }

  private noteRates(up: NodeStatus[], now: number): void {
    const commitIndex = Math.max(this.previous?.commitIndex ?? 0, ...up.map((s) => s.commitIndex ?? 0))
    const reads = new Map(up.map((s) => [s.address, s.reads ?? 0]))
    const previous = this.previous
    this.previous = { time: now, commitIndex, reads: new Map([...(previous?.reads ?? []), ...reads]) }
    if (previous === undefined || now <= previous.time) return
    const seconds = (now - previous.time) / 1000
    let readsDone = 0
    for (const [address, count] of reads) {
      const before = previous.reads.get(address)
      // A node that restarted counts from 0 again: its first poll after gives no rate.
      if (before !== undefined && count >= before) readsDone += count - before
    }
    this.rates.push({ time: now, writesPerSecond: (commitIndex - previous.commitIndex) / seconds, readsPerSecond: readsDone / seconds })
    while (this.rates.length > 0 && (this.rates[0] as RatePoint).time < now - rateHistoryMs) this.rates.shift()
  }

  private event(time: number, kind: ClusterEvent['kind'], message: string): void {
    this.events.unshift({ time, kind, message })
    if (this.events.length > maxEvents) this.events.length = maxEvents
  }
}
