// etcd's own Node client (the `etcd3` package) against three raftlog node servers in this
// process: what it writes through any node (a follower forwards to the leader) it reads back with
// the revisions etcd would give; transactions, compaction, Status, MemberList, MemberAdd,
// MemberPromote and MemberRemove; the services raftlog does not serve answer UNIMPLEMENTED in
// words. Plaintext, and under client_cert_auth.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
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
      await expect(client.maintenance.defragment({})).rejects.toThrow(/raftlog does not serve etcdserverpb.Maintenance\/Defragment yet/)
    } finally {
      client.close()
    }
  })
})

describe('membership through the etcd3 client', () => {
  it('adds a learner (the leader picks the next id, never a removed one), refuses to promote it while it does not run, removes it', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      const url = 'http://127.0.0.1:1'
      const added = await client.cluster.memberAdd({ peerURLs: [url], isLearner: true })
      const id = Number(added.member.ID)
      expect(id).toBeGreaterThan(3)
      expect(added.member).toMatchObject({ name: `node_${id}`, peerURLs: [url], isLearner: true })
      expect(added.members.map((member) => [Number(member.ID), member.isLearner])).toEqual([[1, false], [2, false], [3, false], [id, true]])
      await expect(client.cluster.memberAdd({ peerURLs: [url] })).rejects.toThrow(/etcdserver: Peer URLs already exists/)
      await expect(client.cluster.memberPromote({ ID: String(id) })).rejects.toThrow(/etcdserver: can only promote a learner member which is in sync with leader/)
      await expect(client.cluster.memberPromote({ ID: '1' })).rejects.toThrow(/etcdserver: can only promote a learner member$/)
      const removed = await client.cluster.memberRemove({ ID: String(id) })
      expect(removed.members.map((member) => Number(member.ID))).toEqual([1, 2, 3])
      await expect(client.cluster.memberRemove({ ID: String(id) })).rejects.toThrow(/etcdserver: member not found/)
      const again = await client.cluster.memberAdd({ peerURLs: [url], isLearner: true })
      expect(Number(again.member.ID)).toBe(id + 1)
      await client.cluster.memberRemove({ ID: again.member.ID })
    } finally {
      client.close()
    }
  })

  it('refuses membership changes to a caller without a certificate when client_cert_auth is off, as raftlog member does', async () => {
    const peerOnly = await startServers(true, {}, { clientCertAuth: false })
    try {
      const follower = await followerId(peerOnly)
      const anonymous = new Etcd3({ hosts: `https://${address(peerOnly, follower)}`, credentials: { rootCertificate: readFileSync(join(peerOnly.certs as string, 'ca.crt')) } })
      try {
        // Keys and the member list are anyone's here; changes are not.
        expect((await anonymous.cluster.memberList({})).members).toHaveLength(3)
        await expect(anonymous.cluster.memberAdd({ peerURLs: ['https://127.0.0.1:1'], isLearner: true })).rejects.toThrow(/Membership and leadership calls to a cluster with TLS need a client certificate signed by the cluster CA/)
        await expect(anonymous.cluster.memberRemove({ ID: '1' })).rejects.toThrow(/need a client certificate/)
        await expect(anonymous.cluster.memberPromote({ ID: '1' })).rejects.toThrow(/need a client certificate/)
        await expect(anonymous.cluster.memberUpdate({ ID: '1', peerURLs: ['https://127.0.0.1:1'] })).rejects.toThrow(/need a client certificate/)
      } finally {
        anonymous.close()
      }
      // With the client certificate, through the follower (which passes it on to the leader under its own).
      const client = clientOf(peerOnly, follower)
      try {
        const added = await client.cluster.memberAdd({ peerURLs: ['https://127.0.0.1:1'], isLearner: true })
        await client.cluster.memberRemove({ ID: added.member.ID })
      } finally {
        client.close()
      }
    } finally {
      await stopServers(peerOnly)
    }
  })

  it('takes https:// peer URLs on a TLS cluster and refuses http://, naming the URL', async () => {
    const client = clientOf(secure, await followerId(secure))
    try {
      await expect(client.cluster.memberAdd({ peerURLs: ['http://127.0.0.1:1'], isLearner: true })).rejects.toThrow(/given member URLs are invalid: "http:\/\/127.0.0.1:1" is not https:\/\/: this cluster serves TLS/)
      const added = await client.cluster.memberAdd({ peerURLs: ['https://127.0.0.1:1'], isLearner: true })
      expect(added.member.peerURLs).toEqual(['https://127.0.0.1:1'])
      await client.cluster.memberRemove({ ID: added.member.ID })
    } finally {
      client.close()
    }
  })
})

