// Moving a group's replica between RaftHosts over gRPC (GroupAdmin.move, raftlog group move): the
// catalog records the move, the new host joins as a learner, catches up, is promoted, leadership
// leaves the old host, which is removed and frees its log. Proposals go on throughout, and every
// acknowledged one is applied on the new replica.
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
/** What each host's replica of each group applied: `${host}/${group}` → payloads in order. */
const applied = new Map<string, string[]>()

beforeAll(async () => {
  const ports = await freePorts(4)
  hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-move-')))
  servers = await Promise.all(hosts.map((_, i) => start(i)))
  await waitFor('the catalog founded everywhere', async () => (servers.every((server) => server.catalog.founded) ? true : undefined))
})

function start(i: number): Promise<HostServer> {
  const host = hosts[i] as { id: number; address: string }
  return startHostServer({
    nodeId: host.id,
    hosts,
    dir: dirs[i] as string,
    groups: 4,
    replication: 3,
    balanceIntervalMs: 0,
    stateMachine: (group) => {
      const key = `${host.id}/${group}`
      applied.set(key, [])
      return { apply: (entry) => applied.get(key)?.push(Buffer.from(entry.data).toString()) }
    },
  })
}

afterAll(async () => {
  for (const server of servers) await server.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

function runningOn(group: number): number[] {
  return servers.filter((server) => server.host.hasGroup(group)).map((server) => server.host.nodeId)
}

describe('moving a replica over gRPC', () => {
  it("moves the leader's replica to the host without one while writes go on; the old host keeps nothing of it", async () => {
    const group = 1
    const admin = new GroupAdmin(hosts, 15_000)
    const client = new HostClient(hosts)
    try {
      const acknowledged: string[] = []
      expect(String(await client.propose(group, Buffer.from('first'), 15_000))).not.toBe('x')
      acknowledged.push('first')
      const before = (await admin.list()).find((info) => info.group === group)!
      const from = before.leaderId
      expect(before.replicas).toContain(from)
      const to = hosts.map((host) => host.id).find((id) => !before.replicas.includes(id))!
      let writing = true
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          try {
            await client.propose(group, Buffer.from(`w${i}`), 5000)
            acknowledged.push(`w${i}`)
          } catch {
            // A leader change in flight: the outcome is unknown, so it is not counted as acknowledged.
          }
        }
      })()
      const moved = await admin.move(group, from, to)
      writing = false
      await writer
      const expected = [...before.replicas.filter((id) => id !== from), to].sort((a, b) => a - b)
      expect(moved).toEqual({ group, replicas: expected })
      const after = (await admin.list()).find((info) => info.group === group)!
      expect(after.replicas).toEqual(expected)
      expect(after.moving).toBeUndefined()
      await waitFor('the old host to drop its replica and log', async () => (runningOn(group).join() === expected.join() && !servers[from - 1]!.engine.hasGroup(group) ? true : undefined))
      // The group still takes writes, and the new replica applied every acknowledged one.
      await client.propose(group, Buffer.from('last'), 15_000)
      acknowledged.push('last')
      await waitFor('the new replica to apply the last write', async () => (applied.get(`${to}/${group}`)?.includes('last') === true ? true : undefined))
      const onNew = applied.get(`${to}/${group}`)!
      for (const payload of acknowledged) expect(onNew, payload).toContain(payload)
      expect(acknowledged.length).toBeGreaterThan(2)
      // A host that left a group never holds it again.
      await expect(admin.move(group, expected[0]!, from)).rejects.toMatchObject({ code: 'ERR_ID_REMOVED' })
      // The same move asked again once done (an answer lost): done already, nothing changes.
      expect(await admin.move(group, from, to)).toEqual({ group, replicas: expected })
      expect(runningOn(group)).toEqual(expected)
    } finally {
      admin.close()
      client.close()
    }
  })

  it('a host restarted after the group removed it, before the catalog heard the move was done, does not start the group again', async () => {
    const group = 2
    const client = new HostClient(hosts)
    const admin = new GroupAdmin(hosts, 15_000)
    try {
      await client.propose(group, Buffer.from('x'), 15_000)
      const before = (await admin.list()).find((info) => info.group === group)!
      const to = hosts.map((host) => host.id).find((id) => !before.replicas.includes(id))!
      const from = before.replicas.find((id) => id !== before.leaderId)!
      // The move's steps, but not its last (the catalog's 'moved' entry): as if the mover died there.
      const moving = JSON.parse(Buffer.from(await client.propose(catalogGroup, encodeCatalogCommand({ op: 'move', group, from, to }), 15_000)).toString()) as { ok: boolean }
      expect(moving.ok).toBe(true)
      const leader = before.leaderId
      await client.changeMembershipAt(leader, group, { addLearners: [to] })
      await waitFor('the learner to catch up and be promoted', async () => {
        try {
          const config = await client.changeMembershipAt(leader, group, { promote: [to] })
          return config.voters.includes(to) ? true : undefined
        } catch {
          return undefined
        }
      })
      await client.changeMembershipAt(leader, group, { remove: [from] })
      await waitFor('the removed host to drop its replica and log', async () => (!servers[from - 1]!.host.hasGroup(group) && !servers[from - 1]!.engine.hasGroup(group) ? true : undefined))
      await servers[from - 1]!.stop()
      servers[from - 1] = await start(from - 1)
      await waitFor('the restarted host to replay its catalog', async () => (servers[from - 1]!.catalog.moveOf(group) !== undefined && servers[from - 1]!.host.groups.length > 1 ? true : undefined))
      // Its other groups run again; the one it left does not.
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(servers[from - 1]!.host.hasGroup(group)).toBe(false)
      // Finishing the move (raftlog group move again) records it.
      expect(await admin.move(group, from, to)).toEqual({ group, replicas: [...before.replicas.filter((id) => id !== from), to].sort((a, b) => a - b) })
    } finally {
      admin.close()
      client.close()
    }
  })

  it("refuses to record a move as done before the group is done with it: the old host keeps its replica and log, and the move finishes", async () => {
    const group = 4
    const client = new HostClient(hosts)
    const admin = new GroupAdmin(hosts, 15_000)
    try {
      await client.propose(group, Buffer.from('before the move'), 15_000)
      const before = (await admin.list()).find((info) => info.group === group)!
      const to = hosts.map((host) => host.id).find((id) => !before.replicas.includes(id))!
      const from = before.replicas.find((id) => id !== before.leaderId)!
      const catalogChange = async (command: Parameters<typeof encodeCatalogCommand>[0]): Promise<{ ok: boolean }> => JSON.parse(Buffer.from(await client.propose(catalogGroup, encodeCatalogCommand(command), 15_000)).toString()) as { ok: boolean }
      expect((await catalogChange({ op: 'move', group, from, to })).ok).toBe(true)
      // Straight after 'move', none of its steps taken: 'from' still votes.
      await expect(catalogChange({ op: 'moved', group, from, to })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(new RegExp(`move from node ${from} to node ${to} is not done.*raftlog group move ${group} --from ${from} --to ${to}`)) })
      await new Promise((resolve) => setTimeout(resolve, 500))
      expect(servers[from - 1]!.host.hasGroup(group)).toBe(true)
      expect(servers[from - 1]!.engine.hasGroup(group)).toBe(true)
      expect(servers[from - 1]!.catalog.moveOf(group)).toEqual({ from, to })
      // The move, called again, takes its steps and then records it.
      expect(await admin.move(group, from, to)).toEqual({ group, replicas: [...before.replicas.filter((id) => id !== from), to].sort((a, b) => a - b) })
      await client.propose(group, Buffer.from('after the move'), 15_000)
      await waitFor('the new replica to apply every write', async () => (applied.get(`${to}/${group}`)?.includes('after the move') === true ? true : undefined))
      expect(applied.get(`${to}/${group}`)).toContain('before the move')
    } finally {
      admin.close()
      client.close()
    }
  })

  it("refuses a membership change the catalog did not start: a member removed behind its back comes back empty, and the catalog group's would leave its host for good", async () => {
    const group = 3
    const client = new HostClient(hosts)
    try {
      await client.propose(group, Buffer.from('x'), 15_000)
      const holder = servers.find((server) => server.host.hasGroup(group))!
      const leader = holder.host.leaderOf(group)
      const replicas = holder.catalog.replicasOf(group)!
      const follower = replicas.find((id) => id !== leader)!
      const outsider = hosts.map((host) => host.id).find((id) => !replicas.includes(id))!
      const refused = { code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/group move/) }
      await expect(client.changeMembershipAt(leader, group, { remove: [follower] })).rejects.toMatchObject(refused)
      await expect(client.changeMembershipAt(leader, group, { addLearners: [outsider] })).rejects.toMatchObject(refused)
      const catalogLeader = servers[0]!.host.leaderOf(catalogGroup)
      const other = hosts.map((host) => host.id).find((id) => id !== catalogLeader)!
      await expect(client.changeMembershipAt(catalogLeader, catalogGroup, { remove: [other] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
      await new Promise((resolve) => setTimeout(resolve, 300))
      for (const server of servers) expect(server.host.hasGroup(catalogGroup)).toBe(true)
      expect(servers[follower - 1]!.host.configurationOf(group).voters).toEqual(replicas)
    } finally {
      client.close()
    }
  })
})
