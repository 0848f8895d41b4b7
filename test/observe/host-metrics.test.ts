// A many-group node's metrics (host-metrics.ts): counts read from its RaftHost when scraped, the
// group never a label, so a node with thousands of groups still exposes a handful of series.
import { describe, expect, it } from 'vitest'
import { HostMetrics } from '../../src/observe/host-metrics.js'
import { catalogGroup } from '../../src/host/group-catalog.js'
import type { RaftHost } from '../../src/host/raft-host.js'

/** The little of a RaftHost the metrics read: 5,000 groups, this node (2) leading one in three. */
function host(): RaftHost {
  const groups = [catalogGroup, ...Array.from({ length: 5000 }, (_, i) => i + 1)]
  return {
    nodeId: 2,
    groups,
    quietGroups: 4000,
    counters: { turns: 10, flushes: 7, batchesSent: 30, groupTicks: 99 },
    leaderOf: (group: number) => (group === catalogGroup ? 2 : group % 3 === 0 ? 2 : group % 3 === 1 ? 1 : 0),
  } as unknown as RaftHost
}

describe('HostMetrics', () => {
  it('counts groups by where their leader is, quiet replicas, the catalog and the host counters, with no group label', async () => {
    const text = await new HostMetrics(host()).metrics()
    expect(text).toContain('raftlog_host_groups{leader="here",node_id="2"} 1666')
    expect(text).toContain('raftlog_host_groups{leader="elsewhere",node_id="2"} 1667')
    expect(text).toContain('raftlog_host_groups{leader="unknown",node_id="2"} 1667')
    expect(text).toContain('raftlog_host_quiet_groups{node_id="2"} 4000')
    expect(text).toContain('raftlog_host_catalog_leader{node_id="2"} 1')
    expect(text).toContain('raftlog_host_flushes_total{node_id="2"} 7')
    expect(text).toContain('raftlog_host_turns_total{node_id="2"} 10')
    expect(text).not.toMatch(/group="/)
    const hostSeries = text.split('\n').filter((line) => line.startsWith('raftlog_host_'))
    expect(hostSeries.length).toBeLessThan(12)
  })
})

describe('HostMetricsServer', () => {
  it('serves /readyz: 200 once every group held knows a leader, 503 naming those that do not (the catalog by name)', async () => {
    const { HostMetricsServer } = await import('../../src/observe/host-metrics-server.js')
    const leaders = new Map<number, number>([[catalogGroup, 0], [1, 2], [2, 0]])
    const fake = { nodeId: 2, groups: [...leaders.keys()], quietGroups: 0, counters: { turns: 0, flushes: 0, delayedTurns: 0, batchesSent: 0, groupTicks: 0 }, failure: undefined, leaderOf: (group: number) => leaders.get(group) ?? 0 } as unknown as RaftHost
    const server = await HostMetricsServer.listen('127.0.0.1', 0, fake)
    try {
      const notReady = await fetch(`${server.url}/readyz`)
      expect(notReady.status).toBe(503)
      expect(await notReady.text()).toBe('not ready: 2 of the 3 groups held here know no leader (the catalog, 2)\n')
      leaders.set(catalogGroup, 1)
      leaders.set(2, 3)
      const ready = await fetch(`${server.url}/readyz`)
      expect(ready.status).toBe(200)
      expect(await ready.text()).toBe('ok: every one of the 3 groups held here knows a leader\n')
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200)
    } finally {
      await server.close()
    }
  })
})
