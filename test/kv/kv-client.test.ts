// KvClient, the typed client of the store's etcd operations, against three node servers in this
// process: ranges read after a ReadIndex (no log entry), transactions and delete ranges through
// the client session (one entry, one revision), compaction, and refusals with their codes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { KvClient, prefixEnd } from '../../src/kv/kv-client.js'
import { decodeKvQuery, encodeKvQuery } from '../../src/kv/kv-query.js'
import { settled, startServers, stopServers, type Servers } from '../helpers/node-servers.js'

let cluster: Servers
let client: KvClient

beforeAll(async () => {
  cluster = await startServers(false)
  await settled(cluster)
  client = KvClient.forCluster(cluster.config, { failFast: true })
})

afterAll(async () => {
  client?.close()
  await stopServers(cluster)
})

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString()
const lastIndex = (): number => Math.max(...cluster.servers.map((server) => server.node.status().lastIndex))

describe('KvClient', () => {
  it('is a ClusterClient made by forCluster', () => {
    expect(client).toBeInstanceOf(KvClient)
    expect(typeof client.propose).toBe('function')
  })

  it('writes by txn at one revision, and ranges with prefix, limit, sort, keys and count only, at an older revision', async () => {
    const first = await client.txn({ success: [{ put: { key: 'app/a', value: '1' } }, { put: { key: 'app/b', value: '2' } }, { put: { key: 'apple', value: '3' } }] })
    expect(first.succeeded).toBe(true)
    const second = await client.txn({ success: [{ put: { key: 'app/a', value: 'one', prevKv: true } }] })
    expect(second.revision).toBe(first.revision + 1)
    expect(second.responses[0]).toMatchObject({ put: { prevKv: { value: Buffer.from('1'), modRevision: first.revision, version: 1 } } })

    const prefix = await client.range({ key: 'app/', prefix: true })
    expect(prefix.revision).toBe(second.revision)
    expect(prefix.kvs.map((kv) => [text(kv.key), text(kv.value), kv.createRevision, kv.modRevision, kv.version])).toEqual([
      ['app/a', 'one', first.revision, second.revision, 2],
      ['app/b', '2', first.revision, first.revision, 1],
    ])
    expect(await client.range({ key: 'app/', prefix: true, limit: 1 })).toMatchObject({ count: 2, more: true, kvs: [{ key: Buffer.from('app/a') }] })
    const sorted = await client.range({ key: 'app', fromKey: true, sortTarget: 'mod', sortOrder: 'descend', keysOnly: true })
    expect(sorted.kvs.map((kv) => [text(kv.key), kv.value.length])).toEqual([['app/a', 0], ['app/b', 0], ['apple', 0]])
    expect((await client.range({ key: 'app/', rangeEnd: 'app/b', countOnly: true })).count).toBe(1)
    const past = await client.range({ key: 'app/a', revision: first.revision })
    expect(past.kvs.map((kv) => text(kv.value))).toEqual(['1'])
    expect((await client.range({ key: 'absent' })).kvs).toEqual([])
  })

  it('reads without a log entry: a range and a transaction that only reads', async () => {
    await client.txn({ success: [{ put: { key: 'read/only', value: 'x' } }] })
    const before = lastIndex()
    await client.range({ key: 'read/', prefix: true })
    const outcome = await client.txn({ compare: [{ key: 'read/only', target: 'value', result: 'equal', operand: 'x' }], success: [{ range: { key: 'read/only' } }] })
    expect(outcome.succeeded).toBe(true)
    expect(outcome.responses[0]).toMatchObject({ range: { count: 1 } })
    expect(lastIndex()).toBe(before)
  })

  it('takes the failure branch when a compare fails, and applies a compare-and-put once', async () => {
    await client.txn({ success: [{ put: { key: 'counter', value: '1' } }] })
    const { kvs } = await client.range({ key: 'counter' })
    const mod = kvs[0]!.modRevision
    const casPut = { compare: [{ key: 'counter', target: 'mod' as const, result: 'equal' as const, operand: mod }], success: [{ put: { key: 'counter', value: '2' } }], failure: [{ range: { key: 'counter' } }] }
    expect((await client.txn(casPut)).succeeded).toBe(true)
    const again = await client.txn(casPut)
    expect(again.succeeded).toBe(false)
    expect(again.responses[0]).toMatchObject({ range: { kvs: [{ value: Buffer.from('2') }] } })
  })

  it('deletes a range, answering the count and the previous key-values', async () => {
    await client.txn({ success: [{ put: { key: 'del/a', value: '1' } }, { put: { key: 'del/b', value: '2' } }] })
    const deleted = await client.deleteRange({ key: 'del/', prefix: true, prevKv: true })
    expect(deleted.deleted).toBe(2)
    expect(deleted.prevKvs.map((kv) => text(kv.key))).toEqual(['del/a', 'del/b'])
    expect((await client.deleteRange({ key: 'del/a' })).deleted).toBe(0)
  })

  it('compacts, and names the revision when a read or a compaction cannot be served', async () => {
    const { revision } = await client.txn({ success: [{ put: { key: 'compact/me', value: 'x' } }] })
    expect(await client.compact(revision - 1)).toEqual({ revision, compacted: revision - 1 })
    await expect(client.range({ key: 'compact/me', revision: revision - 2 })).rejects.toMatchObject({ code: 'ERR_COMPACTED', message: `Revision ${revision - 2} was compacted: the oldest readable revision is ${revision - 1}` })
    await expect(client.range({ key: 'compact/me', revision: revision + 100 })).rejects.toMatchObject({ code: 'ERR_FUTURE_REVISION', message: expect.stringContaining(`Revision ${revision + 100} is in the future`) })
    await expect(client.compact(revision - 1)).rejects.toMatchObject({ code: 'ERR_COMPACTED' })
    await expect(client.compact(revision + 100)).rejects.toMatchObject({ code: 'ERR_FUTURE_REVISION', message: expect.stringContaining(`${revision + 100}`) })
    await expect(client.txn({ success: [{ range: { key: 'x', revision: revision - 2 } }] })).rejects.toMatchObject({ code: 'ERR_COMPACTED' })
  })

  it('refuses a malformed request before sending it', async () => {
    await expect(client.range({ key: '' })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('the key is empty') })
    await expect(client.range({ key: 'a', prefix: true, fromKey: true })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    await expect(client.range({ key: 'a', limit: -1 })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: 'range: limit must be a whole number, 0 or more, got -1' })
    await expect(client.txn({ compare: [{ key: 'a', target: 'mod', result: 'equal', operand: 'x' }] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('txn.compare[0]') })
    await expect(client.txn({ success: [{ put: { key: 'a', value: '1' } }, { put: { key: 'a', value: '2' } }] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining('duplicate key') })
    await expect(client.compact(0)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
  })
})

describe('range and read-only txn queries', () => {
  it('round-trip, and a query that writes is refused', () => {
    const range = { key: Buffer.from('k'), rangeEnd: Buffer.alloc(0), limit: 0, revision: 0, sortOrder: 'none', sortTarget: 'key', keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 } as const
    expect(decodeKvQuery(encodeKvQuery({ op: 'range', range }))).toEqual({ op: 'range', range })
    expect(() => decodeKvQuery(encodeKvQuery({ op: 'range', range: { ...range, limit: -1 } }))).toThrow(/limit is not a whole number/)
    const put = { put: { key: Buffer.from('k'), value: Buffer.from('v'), prevKv: false, ignoreValue: false, ignoreLease: false, lease: 0 } }
    expect(() => decodeKvQuery(encodeKvQuery({ op: 'txn', txn: { compare: [], success: [put], failure: [] } }))).toThrow(/a transaction that writes is a command/)
  })

  it("prefixEnd follows etcd's rule", () => {
    expect(prefixEnd(Buffer.from('app/'))).toEqual(Buffer.from('app0'))
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]))
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.of(0))
    expect(prefixEnd(Buffer.alloc(0))).toEqual(Buffer.of(0))
  })
})
