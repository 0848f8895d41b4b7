// The catalog group's members following the catalog's hosts (catalog-members.ts), on RaftHosts over
// an in-memory network: a host that joined the catalog is added as a learner, never a voter, so
// losing one of the three founders leaves the catalog a majority whether the joined host never
// started or died after it caught up (as a voter, 2 of 4 would not be a majority); once it runs,
// its empty joining replica catches up and holds the same catalog as the others.
import { afterEach, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { LogEngine } from '../../src/engine/log-engine.js'
import { RaftHost } from '../../src/host/raft-host.js'
import { MemoryHostNetwork } from '../../src/testing/memory-host-network.js'
import { catalogGroup, decodeCatalogResult, encodeCatalogCommand, GroupCatalog, type CatalogCommand } from '../../src/host/group-catalog.js'
import { admitJoinedHost } from '../../src/host/catalog-members.js'

const dirs: string[] = []
const running: { host: RaftHost; engine: LogEngine }[] = []

afterEach(() => {
  for (const { host, engine } of running.splice(0)) {
    host.stop()
    engine.close()
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('the catalog group follows the catalog\'s hosts', () => {
  it('adds a joined host as a learner: it gets the catalog, and its death never costs the catalog its majority', async () => {
    const network = new MemoryHostNetwork()
    const hosts = new Map<number, RaftHost>()
    const catalogs = new Map<number, GroupCatalog>()
    const start = (id: number): void => {
      const dir = mkdtempSync(join(tmpdir(), 'raftlog-catalog-members-'))
      dirs.push(dir)
      const engine = LogEngine.open(dir, { fileSize: 1024 * 1024 })
      const host = new RaftHost({ nodeId: id, hosts: [1, 2, 3], engine, transport: network.transportFor(id), electionTicks: [10, 20], quiesceAfterTicks: 30, seed: id })
      const catalog = new GroupCatalog()
      // Founders start the catalog group with its first voters; a newcomer's replica joins, empty.
      if (id <= 3) host.addGroup(catalogGroup, [1, 2, 3], catalog)
      else host.joinGroup(catalogGroup, catalog)
      network.attach(host)
      running.push({ host, engine })
      hosts.set(id, host)
      catalogs.set(id, catalog)
    }
    const live = (): RaftHost[] => [...hosts.values()].filter((host) => !network.down.has(host.nodeId))
    const settle = async (): Promise<void> => {
      for (let round = 0; round < 1000; round++) {
        await new Promise((resolve) => setTimeout(resolve, 0))
        if (network.deliver() === 0 && live().every((host) => host.idle)) return
      }
    }
    /** Ticks every live host `count` times; each tick the catalog's leader may add a joined host, as a host server does. */
    const run = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        for (const host of live()) {
          host.tick()
          void admitJoinedHost(host, catalogs.get(host.nodeId) as GroupCatalog)
        }
        await settle()
      }
    }
    const leader = async (): Promise<RaftHost> => {
      for (let i = 0; i < 200; i++) {
        const found = live().find((host) => host.leaderOf(catalogGroup) === host.nodeId)
        if (found !== undefined) return found
        await run(1)
      }
      throw new Error('no leader of the catalog group')
    }
    const propose = async (command: CatalogCommand) => {
      const done = (await leader()).propose(catalogGroup, encodeCatalogCommand(command))
      void run(40)
      return decodeCatalogResult((await done) as Uint8Array)
    }
    for (const id of [1, 2, 3]) start(id)
    expect(await propose({ op: 'init', hosts: [1, 2, 3], groups: 1, replication: 3 })).toEqual({ ok: true })
    expect(await propose({ op: 'join', host: 4, address: '127.0.0.1:18004' })).toEqual({ ok: true, hosts: [1, 2, 3, 4] })
    await run(40)
    // Host 4 never started: it is a learner of the catalog group.
    let configuration = (await leader()).configurationOf(catalogGroup)
    expect(configuration.voters).toEqual([1, 2, 3])
    expect(configuration.learners).toEqual([4])
    // Two founders of three still commit catalog changes: host 4 does not count.
    const down = configuration.voters.find((id) => id !== (hosts.get(1)?.leaderOf(catalogGroup) ?? 0)) as number
    network.down.add(down)
    expect(await propose({ op: 'create', replicas: [4] })).toMatchObject({ ok: true, group: 2 })
    network.down.delete(down)
    // Host 4 starts: it learns the catalog from the log, as a learner still.
    start(4)
    for (let i = 0; i < 50 && catalogs.get(4)?.view().groups.length !== 2; i++) await run(5)
    expect(catalogs.get(4)?.view()).toEqual(catalogs.get((await leader()).nodeId)?.view())
    expect(catalogs.get(4)?.view().groups.map((group) => group.group)).toEqual([1, 2])
    configuration = (await leader()).configurationOf(catalogGroup)
    expect(configuration.voters).toEqual([1, 2, 3])
    expect(configuration.learners).toEqual([4])
    // Host 4 dies, and a founder is down too: the two founders left still commit catalog changes.
    network.down.add(4)
    network.down.add(down)
    expect(await propose({ op: 'create', replicas: [1] })).toMatchObject({ ok: true, group: 3 })
  })
})
