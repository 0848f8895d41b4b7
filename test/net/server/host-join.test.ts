// A host joining a running many-group cluster over gRPC (startHostServer({ join })): the catalog
// takes it, the catalog group adds it as a learner, a group's replica moves to it
// under writes, and it outlives restarts (its own, without --join, and a founding host's, which
// learns its address again from the catalog). A founding id cannot join, nor a joined id whose
// directory is new (it would vote again in terms it voted in).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHostServer, type HostServer } from '../../../src/net/server/host-server.js'
import { GroupAdmin } from '../../../src/net/client/group-admin.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { catalogGroup } from '../../../src/host/group-catalog.js'
import { freePorts, waitFor } from '../../helpers/processes.js'
import { joinHostCluster } from '../../../src/net/server/host-joining.js'
import * as grpc from '@grpc/grpc-js'

let dirs: string[] = []
const servers = new Map<number, HostServer>()
let hosts: { id: number; address: string }[] = []
let founders: { id: number; address: string }[] = []
/** What each host's replica of each group applied: `${host}/${group}` → payloads in order. */
const applied = new Map<string, string[]>()

beforeAll(async () => {
  const ports = await freePorts(5)
  hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  founders = hosts.slice(0, 3)
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-join-')))
  await Promise.all(founders.map((host) => start(host.id)))
  await waitFor('the catalog founded everywhere', async () => ([...servers.values()].every((server) => server.catalog.founded) ? true : undefined))
})

/** Starts host `id`: a founder with the founders' addresses, a newcomer with them and its own (joining through `via`). */
async function start(id: number, options: { via?: string; joining?: boolean } = {}): Promise<HostServer> {
  const self = hosts[id - 1] as { id: number; address: string }
  const server = await startHostServer({
    nodeId: id,
    hosts: id <= 3 ? founders : [...founders, self],
    dir: dirs[id - 1] as string,
    groups: 2,
    replication: 3,
    balanceIntervalMs: 0,
    ...(options.via === undefined ? {} : { join: options.via }),
    ...(options.joining === undefined ? {} : { joining: options.joining }),
    stateMachine: (group) => {
      const key = `${id}/${group}`
      applied.set(key, [])
      return { apply: (entry) => applied.get(key)?.push(Buffer.from(entry.data).toString()) }
    },
  })
  servers.set(id, server)
  return server
}

async function stop(id: number): Promise<void> {
  await servers.get(id)?.stop()
  servers.delete(id)
}

