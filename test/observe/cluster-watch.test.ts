// What the status page shows, from successive polls of the nodes' statuses: rates, lag, and the
// elections and leader changes, without a cluster or a clock.
import { describe, expect, it } from 'vitest'
import { ClusterWatch, maxEvents, rateHistoryMs } from '../../src/observe/cluster-watch.js'
import type { NodeStatus } from '../../src/net/client/cluster-client.js'

function node(id: number, fields: Partial<NodeStatus> = {}): NodeStatus {
  return { id, address: `127.0.0.1:${18000 + id}`, reachable: true, role: 'follower', term: 1, leaderId: 1, commitIndex: 0, lastApplied: 0, firstIndex: 1, lastIndex: 0, reads: 0, ...fields }
}

function down(id: number, error = 'connect ECONNREFUSED'): NodeStatus {
  return { id, address: `127.0.0.1:${18000 + id}`, reachable: false, error }
}

const watch = (): ClusterWatch => new ClusterWatch({ statuses: async () => [] })

describe('ClusterWatch', () => {
  it('turns successive commit indexes and read counters into rates per second', () => {
    const w = watch()
    w.observe([node(1, { role: 'leader', commitIndex: 10, reads: 5 }), node(2, { commitIndex: 9, reads: 0 })], 1_000)
    w.observe([node(1, { role: 'leader', commitIndex: 30, reads: 9 }), node(2, { commitIndex: 30, reads: 6 })], 3_000)
    expect(w.view().rates).toEqual([{ time: 3_000, writesPerSecond: 10, readsPerSecond: 5 }])
  })

  it('counts nothing for a node that restarted (its counter went back) and never lets the commit rate go negative', () => {
    const w = watch()
    w.observe([node(1, { role: 'leader', commitIndex: 50, reads: 100 }), node(2, { commitIndex: 50, reads: 40 })], 0)
    // Node 1 restarted: its reads count from 0; only node 2 answers with a lower commit index.
    w.observe([node(1, { reads: 3, commitIndex: 0 }), node(2, { commitIndex: 48, reads: 42 })], 1_000)
    expect(w.view().rates).toEqual([{ time: 1_000, writesPerSecond: 0, readsPerSecond: 2 }])
  })

  it('keeps the last ten minutes of rates', () => {
    const w = watch()
    for (let t = 0; t <= rateHistoryMs + 5_000; t += 1_000) w.observe([node(1, { role: 'leader', commitIndex: t })], t)
    const rates = w.view().rates
    expect(rates[0]!.time).toBe(5_000)
    expect(rates.at(-1)!.time).toBe(rateHistoryMs + 5_000)
  })

  it("shows each node's lag behind the leader's commit index", () => {
    const w = watch()
    w.observe([node(1, { role: 'leader', commitIndex: 100, lastApplied: 100 }), node(2, { lastApplied: 60 }), down(3)], 0)
    expect(w.view().nodes.map((n) => n.lag)).toEqual([0, 40, undefined])
    w.observe([node(1, { role: 'candidate', leaderId: 0 }), node(2, { lastApplied: 60, leaderId: 0 })], 1_000)
    expect(w.view().nodes.map((n) => n.lag)).toEqual([undefined, undefined])
  })

  it('lists elections, leader changes and nodes lost and back, newest first', () => {
    const w = watch()
    w.observe([node(1, { role: 'leader' }), node(2), node(3)], 1_000)
    w.observe([down(1), node(2, { leaderId: 0 }), node(3, { leaderId: 0 })], 2_000)
    w.observe([down(1), node(2, { role: 'leader', term: 2, leaderId: 2 }), node(3, { term: 2, leaderId: 2 })], 3_000)
    w.observe([node(1, { term: 2, leaderId: 2 }), node(2, { role: 'leader', term: 2, leaderId: 2 }), node(3, { term: 2, leaderId: 2 })], 4_000)
    expect(w.view().leader).toEqual({ id: 2, term: 2 })
    expect(w.view().events).toEqual([
      { time: 4_000, kind: 'reachable', message: 'node 1 reachable again' },
      { time: 3_000, kind: 'election', message: 'node 2 elected leader for term 2' },
      { time: 2_000, kind: 'no-leader', message: 'no leader (node 1 led term 1)' },
      { time: 2_000, kind: 'unreachable', message: 'node 1 unreachable: connect ECONNREFUSED' },
      { time: 1_000, kind: 'leader', message: 'node 1 leads (term 1)' },
    ])
  })

  it('names the leader it replaces when leadership moves between two polls', () => {
    const w = watch()
    w.observe([node(1, { role: 'leader' }), node(2)], 0)
    w.observe([node(1, { term: 3, leaderId: 2 }), node(2, { role: 'leader', term: 3, leaderId: 2 })], 1_000)
    expect(w.view().events[0]).toEqual({ time: 1_000, kind: 'election', message: 'node 2 elected leader for term 3 (was node 1, term 1)' })
  })

  it('keeps a bounded number of events', () => {
    const w = watch()
    for (let term = 1; term <= maxEvents + 10; term++) w.observe([node(1 + (term % 2), { role: 'leader', term })], term)
    expect(w.view().events).toHaveLength(maxEvents)
    expect(w.view().events[0]!.message).toMatch(new RegExp(`term ${maxEvents + 10}\\b`))
  })
})
