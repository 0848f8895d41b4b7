// Named limits on what a client may send a key-value node: a key of 16 MiB − 5 bytes was taken,
// after which every `kv scan` failed for every client (the next page's request carries the last
// key). One node in this process, over real gRPC, with the default limits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadClusterConfig } from '../../src/net/config/cluster-config.js'
import { decodeKvResult, encodeKvCommand } from '../../src/kv/kv-state-machine.js'
import type { TxnRequest } from '../../src/kv/kv-txn.js'
import { decodeKvScanResult, encodeKvQuery } from '../../src/kv/kv-query.js'
import { ClusterClient } from '../../src/net/client/cluster-client.js'
import type { NodeServer } from '../../src/net/server/node-server.js'
import { startKvNodeServer } from '../../src/kv/kv-node-server.js'
import { defaultMaxKeyBytes, defaultMaxRequestBytes } from '../../src/net/config/request-limits.js'
import { writeConfig } from '../helpers/processes.js'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../src/net/etcd-protocol.js'

let dir: string
let server: NodeServer
let client: ClusterClient

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftlog-kv-limits-'))
  const { path } = await writeConfig(dir, 1)
  const cluster = loadClusterConfig(path)
  server = await startKvNodeServer(cluster, 1, { warn: () => {} })
  client = ClusterClient.forCluster(cluster)
  while (server.node.status().role !== 'leader') await new Promise((resolve) => setTimeout(resolve, 20))
})

afterAll(async () => {
  client.close()
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
})

const put = (key: Uint8Array | string, value: Uint8Array | string): Promise<Uint8Array> => client.propose(encodeKvCommand({ op: 'put', key, value }), 10_000)

/** Every key, a page of `pageKeys` at a time, each page asking after the last key of the one before. */
async function scanAll(pageKeys: number): Promise<Buffer[]> {
  const keys: Buffer[] = []
  let after: Buffer | undefined
  for (;;) {
    const page = decodeKvScanResult(await client.read(encodeKvQuery({ op: 'scan', prefix: '', limit: pageKeys, ...(after === undefined ? {} : { after }) }), 10_000))
    keys.push(...page.pairs.map(([key]) => key))
    after = page.pairs.at(-1)?.[0]
    if (!page.more || after === undefined) return keys
  }
}

describe('key-value limits', () => {
  it('refuses a key over max_key_bytes (ERR_KEY_TOO_LARGE) before the log; keys up to it page through scans', async () => {
    await put('a', '1')
    const before = server.node.status().lastIndex
    await expect(put(Buffer.alloc(defaultMaxKeyBytes + 1, 'k'), 'v')).rejects.toMatchObject({ code: 'ERR_KEY_TOO_LARGE', message: expect.stringMatching(/refused the command: The put's key is 65537 bytes, larger than max_key_bytes \(65536 bytes\)$/) })
    const batch = encodeKvCommand({ op: 'batch', puts: [{ key: 'b', value: '1' }, { key: Buffer.alloc(defaultMaxKeyBytes + 1, 'k'), value: '2' }] })
    await expect(client.propose(batch, 10_000)).rejects.toMatchObject({ code: 'ERR_KEY_TOO_LARGE', message: expect.stringMatching(/Key 2 of a batch of 2 puts is 65537 bytes/) })
    // What the issue found: a key just under the old 16 MiB command limit.
    await expect(put(Buffer.alloc(16 * 1024 * 1024 - 5, 'k'), '')).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
    expect(server.node.status().lastIndex).toBe(before)

    const longest = Buffer.alloc(defaultMaxKeyBytes, 'm')
    expect(decodeKvResult(await put(longest, 'v'))).toEqual({ ok: true })
    await put('z', '26')
    // One key per page: every page after the longest key asks after it.
    expect((await scanAll(1)).map((key) => key.length)).toEqual([1, defaultMaxKeyBytes, 1])
  })

  it('refuses a command or a read over max_request_bytes (ERR_REQUEST_TOO_LARGE), naming the setting', async () => {
    // The session envelope and the put's header take a few dozen bytes of the request.
    await expect(put('big', Buffer.alloc(defaultMaxRequestBytes))).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE', message: expect.stringMatching(/larger than max_request_bytes \(1572864 bytes\)$/) })
    expect(decodeKvResult(await put('big', Buffer.alloc(defaultMaxRequestBytes - 100, 'v')))).toEqual({ ok: true })
    await expect(client.read(encodeKvQuery({ op: 'get', key: Buffer.alloc(defaultMaxRequestBytes, 'k') }), 10_000)).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE', message: expect.stringMatching(/refused the read: Read of \d+ bytes is larger than max_request_bytes/) })
  })

  it("refuses an etcd Put over max_request_bytes, measured on the command the log would hold, and takes one just under it", async () => {
    const kv = new etcdProtocol.KV(server.config.address, grpc.credentials.createInsecure())
    const etcdPut = (value: Buffer): Promise<unknown> =>
      new Promise((resolve, reject) => (kv as unknown as Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, response: unknown) => void) => void>).Put!({ key: Buffer.from('etcd-big'), value }, (error, response) => (error === null ? resolve(response) : reject(error))))
    try {
      const before = server.node.status().lastIndex
      await expect(etcdPut(Buffer.alloc(defaultMaxRequestBytes, 'v'))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' })
      expect(server.node.status().lastIndex).toBe(before)
      await etcdPut(Buffer.alloc(defaultMaxRequestBytes - 200, 'v'))
      expect(server.node.status().lastIndex).toBe(before + 1)
    } finally {
      kv.close()
    }
  })

  it('refuses a transaction of the wrong shape before the log: one was applied in part and answered with an error', async () => {
    const putOf = (key: string, value: unknown): unknown => ({ put: { key: Buffer.from(key), value, lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } })
    const before = server.node.status().lastIndex
    // A client's transaction is JSON: nothing but the node's check stops a value that is no bytes.
    const halfBad = { compare: [], success: [putOf('half/1', Buffer.from('v')), putOf('half/2', 5)], failure: [] } as unknown as TxnRequest
    await expect(client.propose(encodeKvCommand({ op: 'txn', txn: halfBad }), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringMatching(/operation 2 of the success branch: its value is not bytes/) })
    const unknownSort = { compare: [], success: [putOf('half/3', Buffer.from('v')), { range: { key: Buffer.from('half/'), rangeEnd: Buffer.from('half0'), limit: 0, revision: 0, sortOrder: 'ascend', sortTarget: '__proto__', keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 } }], failure: [] } as unknown as TxnRequest
    await expect(client.propose(encodeKvCommand({ op: 'txn', txn: unknownSort }), 10_000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringMatching(/sort order or target/) })
    expect(server.node.status().lastIndex).toBe(before)
    const page = decodeKvScanResult(await client.read(encodeKvQuery({ op: 'scan', prefix: 'half/', limit: 10 }), 10_000))
    expect(page.pairs).toEqual([])
  })
})
