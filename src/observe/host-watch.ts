// What the status page of a many-group cluster shows, kept up to date: every node's counts (groups
// held, led, quiet; whether it leads the group catalog), the groups no node knows a leader of, a
// short history of leaders per node, and the recent changes (a node lost or back, the catalog's
// leader moving). Polled from every node as `raftlog status` asks them (GroupAdmin).
import { catalogGroup } from '../host/group-catalog.js'
import { Poller } from './poller.js'

/** One node as a poll found it: which leader it knows for each group it holds. */
export interface HostLeaders {
  id: number
  address: string
  /** Group → the leader this node knows (0: none), every group it holds, the catalog among them. */
  leaders: Map<number, number>
  quietGroups: number
  /** Set when the node did not answer. */
  error?: string
}

export interface HostLeadersSource {
  hostLeaders(timeoutMs: number): Promise<HostLeaders[]>
}

export interface WatchedHost {
  id: number
  address: string
  reachable: boolean
  error?: string
  /** Data groups held (the catalog not counted), led, and quiet. */
  groups?: number
  leading?: number
  quiet?: number
  catalogLeader?: boolean
}

export interface LeadersPoint {
  /** ms since the epoch */
  time: number
  /** Data groups each node leads, in the order of `nodes`. */
  leading: number[]
}

export interface HostEvent {
  time: number
  kind: 'unreachable' | 'reachable' | 'catalog-leader' | 'leaderless'
  message: string
}

export interface HostClusterView {
  updatedAt: number
  /** The node that leads the catalog, as the nodes know it (null: none known). */
  catalogLeader: number | null
  nodes: WatchedHost[]
  /** Data groups held by some reachable node; those none of their reachable replicas knows a leader of (the first 20). */
  groups: { total: number; leaderless: number[]; leaderlessCount: number }
  history: LeadersPoint[]
  events: HostEvent[]
}

/** How often the nodes are asked (ms). */
export const hostWatchIntervalMs = 1000
/** How far back the leaders' history goes (ms). */
export const leadersHistoryMs = 10 * 60 * 1000
/** Events kept for the page, newest first. */
export const maxHostEvents = 50
const leaderlessShown = 20

/** Polls every node of a many-group cluster and keeps what its status page shows. */
export class HostWatch {
  private nodes: WatchedHost[] = []
  private catalogLeader: number | null = null
  private groups = { total: 0, leaderless: [] as number[], leaderlessCount: 0 }
  private readonly history: LeadersPoint[] = []
  private readonly events: HostEvent[] = []
  private readonly reachable = new Map<number, boolean>()
  // A node is given two intervals to answer, so a busy one is not shown lost for one slow answer.
  private readonly poller = new Poller(hostWatchIntervalMs, async () => this.observe(await this.source.hostLeaders(2 * hostWatchIntervalMs), Date.now()))
  private updatedAt = 0

  constructor(private readonly source: HostLeadersSource) {}

  /** Polls the nodes every hostWatchIntervalMs until stop(). */
  start(): void {
    this.poller.start()
  }

  stop(): void {
    this.poller.stop()
  }

  view(): HostClusterView {
    return { updatedAt: this.updatedAt, catalogLeader: this.catalogLeader, nodes: this.nodes, groups: this.groups, history: this.history, events: this.events }
  }

  /** Takes one poll's answers, made at `now` (ms). */
  observe(hosts: readonly HostLeaders[], now: number): void {
    this.nodes = hosts.map((host) => {
      if (host.error !== undefined) return { id: host.id, address: host.address, reachable: false, error: host.error }
      const data = [...host.leaders].filter(([group]) => group !== catalogGroup)
      return { id: host.id, address: host.address, reachable: true, groups: data.length, leading: data.filter(([, leader]) => leader === host.id).length, quiet: host.quietGroups, catalogLeader: host.leaders.get(catalogGroup) === host.id }
    })
    for (const node of this.nodes) {
      const was = this.reachable.get(node.id)
      if (was === node.reachable) continue
      this.reachable.set(node.id, node.reachable)
      // The first poll only says who is unreachable; later ones say every change.
      if (was === undefined && node.reachable) continue
      this.event(now, node.reachable ? 'reachable' : 'unreachable', node.reachable ? `node ${node.id} answers again` : `node ${node.id} does not answer: ${node.error ?? 'no answer'}`)
    }
    const catalogLeader = this.nodes.find((node) => node.catalogLeader === true)?.id ?? null
    if (catalogLeader !== this.catalogLeader) {
      this.event(now, 'catalog-leader', catalogLeader === null ? 'no node leads the group catalog' : `node ${catalogLeader} leads the group catalog`)
      this.catalogLeader = catalogLeader
    }
    // A group has a leader when some reachable replica knows one.
    const led = new Map<number, boolean>()
    for (const host of hosts) {
      if (host.error !== undefined) continue
      for (const [group, leader] of host.leaders) if (group !== catalogGroup) led.set(group, (led.get(group) ?? false) || leader !== 0)
    }
    const leaderless = [...led].filter(([, known]) => !known).map(([group]) => group).sort((a, b) => a - b)
    if (leaderless.length !== this.groups.leaderlessCount && (leaderless.length === 0 || this.groups.leaderlessCount === 0)) {
      this.event(now, 'leaderless', leaderless.length === 0 ? 'every group has a leader' : `${leaderless.length} group${leaderless.length === 1 ? '' : 's'} without a leader`)
    }
    this.groups = { total: led.size, leaderless: leaderless.slice(0, leaderlessShown), leaderlessCount: leaderless.length }
    this.history.push({ time: now, leading: this.nodes.map((node) => node.leading ?? 0) })
    while (this.history.length > 0 && (this.history[0] as LeadersPoint).time < now - leadersHistoryMs) this.history.shift()
    this.updatedAt = now
  }

  private event(time: number, kind: HostEvent['kind'], message: string): void {
    this.events.unshift({ time, kind, message })
    if (this.events.length > maxHostEvents) this.events.length = maxHostEvents
  }
}