afterAll(async () => {
  for (const id of [...servers.keys()]) await stop(id)
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** The catalog group's configuration as its leader holds it. */
function catalogConfiguration() {
  const leader = [...servers.values()].find((server) => server.host.hasGroup(catalogGroup) && server.host.leaderOf(catalogGroup) === server.host.nodeId)
  return leader?.host.configurationOf(catalogGroup)
}

describe('a host joining a many-group cluster', () => {
  it('is taken by the catalog, becomes a learner of the catalog group, and takes a replica moved to it under writes', async () => {
    const newcomer = await start(4, { via: (founders[1] as { address: string }).address })
    await waitFor('host 4 a learner of the catalog group', async () => (catalogConfiguration()?.learners.includes(4) ? true : undefined), 20_000)
    expect(catalogConfiguration()?.voters).toEqual([1, 2, 3])
    await waitFor('host 4 knows the catalog', async () => (newcomer.catalog.view().hosts.join() === '1,2,3,4' ? true : undefined))
    // An operator who knows only the founders' addresses (the configuration file).
    const admin = new GroupAdmin(founders, 15_000)
    const client = new HostClient(founders)
    try {
      expect((await admin.catalog()).addresses).toEqual({ 4: (hosts[3] as { address: string }).address })
      const group = 1
      const before = await waitFor('a leader of group 1', async () => (await admin.list()).find((info) => info.group === group && info.leaderId !== 0))
      const acknowledged: string[] = []
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
      const moved = await admin.move(group, before.leaderId, 4)
      writing = false
      await writer
      expect(moved.replicas).toContain(4)
      expect(acknowledged.length).toBeGreaterThan(0)
      await waitFor('host 4 applied every acknowledged write', async () => (acknowledged.every((payload) => applied.get(`4/${group}`)?.includes(payload)) ? true : undefined))
      // The status of every host, the joined one among them (learned from the catalog).
      expect((await admin.hostStatuses()).map((status) => [status.id, status.reachable])).toEqual([
        [1, true],
        [2, true],
        [3, true],
        [4, true],
      ])
    } finally {
      admin.close()
      client.close()
    }
  })

  it('comes back after its own restart without --join, and a restarted founder learns its address again from the catalog', async () => {
    await stop(4)
    await start(4, { joining: true })
    const leaderOf1 = (await new GroupAdmin(founders, 15_000).list()).find((info) => info.group === 1)!.leaderId
    // Restart a founder that is not group 1's leader: it knows host 4 only from the catalog it replays.
    const founder = [1, 2, 3].find((id) => id !== leaderOf1 && servers.get(id)?.host.hasGroup(1) === true) ?? [1, 2, 3].find((id) => id !== leaderOf1)!
    await stop(founder)
    const restarted = await start(founder)
    await waitFor('the restarted founder knows host 4 again', async () => (restarted.catalog.view().addresses[4] !== undefined ? true : undefined))
    const client = new HostClient(founders)
    const admin = new GroupAdmin(founders, 15_000)
    try {
      await client.propose(1, Buffer.from('after-restarts'), 15_000)
      await waitFor('host 4 applied a write made after the restarts', async () => (applied.get('4/1')?.includes('after-restarts') ? true : undefined))
      // The restarted founder leads the catalog: host 4 learns of a new group only through it.
      await waitFor('the restarted founder leads the catalog', async () => {
        const leader = [...servers.values()].find((server) => server.host.leaderOf(catalogGroup) === server.host.nodeId)
        if (leader === restarted) return true
        await leader?.host.transferLeadership(catalogGroup, founder).catch(() => undefined)
        return undefined
      })
      const { group } = await admin.create({ replicas: [4] })
      await waitFor('host 4 runs the group created on it', async () => (servers.get(4)?.host.hasGroup(group) === true ? true : undefined))
    } finally {
      client.close()
      admin.close()
    }
  })

  it('asks only the address it was given, until its deadline, and says so', async () => {
    const [nothing] = await freePorts(1)
    const started = Date.now()
    await expect(joinHostCluster(`127.0.0.1:${nothing}`, { id: 9, address: '127.0.0.1:1', fresh: true }, grpc.credentials.createInsecure(), 600)).rejects.toMatchObject({
      code: 'ERR_JOIN',
      message: expect.stringMatching(new RegExp(`Node 9 could not join the cluster through 127\\.0\\.0\\.1:${nothing}: no answer within 1 s \\(last: no node answered: is the cluster running\\? tried 127\\.0\\.0\\.1:${nothing}`)),
    })
    expect(Date.now() - started).toBeGreaterThanOrEqual(500)
  })

  it('refuses a founding id, and its server stops', async () => {
    const impostor = hosts[4] as { id: number; address: string }
    const attempt = startHostServer({
      nodeId: 2,
      hosts: [...founders.filter((host) => host.id !== 2), { id: 2, address: impostor.address }],
      dir: dirs[4] as string,
      groups: 2,
      balanceIntervalMs: 0,
      join: (founders[0] as { address: string }).address,
      stateMachine: () => ({ apply: () => undefined }),
    })
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_JOIN', message: expect.stringMatching(/ERR_ID_IN_USE: Node 2 is a founding node/) })
  })

  it('refuses a joined id asking again with a new directory (its votes are lost)', async () => {
    await stop(4)
    // A move to it meanwhile says why it cannot finish.
    const admin = new GroupAdmin(founders, 5000)
    try {
      await expect(admin.move(2, 1, 4, 1500)).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: expect.stringMatching(/node 4 did not answer: is it running\?/) })
    } finally {
      admin.close()
    }
    const wiped = mkdtempSync(join(tmpdir(), 'raftlog-host-join-'))
    dirs.push(wiped)
    const attempt = startHostServer({
      nodeId: 4,
      hosts: [...founders, hosts[3] as { id: number; address: string }],
      dir: wiped,
      groups: 2,
      balanceIntervalMs: 0,
      join: (founders[0] as { address: string }).address,
      stateMachine: () => ({ apply: () => undefined }),
    })
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_JOIN', message: expect.stringMatching(/ERR_ID_IN_USE: Node 4 joined the cluster before, and asks again with a new directory/) })
    // Its own directory is not new: the same id joins again, harmlessly.
    await start(4, { via: (founders[0] as { address: string }).address })
  })

  it('refuses a founder whose directory was lost, and a joining host never taken that starts without --join; neither leaves a directory', async () => {
    await waitFor('every founder\'s start recorded', async () => (servers.get(1)?.catalog.view().started.join() === '1,2,3' ? true : undefined))
    // Founder 3 loses its directory while founder 2 is down too: the catalog cannot answer, so it waits, taking no part.
    await stop(2)
    await stop(3)
    rmSync(dirs[2] as string, { recursive: true, force: true })
    let settled = false
    // The outcome, not the promise: a HostServer is too large for an assertion message to print.
    const attempt = start(3).then(
      () => 'started',
      (error: unknown) => error,
    )
    void attempt.finally(() => (settled = true))
    await new Promise((resolve) => setTimeout(resolve, 2500))
    expect(settled).toBe(false)
    // Its status says it waits, not that it holds nothing.
    const admin = new GroupAdmin(founders, 3000)
    try {
      expect((await admin.hostStatuses()).find((status) => status.id === 3)).toMatchObject({ reachable: true, waiting: true })
    } finally {
      admin.close()
    }
    await start(2)
    const outcome = await attempt
    expect(outcome).toMatchObject({ code: 'ERR_ID_IN_USE', message: expect.stringMatching(/Node 3 ran in this cluster before, and starts again with a new directory/) })
    expect(existsSync(dirs[2] as string)).toBe(false)
    const never = join(dirs[4] as string, 'never-taken')
    const neverTaken = startHostServer({ nodeId: 5, hosts: [...founders, hosts[4] as { id: number; address: string }], dir: never, groups: 2, joining: true, balanceIntervalMs: 0, stateMachine: () => ({ apply: () => undefined }) })
    await expect(neverTaken).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/Host 5 holds no group catalog yet .*--join ADDRESS/) })
    expect(existsSync(never)).toBe(false)
  })
})