/** Resolves once `check` holds, polling; fails after `ms`. */
async function eventually(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const until = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe('watch through the etcd3 client', () => {
  it('reports every event of a prefix once, in revision order, live and replayed from a past revision', async () => {
    const watching = clientOf(plain, await followerId(plain))
    const writer = clientOf(plain, (await settled(plain)).leader.node.id)
    try {
      const start = Number((await writer.put('w/first').value('0').exec()).header.revision)
      const seen: string[] = []
      const watcher = await watching.watch().prefix('w/').startRevision(String(start)).create()
      watcher.on('put', (kv) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}@${kv.mod_revision}`))
      watcher.on('delete', (kv) => seen.push(`delete ${kv.key.toString()}@${kv.mod_revision}`))
      const expected = [`put w/first=0@${start}`]
      for (let i = 1; i <= 20; i++) {
        const revision = Number((await writer.put(`w/${i % 3}`).value(String(i)).exec()).header.revision)
        expected.push(`put w/${i % 3}=${i}@${revision}`)
      }
      const deleted = Number((await writer.delete().key('w/first').exec()).header.revision)
      expected.push(`delete w/first@${deleted}`)
      await writer.put('other/x').value('not watched')
      await eventually(() => seen.length >= expected.length, 5000, `${expected.length} events`)
      expect(seen).toEqual(expected)
      await watcher.cancel()
    } finally {
      watching.close()
      writer.close()
    }
  })

  it('gives the previous value on request, cancels a watch from a compacted revision in etcd\'s words, and replays from the compaction point', async () => {
    // At the leader: a follower serves a watch from its own store, which may not have applied the compaction yet.
    const client = clientOf(plain, (await settled(plain)).leader.node.id)
    try {
      const first = Number((await client.put('wc/k').value('a').exec()).header.revision)
      await client.put('wc/k').value('b')
      const third = Number((await client.put('wc/k').value('c').exec()).header.revision)
      const previous: string[] = []
      const watcher = await client.watch().key('wc/k').startRevision(String(third)).withPreviousKV().create()
      watcher.on('put', (kv, prev) => previous.push(`${kv.value.toString()}<${prev?.value.toString() ?? '-'}`))
      await eventually(() => previous.length === 1, 5000, 'the replayed put')
      expect(previous).toEqual(['c<b'])
      await watcher.cancel()
      await client.kv.compact({ revision: String(third) })
      const errors: Error[] = []
      // etcd answers "created", then "canceled" at once: listen before the watch is created.
      const stale = client.watch().key('wc/k').startRevision(String(first)).watcher()
      stale.on('error', (error) => errors.push(error))
      await eventually(() => errors.length > 0, 5000, 'the compacted answer')
      expect(errors[0]?.message).toMatch(/required revision has been compacted/)
      // From the compaction point itself, as etcd: its events replay (a client told "compacted
      // at R" starts again from R).
      const fromPoint: string[] = []
      const resumed = await client.watch().key('wc/k').startRevision(String(third)).create()
      resumed.on('put', (kv) => fromPoint.push(kv.value.toString()))
      await eventually(() => fromPoint.length === 1, 5000, 'the put at the compaction point')
      expect(fromPoint).toEqual(['c'])
      await resumed.cancel()
    } finally {
      client.close()
    }
  })
})

describe('watch responses shared by many watchers', () => {
  it('gives each watcher of a key its own watch id (1-, 2- and 3-byte varints) over the shared encoding, with and without previous values', async () => {
    const { leader } = await settled(plain)
    const watchClient = new etcdProtocol.Watch(address(plain, leader.node.id), grpc.credentials.createInsecure())
    const writer = clientOf(plain, leader.node.id)
    const stream = (watchClient as unknown as { Watch(): grpc.ClientDuplexStream<unknown, unknown> }).Watch()
    // The cancel at the end ends the stream with CANCELLED: expected.
    stream.on('error', () => {})
    try {
      const ids = [1, 200, 70_000]
      const seen = new Map<number, string[]>()
      let created = 0
      stream.on('data', (response: { watch_id: number; created: boolean; events: { kv: { value: Buffer; mod_revision: number }; prev_kv: { value: Buffer } | null }[] }) => {
        if (response.created) created++
        for (const event of response.events) seen.set(response.watch_id, [...(seen.get(response.watch_id) ?? []), `${event.kv.value.toString()}<${event.prev_kv?.value.toString() ?? '-'}`])
      })
      await writer.put('shared/k').value('a')
      for (const id of ids) stream.write({ create_request: { key: Buffer.from('shared/k'), watch_id: id, prev_kv: id === 200 } })
      await eventually(() => created === ids.length, 5000, 'the watches created')
      await writer.put('shared/k').value('b')
      await writer.put('shared/k').value('c')
      await eventually(() => ids.every((id) => (seen.get(id)?.length ?? 0) >= 2), 5000, 'two events per watcher')
      expect(Object.fromEntries(seen)).toEqual({ 1: ['b<-', 'c<-'], 200: ['b<a', 'c<b'], 70000: ['b<-', 'c<-'] })
    } finally {
      stream.cancel()
      watchClient.close()
      writer.close()
    }
  })
})

describe('leases through the etcd3 client', () => {
  it('attach keys that vanish together when the lease is revoked, and tell their TTL and keys', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      const lease = client.lease(30, { autoKeepAlive: false })
      const id = await lease.grant()
      await lease.put('lease/a').value('1')
      await lease.put('lease/b').value('2')
      await client.put('lease/c').value('3')
      const ttl = await client.leaseClient.leaseTimeToLive({ ID: id, keys: true })
      expect([Number(ttl.grantedTTL), ttl.keys.map(String)]).toEqual([30, ['lease/a', 'lease/b']])
      expect(Number(ttl.TTL)).toBeGreaterThan(25)
      expect((await client.leaseClient.leaseLeases()).leases.map((status) => status.ID)).toContain(id)
      const before = Number((await client.get('lease/c').exec()).header.revision)
      await lease.revoke()
      const after = await client.getAll().prefix('lease/').exec()
      expect(after.kvs.map((kv) => kv.key.toString())).toEqual(['lease/c'])
      // Both keys went at one revision.
      expect(Number(after.header.revision)).toBe(before + 1)
      expect(Number((await client.leaseClient.leaseTimeToLive({ ID: id })).TTL)).toBe(-1)
    } finally {
      client.close()
    }
  })

  it('keep a lease alive through a follower, and let one without keep-alives expire', async () => {
    const client = clientOf(plain, await followerId(plain))
    try {
      const kept = client.lease(1)
      await kept.put('alive/k').value('v')
      const dropped = client.lease(1, { autoKeepAlive: false })
      await dropped.put('expires/k').value('v')
      await eventually(async () => (await client.get('expires/k').string()) === null, 5000, 'the lease without keep-alives to expire')
      // Three TTLs later the kept lease's key is still there.
      await new Promise((resolve) => setTimeout(resolve, 3000))
      expect(await client.get('alive/k').string()).toBe('v')
      await kept.revoke()
      expect(await client.get('alive/k').string()).toBeNull()
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
