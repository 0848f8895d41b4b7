// The SaveSnapshot call in one process: three key-value node servers over real gRPC and a
// ClusterClient. A client that knows only a follower is sent to the leader; the backup holds
// every acknowledged write; a stream gets the same bytes as a file; under client_cert_auth a
// client with its certificate saves one, and one with only the CA is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PassThrough } from 'node:stream'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { checkBackupFile } from '../../../src/storage/backup-file.js'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'
import { clientTlsFrom } from '../../helpers/tls.js'

const endpointOf = (cluster: Servers, id: number): string => cluster.config.nodes.find((node) => node.nodeId === id)!.address

describe('SaveSnapshot over plaintext', () => {
  let cluster: Servers | undefined
  beforeAll(async () => {
    cluster = await startServers(false, { snapshot_threshold: 50, snapshot_trailing_entries: 10 })
  })
  afterAll(async () => stopServers(cluster))

  it('a client that knows only a follower is sent to the leader, which snapshots at least every write acknowledged before', async () => {
    const { leader, follower } = await settled(cluster!)
    const writer = ClusterClient.forCluster(cluster!.config)
    for (let i = 0; i < 120; i++) await writer.propose(encodeKvCommand({ op: 'put', key: `k${i}`, value: `v${i}` }), 10_000)
    const acknowledgedAt = leader.node.status().commitIndex
    writer.close()
    const client = new ClusterClient([endpointOf(cluster!, follower.node.id)])
    try {
      const file = join(cluster!.dir, 'backup.rlb')
      const saved = await client.saveSnapshot(file)
      expect(saved.nodeId).toBe(leader.node.id)
      expect(saved.index).toBeGreaterThanOrEqual(acknowledgedAt)
      expect(saved.clusterId).toBe(leader.node.clusterId)
      expect(saved.configuration.voters).toEqual([1, 2, 3])
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(await checkBackupFile(file)).toMatchObject({ index: saved.index, term: saved.term, checksum: saved.checksum, sizeBytes: saved.sizeBytes })
      // To a stream: the same format, byte for byte what a file gets.
      const stream = new PassThrough()
      const parts: Buffer[] = []
      stream.on('data', (chunk: Buffer) => parts.push(chunk))
      const streamed = await client.saveSnapshot(stream)
      const copy = join(cluster!.dir, 'streamed.rlb')
      writeFileSync(copy, Buffer.concat(parts))
      expect(await checkBackupFile(copy)).toMatchObject({ index: streamed.index, checksum: streamed.checksum, sizeBytes: readFileSync(copy).length })
    } finally {
      client.close()
    }
  })

  it('streams a large state in 1 MiB pieces: 24 values of 1 MiB come back whole', async () => {
    await settled(cluster!)
    const writer = ClusterClient.forCluster(cluster!.config)
    const big = (i: number): string => String.fromCharCode(97 + i).repeat(1024 * 1024)
    try {
      for (let i = 0; i < 24; i++) await writer.propose(encodeKvCommand({ op: 'put', key: `big${i}`, value: big(i) }), 20_000)
      const file = join(cluster!.dir, 'big.rlb')
      const saved = await writer.saveSnapshot(file, { timeoutMs: 20_000 })
      const summary = await checkBackupFile(file)
      expect(summary.dataBytes).toBeGreaterThan(24 * 1024 * 1024)
      expect(summary.chunks).toBeGreaterThanOrEqual(24)
      expect(saved.sizeBytes).toBe(summary.sizeBytes)
    } finally {
      writer.close()
    }
  }, 60_000)
})

describe('SaveSnapshot with client_cert_auth', () => {
  let cluster: Servers | undefined
  beforeAll(async () => {
    cluster = await startServers(true)
  })
  afterAll(async () => stopServers(cluster))

  it('saves with the client certificate, and is refused without one', async () => {
    await settled(cluster!)
    const endpoints = cluster!.config.nodes.map((node) => node.address)
    const client = new ClusterClient(endpoints, [], { tls: clientTlsFrom(cluster!.certs!, 'client') })
    try {
      const saved = await client.saveSnapshot(join(cluster!.dir, 'backup.rlb'))
      expect(saved.index).toBeGreaterThan(0)
    } finally {
      client.close()
    }
    const stranger = new ClusterClient(endpoints, [], { tls: clientTlsFrom(cluster!.certs!), failFast: true })
    try {
      await expect(stranger.saveSnapshot(join(cluster!.dir, 'stranger.rlb'), { timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ERR_UNAUTHENTICATED' })
    } finally {
      stranger.close()
    }
  })
})
