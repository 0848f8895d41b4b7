// HostWatch, the many-group status page's view: counts per node, the catalog's leader, groups
// with no known leader, the leaders' history, and the changes worth an event.
import { describe, expect, it } from 'vitest'
import { catalogGroup } from '../../src/host/group-catalog.js'
import { HostWatch, type HostLeaders } from '../../src/observe/host-watch.js'

const answered = (id: number, leaders: [number, number][], quietGroups = 0): HostLeaders => ({ id, address: `127.0.0.1:1900${id}`, leaders: new Map(leaders), quietGroups })
const silent = (id: number): HostLeaders => ({ id, address: `127.0.0.1:1900${id}`, leaders: new Map(), quietGroups: 0, error: 'connect ECONNREFUSED' })
const never = { hostLeaders: () => new Promise<HostLeaders[]>(() => {}) }

describe('HostWatch', () => {
  it('counts the groups each node holds, leads and has quiet, the catalog apart, and who leads the catalog', () => {
    const watch = new HostWatch(never)
    watch.observe([answered(1, [[catalogGroup, 2], [1, 1], [2, 2], [3, 1]], 1), answered(2, [[catalogGroup, 2], [1, 1], [2, 2]]), silent(3)], 1000)
    const view = watch.view()
    expect(view.nodes).toEqual([
      { id: 1, address: '127.0.0.1:19001', reachable: true, groups: 3, leading: 2, quiet: 1, catalogLeader: false },
      { id: 2, address: '127.0.0.1:19002', reachable: true, groups: 2, leading: 1, quiet: 0, catalogLeader: true },
      { id: 3, address: '127.0.0.1:19003', reachable: false, error: 'connect ECONNREFUSED' },
    ])
    expect(view.catalogLeader).toBe(2)
    expect(view.groups).toEqual({ total: 3, leaderless: [], leaderlessCount: 0 })
    expect(view.history).toEqual([{ time: 1000, leading: [2, 1, 0] }])
    expect(view.events.map((event) => event.message)).toEqual(['node 2 leads the group catalog', 'node 3 does not answer: connect ECONNREFUSED'])
  })

  it('names the groups no reachable replica knows a leader of, and says when every group has one again', () => {
    const watch = new HostWatch(never)
    watch.observe([answered(1, [[1, 0], [2, 1], [3, 0]]), answered(2, [[1, 0], [3, 2]])], 1000)
    expect(watch.view().groups).toEqual({ total: 3, leaderless: [1], leaderlessCount: 1 })
    watch.observe([answered(1, [[1, 2], [2, 1], [3, 2]]), answered(2, [[1, 2], [3, 2]])], 2000)
    expect(watch.view().groups).toEqual({ total: 3, leaderless: [], leaderlessCount: 0 })
    expect(watch.view().events.map((event) => event.message)).toEqual(['every group has a leader', '1 group without a leader'])
  })

  it('says when a node stops answering and when it answers again, and keeps ten minutes of history', () => {
    const watch = new HostWatch(never)
    watch.observe([answered(1, [[1, 1]]), answered(2, [[1, 1]])], 0)
    watch.observe([answered(1, [[1, 1]]), silent(2)], 1000)
    watch.observe([answered(1, [[1, 2]]), answered(2, [[1, 2]])], 11 * 60 * 1000)
    const view = watch.view()
    expect(view.events.map((event) => event.kind)).toEqual(['reachable', 'unreachable'])
    expect(view.history).toEqual([{ time: 11 * 60 * 1000, leading: [0, 1] }])
  })
})
