// etcd's own Node client (the `etcd3` package) against three raftlog node servers in this
// process: what it writes through any node (a follower forwards to the leader) it reads back with
// the revisions etcd would give; transactions, compaction, Status and MemberList; the services
// raftlog does not serve answer UNIMPLEMENTED in words. Plaintext, and under client_cert_auth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

let plain: Servers
let secure: Servers

beforeAll(async () => {
  plain = await startServers(false)
  secure = await startServers(true)
  await Promise.all([settled(plain), settled(secure)])
})

afterAll(async () => {
  await stopServers(plain)
  await stopServers(secure)
})

const address = (servers: Servers, id: number): string => (servers.config.nodes.find((node) => node.nodeId === id) as { address: string }).address

/** A client that knows one node only: no client-side failover hides where a call went. */
function clientOf(servers: Servers, id: number): Etcd3 {
  const tls = servers.certs !== undefined
  const certs = servers.certs ?? ''
  return new Etcd3({
    hosts: `${tls ? 'https' : 'http'}://${address(servers, id)}`,
    ...(tls ? { credentials: { rootCertificate: readFileSync(join(certs, 'ca.crt')), certChain: readFileSync(join(certs, 'client.crt')), privateKey: readFileSync(join(certs, 'client.key')) } } : {}),
  })
}

async function followerId(servers: Servers): Promise<number> {
  const { follower } = await settled(servers)
  return follower.node.id
}

describe('the etcd3 client against raftlog', () => {
  it('puts through a follower and reads back with create/mod revision and version', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      const first = await client.put('etcd/a').value('1').exec()
      const second = await client.put('etcd/a').value('2').exec()
      expect(Number(second.header.revision)).toBe(Number(first.header.revision) + 1)
      const got = await client.get('etcd/a').exec()
      expect(got.kvs[0]).toMatchObject({ value: Buffer.from('2'), version: '2', create_revision: first.header.revision, mod_revision: second.header.revision })
      expect(await client.get('etcd/a').revision(first.header.revision).string()).toBe('1')
      await client.put('etcd/b').value('3')
      expect(await client.getAll().prefix('etcd/').strings()).toEqual({ 'etcd/a': '2', 'etcd/b': '3' })
      expect(await client.getAll().prefix('etcd/').count()).toBe(2)
      expect(await client.getAll().prefix('etcd/').sort('Key', 'Descend').keys()).toEqual(['etcd/b', 'etcd/a'])
      expect(Number((await client.delete().prefix('etcd/').exec()).deleted)).toBe(2)
      expect(await client.get('etcd/a').string()).toBeNull()
    } finally {
      client.close()
    }
  })

  it('runs a transaction atomically: if/then/else at one revision', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      await client.put('txn/k').value('v')
      const before = Number((await client.get('txn/k').exec()).header.revision)
      const result = await client.if('txn/k', 'Value', '==', 'v').then(client.put('txn/k').value('w'), client.put('txn/other').value('x')).else(client.put('txn/k').value('lost')).commit()
      expect(result.succeeded).toBe(true)
      expect(Number(result.header.revision)).toBe(before + 1)
      const kvs = (await client.getAll().prefix('txn/').exec()).kvs
      expect(kvs.map((kv) => [kv.key.toString(), kv.value.toString(), Number(kv.mod_revision)])).toEqual([
        ['txn/k', 'w', before + 1],
        ['txn/other', 'x', before + 1],
      ])
      const failed = await client.if('txn/k', 'Version', '>', 5).then(client.put('txn/k').value('no')).else(client.get('txn/k')).commit()
      expect(failed.succeeded).toBe(false)
      expect(await client.get('txn/k').string()).toBe('w')
    } finally {
      client.close()
    }
  })

  it('compacts: an older revision is refused with etcd\'s words, the compacted one still reads', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      const one = await client.put('compact/k').value('1').exec()
      await client.put('compact/k').value('2')
      const three = await client.put('compact/k').value('3').exec()
      await client.kv.compact({ revision: Number(three.header.revision) - 1 })
      expect(await client.get('compact/k').revision(Number(three.header.revision) - 1).string()).toBe('2')
      await expect(client.get('compact/k').revision(one.header.revision).string()).rejects.toThrow(/required revision has been compacted/)
      await expect(client.get('compact/k').revision(Number(three.header.revision) + 100).string()).rejects.toThrow(/required revision is a future revision/)
    } finally {
      client.close()
    }
  })

  it('answers Status and MemberList, and UNIMPLEMENTED for the services raftlog does not serve', async () => {
    const client = clientOf(plain, 1)
    try {
      const status = await client.maintenance.status()
      expect(status.version).toMatch(/^3\.4\.0\+raftlog\./)
      expect(Number(status.leader)).toBe((await settled(plain)).leader.node.id)
      const members = await client.cluster.memberList({})
      expect(members.members.map((member) => [member.ID, member.name, member.clientURLs])).toEqual([1, 2, 3].map((id) => [String(id), `node_${id}`, [`http://${address(plain, id)}`]]))
      await expect(client.lease(10).grant()).rejects.toThrow(/raftlog does not serve etcdserverpb.Lease\/LeaseGrant yet/)
    } finally {
      client.close()
    }
  })
})

describe('the etcd3 client under client_cert_auth', () => {
  it('writes through a follower (forwarded with the node\'s certificate) and reads back', async () => {
    const client = clientOf(secure, await followerId(secure))
    try {
      await client.put('tls/k').value('secret')
      expect(await client.get('tls/k').string()).toBe('secret')
    } finally {
      client.close()
    }
  })

  it('refuses a caller without a client certificate (at the TLS handshake)', async () => {
    const certs = secure.certs as string
    const client = new Etcd3({ hosts: `https://${address(secure, 1)}`, credentials: { rootCertificate: readFileSync(join(certs, 'ca.crt')) } })
    try {
      await expect(client.get('tls/k').string()).rejects.toThrow(/certificate required/)
    } finally {
      client.close()
    }
  })
})
