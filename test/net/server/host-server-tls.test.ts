// Three many-group nodes started from a cluster file with peer_tls, in one process, with
// certificates from `raftlog certs init`'s code. Without client_cert_auth a client that holds only
// the CA file reads and writes keys (as on a one-group node), but may not create groups, change a
// group's members or move its leader; a client certificate may; and no one without a node's
// certificate gets a host stream, the way into every group's Raft. With client_cert_auth a client
// needs a certificate for every call, and a node's certificate still moves leaders (the balancers').
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as grpc from '@grpc/grpc-js'
import { loadClusterConfig, type ClusterConfig } from '../../../src/net/config/cluster-config.js'
import { hostsOf, startShardedKvNode } from '../../../src/kv/sharded/sharded-kv-node.js'
import type { ShardedKvHost } from '../../../src/kv/sharded/sharded-kv-host.js'
import { ShardedKvClient } from '../../../src/kv/sharded/sharded-kv-client.js'
import { GroupAdmin } from '../../../src/net/client/group-admin.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { clientChannelCredentials } from '../../../src/net/tls/client-tls.js'
import { protocol } from '../../../src/net/protocol.js'
import { catalogGroup, encodeCatalogCommand } from '../../../src/host/group-catalog.js'
import { waitFor, writeConfig } from '../../helpers/processes.js'
import { clientTlsFrom, makeCertificates, tlsSettings } from '../../helpers/tls.js'

type StreamStub = grpc.Client & { Stream(callback: (error: grpc.ServiceError | null) => void): grpc.ClientWritableStream<unknown> }

const groups = 3
let dir = ''
let certs = ''
let cluster: ClusterConfig
let nodes: ShardedKvHost[] = []

/** Three nodes from a file with `settings`, the catalog founded (asked with `who`'s certificate). */
async function startNodes(settings: Record<string, string>, who?: string): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), 'raftlog-host-tls-'))
  certs = makeCertificates(dir, [1, 2, 3])
  const { path } = await writeConfig(dir, 3, settings)
  cluster = loadClusterConfig(path)
  nodes = await Promise.all([1, 2, 3].map((id) => startShardedKvNode(cluster, id, { groups, balanceIntervalMs: 0 })))
  const admin = new GroupAdmin(hostsOf(cluster), 1000, clientChannelCredentials(clientTlsFrom(certs, who)))
  try {
    await waitFor('the catalog founded', async () => ((await admin.catalog().catch(() => undefined))?.groups.length === groups ? true : undefined))
  } finally {
    admin.close()
  }
}

async function stopNodes(): Promise<void> {
  for (const node of nodes.splice(0)) await node.stop()
  rmSync(dir, { recursive: true, force: true })
}

/** Opens a host stream to node 1 as `credentials` allow, sends a batch that claims to come from node 2, and resolves with how the stream ended. */
function injectAsNode2(credentials: grpc.ChannelCredentials): Promise<grpc.ServiceError | null> {
  const stub = new protocol.RaftHosts(hostsOf(cluster)[0]!.address, credentials) as unknown as StreamStub
  return new Promise((resolve) => {
    const call = stub.Stream((error) => {
      stub.close()
      resolve(error)
    })
    call.on('error', () => {})
    call.write({ from: 2, messages: [], quiesce: [{ group: 1, term: 1_000_000, lastIndex: 1_000_000 }] })
    call.end()
  })
}

