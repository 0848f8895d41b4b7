// The leader balancer's rounds (leader-balancer.ts) against stand-ins for the hosts: it runs only
// on the catalog's leader, asks each group's leader to hand over, and never hands a group to a
// host that did not answer (a transfer there would only pause the group's writes).
import { describe, expect, it } from 'vitest'
import { LeaderBalancer } from '../../../src/net/server/leader-balancer.js'
import { catalogGroup, encodeCatalogCommand, GroupCatalog } from '../../../src/host/group-catalog.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import type { RaftHost } from '../../../src/host/raft-host.js'
import type { HostClient } from '../../../src/net/client/host-client.js'

/**
 * Host 1 leads the catalog and all 6 groups (each on hosts 1, 2, 3); `down` hosts do not answer.
 * With `joined`, host 4 joined the cluster later and group 7 was created on hosts 1 and 4 (host 1 leads it).
 */
function setup(down: number[], catalogLeader = 1, joined = false, starting: number[] = []) {
  const catalog = new GroupCatalog()
  catalog.apply({ index: 1, term: 1, type: EntryType.Normal, data: encodeCatalogCommand({ op: 'init', hosts: [1, 2, 3], groups: 6, replication: 3 }) })
  if (joined) {
    catalog.apply({ index: 2, term: 1, type: EntryType.Normal, data: encodeCatalogCommand({ op: 'join', host: 4, address: '127.0.0.1:18004' }) })
    catalog.apply({ index: 3, term: 1, type: EntryType.Normal, data: encodeCatalogCommand({ op: 'create', replicas: [1, 4] }) })
  }
  const leaders = new Map([[catalogGroup, catalogLeader], ...[1, 2, 3, 4, 5, 6, ...(joined ? [7] : [])].map((group) => [group, 1] as [number, number])])
  const localTransfers: [number, number][] = []
  const remoteTransfers: [number, number, number][] = []
  const host = {
    nodeId: 1,
    groups: [...leaders.keys()],
    leaderOf: (group: number) => leaders.get(group) ?? 0,
    transferLeadership: async (group: number, to: number) => {
      localTransfers.push([group, to])
      return to
    },
  } as unknown as RaftHost
  const client = {
    leadersAt: async (id: number) => {
      if (down.includes(id)) throw new Error(`host ${id} is down`)
      // A host not admitted yet answers that it holds nothing, not even the catalog.
      if (starting.includes(id)) return new Map<number, number>()
      return new Map([...leaders].map(([group, leader]) => [group, leader]))
    },
    transferLeaderAt: async (id: number, group: number, to: number) => {
      remoteTransfers.push([id, group, to])
      return to
    },
  } as unknown as HostClient
  return { balancer: new LeaderBalancer(host, catalog, client, 60_000), localTransfers, remoteTransfers }
}

describe('LeaderBalancer', () => {
  it('hands leaderships from the host that leads them all to the others', async () => {
    const { balancer, localTransfers } = setup([])
    const plan = await balancer.round()
    expect(plan.length).toBeGreaterThanOrEqual(3)
    expect(localTransfers).toEqual(plan.map(({ group, to }) => [group, to]))
    expect(new Set(localTransfers.map(([, to]) => to))).toEqual(new Set([2, 3]))
  })

  it('hands leaderships to a host that joined the cluster after it started', async () => {
    const { balancer, localTransfers } = setup([], 1, true)
    await balancer.round()
    expect(localTransfers).toContainEqual([7, 4])
  })

  it('never hands a group to a host that holds no catalog replica yet (starting, not admitted)', async () => {
    const { balancer, localTransfers } = setup([], 1, false, [3])
    await balancer.round()
    expect(localTransfers.length).toBeGreaterThan(0)
    expect(localTransfers.every(([, to]) => to === 2)).toBe(true)
  })

  it('never hands a group to a host that did not answer', async () => {
    const { balancer, localTransfers } = setup([3])
    await balancer.round()
    expect(localTransfers.length).toBeGreaterThan(0)
    expect(localTransfers.every(([, to]) => to === 2)).toBe(true)
  })

  it('does nothing on a host that does not lead the catalog', async () => {
    const { balancer, localTransfers } = setup([], 2)
    expect(await balancer.round()).toEqual([])
    expect(localTransfers).toEqual([])
  })
})
