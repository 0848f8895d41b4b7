// Four RaftHosts over gRPC with the group catalog: 6 groups founded on 3 of the 4 hosts each,
// placed evenly; a group created and removed at run time on every host that should have it;
// a shard refused; and the leader balancer spreading the groups' leaders over the hosts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHostServer, type HostServer } from '../../../src/net/server/host-server.js'
import { GroupAdmin } from '../../../src/net/client/group-admin.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { catalogGroup, encodeCatalogCommand } from '../../../src/host/group-catalog.js'
import { freePorts, waitFor } from '../../helpers/processes.js'

let dirs: string[] = []
let servers: HostServer[] = []
let hosts: { id: number; address: string }[] = []

beforeAll(async () => {
  const ports = await freePorts(4)
  hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-catalog-')))
  servers = await Promise.all(hosts.map((host, i) => startHostServer({ nodeId: host.id, hosts, dir: dirs[i] as string, groups: 6, replication: 3, balanceIntervalMs: 300, stateMachine: (group) => ({ apply: (entry) => Buffer.from(`${group}:${entry.index}`) }) })))
})

afterAll(async () => {
  for (const server of servers) await server.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** Which hosts run a replica of `group`. */
function runningOn(group: number): number[] {
  return servers.filter((server) => server.host.groups.includes(group)).map((server) => server.host.nodeId)
}

describe('the group catalog over gRPC', () => {
  it('founds groups 1 to 6 on 3 of the 4 hosts each, evenly, the same on every host', async () => {
    await waitFor('the catalog founded everywhere', async () => (servers.every((server) => server.catalog.founded) ? true : undefined))
    const view = servers[0]!.catalog.view()
    for (const server of servers) expect(server.catalog.view()).toEqual(view)
    expect(view.groups.map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6])
    for (const { replicas } of view.groups) expect(replicas).toHaveLength(3)
    // Hosts start their replicas on the tick after the catalog's entries applied.
    await waitFor('every group running on exactly its replicas', async () => (view.groups.every(({ group, replicas }) => runningOn(group).join() === replicas.join()) ? true : undefined))
    // 18 replicas on 4 hosts: 4 or 5 each, plus the catalog's on every host.
    for (const server of servers) expect(server.host.groups.length - 1).toBeGreaterThanOrEqual(4)
    for (const server of servers) expect(server.host.groups.length - 1).toBeLessThanOrEqual(5)
    const client = new HostClient(hosts)
    try {
      // Whichever host the client asks first, it finds the hosts that hold each group.
      for (let group = 1; group <= 6; group++) expect(String(await client.propose(group, Buffer.from('x'), 15_000))).toMatch(new RegExp(`^${group}:\\d+$`))
    } finally {
      client.close()
    }
  })

  it('creates a group at run time where placement says, serves it, then removes it from every host', async () => {
    const admin = new GroupAdmin(hosts, 15_000)
    const client = new HostClient(hosts)
    try {
      const created = await admin.create()
      expect(created.group).toBe(7)
      expect(created.replicas).toHaveLength(3)
      await waitFor('group 7 on its replicas', async () => (runningOn(7).join() === created.replicas.join() ? true : undefined))
      expect(String(await client.propose(7, Buffer.from('y'), 15_000))).toMatch(/^7:\d+$/)
      expect((await admin.list()).map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 7])
      expect(await admin.create({ replicas: [4] })).toEqual({ group: 8, replicas: [4] })
      await admin.remove(7)
      await waitFor('group 7 gone from every host and engine', async () => (runningOn(7).length === 0 && servers.every((server) => !server.engine.hasGroup(7)) ? true : undefined))
      expect((await admin.list()).map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 8])
      await expect(admin.remove(7)).rejects.toMatchObject({ code: 'ERR_NO_GROUP' })
      await expect(admin.remove(3)).rejects.toMatchObject({ code: 'ERR_GROUP_IS_SHARD' })
      await expect(client.propose(7, Buffer.from('z'), 3000)).rejects.toMatchObject({ code: 'ERR_NO_GROUP' })
    } finally {
      admin.close()
      client.close()
    }
  })

  it('brings a restarted host\'s replicas back from its catalog, removed groups staying removed', async () => {
    const index = servers.findIndex((server) => server.host.groups.includes(8))
    const server = servers[index]!
    const before = server.host.groups.filter((group) => group !== catalogGroup).sort((a, b) => a - b)
    await server.stop()
    servers[index] = await startHostServer({ nodeId: server.host.nodeId, hosts, dir: dirs[index] as string, groups: 6, replication: 3, balanceIntervalMs: 300, stateMachine: (group) => ({ apply: (entry) => Buffer.from(`${group}:${entry.index}`) }) })
    const again = servers[index]!
    await waitFor('the catalog replayed', async () => (again.catalog.founded && again.catalog.view().groups.length === 7 ? true : undefined))
    // The replicas start on the tick after the catalog applied (and the catalog may learn its last commits from its leader).
    const mine = (): number[] => again.host.groups.filter((group) => group !== catalogGroup).sort((a, b) => a - b)
    await waitFor('the replicas started', async () => (mine().length === before.length ? true : undefined))
    expect(mine()).toEqual(before)
    expect(again.host.groups).not.toContain(7)
    expect(again.catalog.view()).toEqual(servers[(index + 1) % 4]!.catalog.view())
  })

  it('spreads the leaders: no host leads two groups more than another that could', async () => {
    const admin = new GroupAdmin(hosts, 15_000)
    try {
      // Every group host 1 holds is led by host 1 first, the balancers paused meanwhile.
      for (const server of servers) server.balancer.stop()
      const first = servers[0]!
      const mine = first.host.groups.filter((group) => group !== catalogGroup)
      await waitFor('host 1 to lead its groups', async () => {
        for (const group of mine) {
          const leader = first.host.leaderOf(group)
          const holder = servers.find((server) => server.host.nodeId === leader)
          if (leader !== 1 && holder !== undefined) {
            // Leadership moving already: asked again next time round.
            holder.host.transferLeadership(group, 1).catch(() => {})
          }
        }
        return mine.every((group) => first.host.leaderOf(group) === 1) ? true : undefined
      })
      expect(mine.length).toBeGreaterThanOrEqual(4)
      for (const server of servers) server.balancer.start()
      const statuses = await waitFor('even leaders', async () => {
        const all = await admin.hostStatuses()
        const led = all.map((s) => s.leading ?? 0)
        return all.every((s) => s.reachable) && led.reduce((a, b) => a + b, 0) === 7 && Math.max(...led) - Math.min(...led) <= 1 ? all : undefined
      }, 30_000)
      expect(statuses.filter((s) => s.catalogLeader)).toHaveLength(1)
      expect(servers.some((server) => server.balancer.counts.rounds > 0)).toBe(true)
      expect(servers.every((server) => server.host.leaderOf(catalogGroup) !== 0)).toBe(true)
    } finally {
      admin.close()
    }
  })

  it('refuses a catalog command larger than any the catalog takes: kept in every log and answer cache, it would grow every host', async () => {
    const raw = new HostClient(hosts)
    try {
      const lastIndexes = () => servers.map((server) => server.engine.lastIndex(catalogGroup))
      const before = lastIndexes()
      const big = encodeCatalogCommand({ op: 'create', request: 'x'.repeat(1024 * 1024) })
      await expect(raw.propose(catalogGroup, big, 5000)).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
      expect(lastIndexes()).toEqual(before)
      expect(servers[0]!.catalog.view().groups.map((g) => g.group)).toEqual([1, 2, 3, 4, 5, 6, 8])
    } finally {
      raw.close()
    }
  })
})