describe('many-group nodes with peer_tls and no client_cert_auth', () => {
  beforeAll(() => startNodes({ peer_tls: tlsSettings({ clientCertAuth: false }).peer_tls as string }))
  afterAll(stopNodes)

  it('take keys from a client that holds only the CA, over TLS', async () => {
    const client = new ShardedKvClient(hostsOf(cluster), groups, 10_000, clientChannelCredentials(clientTlsFrom(certs)))
    try {
      for (const key of ['a', 'b', 'c', 'd']) await client.put(key, `value-${key}`)
      for (const key of ['a', 'b', 'c', 'd']) expect((await client.get(key))?.toString()).toBe(`value-${key}`)
    } finally {
      client.close()
    }
    // Plaintext to a TLS port: no answer.
    const plaintext = new ShardedKvClient(hostsOf(cluster), groups, 1000)
    try {
      await expect(plaintext.get('a')).rejects.toMatchObject({ code: 'ERR_NO_LEADER' })
    } finally {
      plaintext.close()
    }
  })

  it('refuse group, membership and leadership changes to a client without a certificate; take them from one with', async () => {
    const caOnly = clientChannelCredentials(clientTlsFrom(certs))
    const stranger = new GroupAdmin(hostsOf(cluster), 5000, caOnly)
    const hosts = new HostClient(hostsOf(cluster), caOnly)
    const operator = new GroupAdmin(hostsOf(cluster), 5000, clientChannelCredentials(clientTlsFrom(certs, 'client')))
    const asNode = new HostClient(hostsOf(cluster), clientChannelCredentials(clientTlsFrom(certs, 'node-1')))
    try {
      expect((await stranger.list()).map((g) => g.group)).toEqual([1, 2, 3])
      const refused = /refused the client: Membership and leadership calls to a cluster with TLS need a client certificate/
      await expect(stranger.create({ replication: 2 })).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringMatching(refused) })
      await expect(stranger.remove(1)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' })
      await expect(hosts.changeMembershipAt(1, 1, { remove: [2] })).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringMatching(refused) })
      await expect(hosts.transferLeaderAt(1, 1, 2)).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' })
      expect((await operator.list()).map((g) => g.group)).toEqual([1, 2, 3])
      expect(await operator.create({ replication: 2 })).toMatchObject({ group: 4 })
      // A node's certificate may too: the leader balancers move leaders with theirs.
      const leader = (await operator.list()).find((g) => g.group === 1)?.leaderId ?? 0
      expect(leader).not.toBe(0)
      const target = leader === 3 ? 2 : 3
      expect(await asNode.transferLeaderAt(leader, 1, target)).toBe(target)
    } finally {
      stranger.close()
      hosts.close()
      operator.close()
      asNode.close()
    }
  })

  it('give a host stream only to a certificate that names a node', async () => {
    for (const who of [undefined, 'client']) {
      const error = await injectAsNode2(clientChannelCredentials(clientTlsFrom(certs, who)))
      expect(error?.code, `as ${who ?? 'the CA only'}`).toBe(grpc.status.UNAUTHENTICATED)
    }
    expect(await injectAsNode2(grpc.credentials.createInsecure())).toMatchObject({ code: grpc.status.UNAVAILABLE })
  })

  it("take a node's start or join only under that node's certificate: another's would lock the node out", async () => {
    // Node 3 ran already, so 'started' for it with fresh: true would be refused anyway; fresh: false is what locks out a founder not started yet.
    const started = encodeCatalogCommand({ op: 'started', host: 3, fresh: false })
    for (const who of ['client', 'node-1']) {
      const hosts = new HostClient(hostsOf(cluster), clientChannelCredentials(clientTlsFrom(certs, who)))
      try {
        await expect(hosts.propose(catalogGroup, started, 5000), `as ${who}`).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringMatching(/node 3's own certificate/) })
        await expect(hosts.propose(catalogGroup, encodeCatalogCommand({ op: 'join', host: 9, address: '127.0.0.1:9' }), 5000), `as ${who}`).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' })
      } finally {
        hosts.close()
      }
    }
    const asNode3 = new HostClient(hostsOf(cluster), clientChannelCredentials(clientTlsFrom(certs, 'node-3')))
    try {
      expect(JSON.parse(Buffer.from(await asNode3.propose(catalogGroup, started, 5000)).toString())).toMatchObject({ ok: true })
    } finally {
      asNode3.close()
    }
  })
})

describe('many-group nodes with peer_tls and client_cert_auth', () => {
  beforeAll(() => startNodes(tlsSettings({ clientCertAuth: true }), 'client'))
  afterAll(stopNodes)

  it('take keys from a client certificate only, and leadership moves from a node\'s', async () => {
    const client = new ShardedKvClient(hostsOf(cluster), groups, 10_000, clientChannelCredentials(clientTlsFrom(certs, 'client')))
    const caOnly = new ShardedKvClient(hostsOf(cluster), groups, 5000, clientChannelCredentials(clientTlsFrom(certs)))
    const asNode = new HostClient(hostsOf(cluster), clientChannelCredentials(clientTlsFrom(certs, 'node-2')))
    try {
      await client.put('a', '1')
      expect((await client.get('a'))?.toString()).toBe('1')
      await expect(caOnly.get('a')).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED', message: expect.stringMatching(/refused the client: This cluster requires a client certificate/) })
      await expect(caOnly.put('b', '2')).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' })
      const leader = [...(await asNode.leadersAt(1))].find(([group]) => group === 1)?.[1] ?? 0
      expect(leader).not.toBe(0)
      const target = leader === 3 ? 2 : 3
      expect(await asNode.transferLeaderAt(leader, 1, target)).toBe(target)
    } finally {
      client.close()
      caOnly.close()
      asNode.close()
    }
  })
})
