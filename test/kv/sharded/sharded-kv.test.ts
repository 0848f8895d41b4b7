// raftlog's key-value store over 16 groups on three hosts served over gRPC: keys spread over the
// groups by hash, each written at its group's leader and read back linearizably (a ReadIndex at
// any host), a scan merging every group in key order, a transaction within one group, and one
// across groups refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startShardedKvHost, type ShardedKvHost } from '../../../src/kv/sharded/sharded-kv-host.js'
import { ShardedKvClient } from '../../../src/kv/sharded/sharded-kv-client.js'
import { shardOf } from '../../../src/kv/sharded/shard-of.js'
import { freePorts } from '../../helpers/processes.js'
import { HostClient } from '../../../src/net/client/host-client.js'
import { encodeKvCommand } from '../../../src/kv/kv-state-machine.js'
import { encodeKvQuery } from '../../../src/kv/kv-query.js'

const groups = 16
let dirs: string[] = []
let servers: ShardedKvHost[] = []
let client: ShardedKvClient
let hostList: { id: number; address: string }[] = []

beforeAll(async () => {
  const ports = await freePorts(3)
  const hosts = ports.map((port, i) => ({ id: i + 1, address: `127.0.0.1:${port}` }))
  hostList = hosts
  dirs = hosts.map(() => mkdtempSync(join(tmpdir(), 'raftlog-sharded-')))
  servers = await Promise.all(hosts.map((host, i) => startShardedKvHost({ nodeId: host.id, hosts, dir: dirs[i] as string, groups })))
  client = new ShardedKvClient(hosts, groups, 15_000)
})

afterAll(async () => {
  client.close()
  for (const server of servers) await server.stop()
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

describe('the key-value store over many groups', () => {
  it('spreads keys over the groups by hash, the same for every client', () => {
    const owners = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`user/${i}`, groups)))
    expect(owners.size).toBe(groups)
    expect(shardOf('user/7', groups)).toBe(shardOf(Buffer.from('user/7'), groups))
  })

  it('writes each key at its group and reads it back from any host; a scan merges every group in key order', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `user/${String(i).padStart(3, '0')}`)
    await Promise.all(keys.map((key) => client.put(key, `v-${key}`)))
    for (const key of keys) expect((await client.get(key))?.toString()).toBe(`v-${key}`)
    expect(await client.get('user/none')).toBeNull()
    // Each key lives in its own group's store only.
    const key = keys[5] as string
    const owner = client.groupOf(key)
    for (const server of servers) for (const [group, store] of server.stores) expect(store.get(key) !== null).toBe(group === owner)
    const scanned = await client.scan('user/')
    expect(scanned.map(([k]) => k.toString())).toEqual(keys)
    expect((await client.scan('user/', 7)).map(([k]) => k.toString())).toEqual(keys.slice(0, 7))
    // A limit of 0 asks for nothing; one that is not a count is the caller's mistake, said as such.
    expect(await client.scan('user/', 0)).toEqual([])
    for (const limit of [-1, 2.5, Number.NaN]) await expect(client.scan('user/', limit)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT' })
    expect(await client.cas(key, `v-${key}`, 'changed')).toBe(true)
    expect(await client.delete(key)).toBe(true)
    expect(await client.get(key)).toBeNull()
  })

  it('runs a transaction on one group, and refuses one across groups or over a range', async () => {
    const a = 'acct/a'
    const sameGroup = Array.from({ length: 500 }, (_, i) => `acct/${i}`).find((key) => key !== a && shardOf(key, groups) === shardOf(a, groups)) as string
    const otherGroup = Array.from({ length: 500 }, (_, i) => `acct/${i}`).find((key) => shardOf(key, groups) !== shardOf(a, groups)) as string
    const outcome = await client.txn({ compare: [{ key: a, target: 'version', result: 'equal', operand: 0 }], success: [{ put: { key: a, value: '1' } }, { put: { key: sameGroup, value: '2' } }] })
    expect(outcome.succeeded).toBe(true)
    expect([(await client.get(a))?.toString(), (await client.get(sameGroup))?.toString()]).toEqual(['1', '2'])
    await expect(client.txn({ success: [{ put: { key: a, value: 'x' } }, { put: { key: otherGroup, value: 'y' } }] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/a transaction keeps to one group's keys/) })
    await expect(client.txn({ success: [{ deleteRange: { key: 'acct/', prefix: true } }] })).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/spans groups/) })
  })

  it('refuses before the log what every replica would refuse, or what is over max_request_bytes', async () => {
    const raw = new HostClient(hostList)
    try {
      const group = client.groupOf('refused/key')
      await client.put('refused/key', 'kept')
      const lastIndexes = () => servers.map((server) => server.engine.lastIndex(group))
      const before = lastIndexes()
      await expect(raw.propose(group, Buffer.from('not a command'), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND' })
      await expect(raw.propose(group, encodeKvCommand({ op: 'leaseCheckpoint', proposedAt: 1, checkpoints: [] }), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringMatching(/written by the leader's lease clock/) })
      await expect(raw.propose(group, encodeKvCommand({ op: 'put', key: 'refused/key', value: 'x'.repeat(2 * 1024 * 1024) }), 5000)).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
      await expect(raw.propose(group, encodeKvCommand({ op: 'put', key: 'k'.repeat(70_000), value: 'v' }), 5000)).rejects.toMatchObject({ code: 'ERR_KEY_TOO_LARGE' })
      // A read is held to the same limit (it waits for a ReadIndex, its query in memory meanwhile).
      await expect(raw.read(group, encodeKvQuery({ op: 'get', key: 'k'.repeat(2 * 1024 * 1024) }), 5000)).rejects.toMatchObject({ code: 'ERR_REQUEST_TOO_LARGE' })
      // Nothing reached a log; a good command still goes through.
      expect(lastIndexes()).toEqual(before)
      await client.put('refused/key', 'after')
      expect((await client.get('refused/key'))?.toString()).toBe('after')
    } finally {
      raw.close()
    }
  })

  it("refuses a key another group owns: a raw client's write there would show twice in every scan, and no get would find it", async () => {
    const raw = new HostClient(hostList)
    try {
      const key = 'planted/key'
      const owner = shardOf(key, groups)
      const other = (owner % groups) + 1
      await client.put(key, 'right')
      const refused = { code: 'ERR_BAD_COMMAND', message: expect.stringMatching(new RegExp(`group ${owner}`)) }
      await expect(raw.propose(other, encodeKvCommand({ op: 'put', key, value: 'wrong' }), 5000)).rejects.toMatchObject(refused)
      await expect(raw.propose(other, encodeKvCommand({ op: 'batch', puts: [{ key, value: 'wrong' }] }), 5000)).rejects.toMatchObject(refused)
      await expect(raw.propose(other, encodeKvCommand({ op: 'txn', txn: { compare: [], success: [{ put: { key: Buffer.from(key), value: Buffer.from('wrong'), prevKv: false, ignoreValue: false, ignoreLease: false, lease: 0 } }], failure: [] } }), 5000)).rejects.toMatchObject(refused)
      expect((await client.scan('planted/')).map(([k, v]) => `${k.toString()}=${v.toString()}`)).toEqual([`${key}=right`])
    } finally {
      raw.close()
    }
  })
})
