// A many-group node's metrics in the Prometheus text format (prom-client), read from its RaftHost
// when scraped. Counts only: a series per group would be thousands of series per node for
// thousands of groups, so the group appears as a label nowhere; where a group's leader is (three
// values) is the one label.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client'
import type { RaftHost } from '../host/raft-host.js'
import { catalogGroup } from '../host/group-catalog.js'

/** Where a group's leader is, as this node knows it. */
const leaderPlaces = ['here', 'elsewhere', 'unknown'] as const

export class HostMetrics {
  readonly registry = new Registry()

  constructor(host: RaftHost) {
    this.registry.setDefaultLabels({ node_id: String(host.nodeId) })
    collectDefaultMetrics({ register: this.registry })
    const registers = [this.registry]
    /** The key-value groups with a replica here (the catalog's own left out). */
    const dataGroups = (): number[] => host.groups.filter((group) => group !== catalogGroup)
    new Gauge({
      name: 'raftlog_host_groups',
      help: 'Groups with a replica on this node, by where their leader is: here, elsewhere, unknown (electing); the catalog group not counted',
      labelNames: ['leader'],
      registers,
      collect() {
        const counts = new Map<string, number>(leaderPlaces.map((place) => [place, 0]))
        for (const group of dataGroups()) {
          const leader = host.leaderOf(group)
          const place = leader === host.nodeId ? 'here' : leader === 0 ? 'unknown' : 'elsewhere'
          counts.set(place, (counts.get(place) as number) + 1)
        }
        for (const [leader, count] of counts) this.set({ leader }, count)
      },
    })
    new Gauge({ name: 'raftlog_host_quiet_groups', help: 'Replicas on this node that are quiet: not ticked, no heartbeats', registers, collect() { this.set(host.quietGroups) } })
    new Gauge({ name: 'raftlog_host_catalog_leader', help: '1 when this node leads the group catalog (and runs the leader balancer)', registers, collect() { this.set(host.leaderOf(catalogGroup) === host.nodeId ? 1 : 0) } })
    const counter = (name: string, help: string, read: () => number): void => {
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read()) } })
    }
    counter('raftlog_host_turns_total', 'Driver turns: each gathers every group with work', () => host.counters.turns)
    counter('raftlog_host_flushes_total', 'Engine flushes: at most one per turn, whatever the number of groups written', () => host.counters.flushes)
    counter('raftlog_host_delayed_turns_total', 'Turns held back by the commit delay so that more groups share the next flush', () => host.counters.delayedTurns)
    counter('raftlog_host_batches_sent_total', 'Batches sent to peer nodes, each carrying any number of groups\' messages', () => host.counters.batchesSent)
    counter('raftlog_host_group_ticks_total', 'Group ticks done (quiet groups are not ticked)', () => host.counters.groupTicks)
  }

  get contentType(): string {
    return this.registry.contentType
  }

  metrics(): Promise<string> {
    return this.registry.metrics()
  }
}
