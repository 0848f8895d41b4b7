// The group catalog is founded by its hosts only: a client's 'init', proposed as the cluster
// starts, is refused before the log, so no client can found the cluster with hosts, groups or a
// replication of its own choosing.
import { afterAll, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startHostServer, type HostServer } from '../../../src/net/server/host-server.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { catalogGroup, encodeCatalogCommand } from '../../../src/host/group-catalog.js'
import { freePorts, waitFor } from '../../helpers/processes.js'

let dirs: string[] = []
let servers: HostServer[] = []

afterAll(async () => {
  for (const server of servers) await server.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

it("refuses a client's founding of the catalog: the hosts found it with their own hosts and groups", async () => {
  const ports = await freePorts(3)
  const hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-host-founding-')))
  servers = await Promise.all(hosts.map((host, i) => startHostServer({ nodeId: host.id, hosts, dir: dirs[i] as string, groups: 4, stateMachine: () => ({ apply: () => undefined }) })))
  const raw = new HostClient(hosts)
  try {
    // Asked from the first moment a catalog leader is known: before the hosts' own 'init' if a client can be.
    const hostile = encodeCatalogCommand({ op: 'init', hosts: [1], groups: 1, replication: 1 })
    const answer = await waitFor('an answer to the hostile founding', async () => raw.propose(catalogGroup, hostile, 1000).then((bytes) => Buffer.from(bytes).toString(), (error: { code?: string }) => (error.code === 'ERR_BAD_ARGUMENT' ? error.code : undefined)))
    expect(answer).toBe('ERR_BAD_ARGUMENT')
    await waitFor('the catalog founded everywhere', async () => (servers.every((server) => server.catalog.founded) ? true : undefined))
    for (const server of servers) expect(server.catalog.view()).toMatchObject({ hosts: [1, 2, 3], shards: 4 })
  } finally {
    raw.close()
  }
})
