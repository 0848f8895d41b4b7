// ClusterClient's coordination helpers against three raftlog node servers in this process: watch
// as an async iterator (every event once, in order, resumed across a node's stop), leases kept
// alive, locks that are exclusive and hand out growing fencing tokens (a stale holder's fenced
// write is refused), and elections (campaign, proclaim, observe, resign).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { encodeKvCommand, decodeTxnResult } from '../../../src/kv/kv-state-machine.js'
import type { TxnRequest } from '../../../src/kv/kv-txn.js'
import { EtcdEndpoints } from '../../../src/net/client/etcd/etcd-endpoints.js'
import { acquireLock } from '../../../src/net/client/etcd/lock-handle.js'
import { campaign } from '../../../src/net/client/etcd/leadership.js'
import { RaftLogError } from '../../../src/errors.js'
import { settled, startServers, stopServers, pause, type Servers } from '../../helpers/node-servers.js'

let servers: Servers
let client: ClusterClient

beforeAll(async () => {
  servers = await startServers(false)
  await settled(servers)
  client = new ClusterClient(servers.config.nodes.map((node) => node.address))
})

afterAll(async () => {
  client.close()
  await stopServers(servers)
})

const b = (text: string): Buffer => Buffer.from(text)
async function txn(request: TxnRequest) {
  return decodeTxnResult(await client.propose(encodeKvCommand({ op: 'txn', txn: request }), 5000))
}
const put = (key: string, value: string, lease = 0) => ({ put: { key: b(key), value: b(value), lease, prevKv: false, ignoreValue: false, ignoreLease: false } })

describe('ClusterClient.watch', () => {
  it('yields every event of a prefix once, in revision order, from a past revision', async () => {
    const first = await txn({ compare: [], success: [put('cw/a', '1')], failure: [] })
    const stream = client.watch('cw/', { prefix: true, startRevision: first.revision, prevKv: true })
    const writes: number[] = [first.revision]
    for (let i = 2; i <= 6; i++) writes.push((await txn({ compare: [], success: [put(`cw/${i % 2}`, String(i))], failure: [] })).revision)
    const seen: string[] = []
    for await (const batch of stream) {
      for (const event of batch.events) seen.push(`${event.type} ${event.key}=${event.value}@${event.modRevision}`)
      if (seen.length === writes.length) break
    }
    expect(seen).toEqual(['put cw/a=1', 'put cw/0=2', 'put cw/1=3', 'put cw/0=4', 'put cw/1=5', 'put cw/0=6'].map((text, i) => `${text}@${writes[i]}`))
  })
})

describe('ClusterClient leases and locks', () => {
  it('keeps a lease alive past its TTL, and its keys go when it is revoked', async () => {
    const lease = await client.grantLease(1)
    await txn({ compare: [], success: [put('cl/k', 'v', lease.id)], failure: [] })
    await pause(2500)
    expect((await lease.timeToLive()).keys).toEqual([b('cl/k')])
    expect(lease.lost).toBeUndefined()
    await lease.revoke()
    expect((await lease.timeToLive()).ttl).toBe(-1)
    // Revoked again: gone, said with the id in hexadecimal as every command prints it.
    await expect(client.revokeLease(lease.id)).rejects.toMatchObject({ code: 'ERR_LEASE_NOT_FOUND', message: `Lease ${lease.id.toString(16)} not found: it expired or was revoked` })
  })

  it('keeps a lease of a very long TTL alive at a third of a timer\'s longest wait, not every millisecond', async () => {
    // 9,000,000 s: a third of it is over 2^31 - 1 ms, which a Node timer takes for 1 ms.
    const lease = await client.grantLease(9_000_000)
    let renewals = 0
    lease.onRenewed(() => renewals++)
    await pause(500)
    lease.close()
    expect(renewals).toBeLessThanOrEqual(1)
    await client.revokeLease(lease.id)
  })

  it('gives a lock to one holder at a time, with a larger fencing token each time; a stale token is refused', async () => {
    const first = await client.lock('locks/job', { ttlSeconds: 5 })
    let secondHeld = false
    const waiting = client.lock('locks/job', { ttlSeconds: 5 }).then((held) => {
      secondHeld = true
      return held
    })
    await pause(500)
    expect(secondHeld).toBe(false)
    // The guarded storage: a write carries its token and is refused below the largest seen (etcd's txn as the store).
    const fencedWrite = (token: number, value: string) =>
      txn({ compare: [{ key: b('locks/fence'), rangeEnd: Buffer.alloc(0), target: 'value', result: 'less', operand: b(String(token).padStart(12, '0')) }], success: [put('locks/fence', String(token).padStart(12, '0')), put('locks/data', value)], failure: [] })
    await txn({ compare: [], success: [put('locks/fence', '000000000000')], failure: [] })
    expect((await fencedWrite(first.fencingToken, 'from first')).succeeded).toBe(true)
    await first.unlock()
    const second = await waiting
    expect(second.fencingToken).toBeGreaterThan(first.fencingToken)
    expect((await fencedWrite(second.fencingToken, 'from second')).succeeded).toBe(true)
    // The first holder, paused while it lost the lock, tries again with its old token: refused.
    expect((await fencedWrite(first.fencingToken, 'stale')).succeeded).toBe(false)
    await second.unlock()
  })

  it('frees the lock of a holder whose lease ends (a crashed holder)', async () => {
    const lease = await client.grantLease(1, { keepAlive: false })
    const crashed = await client.lock('locks/crash', { lease })
    const next = await client.lock('locks/crash', { ttlSeconds: 5, timeoutMs: 10_000 })
    expect(next.fencingToken).toBeGreaterThan(crashed.fencingToken)
    await next.unlock()
  })

  it('stops waiting when the wait times out, and leaves no key behind it', async () => {
    const holder = await client.lock('locks/busy', { ttlSeconds: 5 })
    await expect(client.lock('locks/busy', { ttlSeconds: 5, timeoutMs: 500 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT', message: 'Lock locks/busy not taken within 500 ms (another holder kept it, or no leader answered)' })
    await holder.unlock()
    const after = await client.lock('locks/busy', { ttlSeconds: 5, timeoutMs: 5000 })
    await after.unlock()
  })
})

describe('LockHandle.unlock', () => {
  it("frees the lock when the Unlock call fails: the lock's own lease is revoked all the same, not kept alive holding it", async () => {
    const endpoints = new EtcdEndpoints(servers.config.nodes.map((node) => node.address), grpc.credentials.createInsecure())
    const failing = Object.create(endpoints) as EtcdEndpoints
    failing.unary = <T>(service: Parameters<EtcdEndpoints['unary']>[0], method: string, request: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> =>
      method === 'Unlock' ? Promise.reject(new RaftLogError('ERR_UNAVAILABLE', 'Lock.Unlock: no node answered')) : endpoints.unary<T>(service, method, request, timeoutMs, signal)
    try {
      const held = await acquireLock(failing, 'locks/unlock-failed', { ttlSeconds: 30 })
      await expect(held.unlock()).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' })
      const next = await client.lock('locks/unlock-failed', { ttlSeconds: 5, timeoutMs: 3000 })
      await next.unlock()
    } finally {
      endpoints.close()
    }
  })
})

describe('ClusterClient locks and campaigns on a lease of the caller', () => {
  // The node may grant a Lock (or a Campaign) just as the caller gives up (its timeout, or its
  // signal): the answer is lost, and with a lease the caller keeps alive, the lock stayed held for no one.
  const opened: EtcdEndpoints[] = []
  afterAll(() => {
    for (const endpoints of opened) endpoints.close()
  })
  const answerLost = (methods: string[]): EtcdEndpoints => {
    const endpoints = new EtcdEndpoints(servers.config.nodes.map((node) => node.address), grpc.credentials.createInsecure())
    opened.push(endpoints)
    const lossy = Object.create(endpoints) as EtcdEndpoints
    lossy.unary = async <T>(service: Parameters<EtcdEndpoints['unary']>[0], method: string, request: unknown, timeoutMs: number, signal?: AbortSignal): Promise<T> => {
      const answer = await endpoints.unary<T>(service, method, request, timeoutMs, signal)
      if (methods.includes(method)) throw new RaftLogError('ERR_TIMEOUT', `${service}.${method}: Deadline exceeded`)
      return answer
    }
    return lossy
  }

  it('a Lock whose answer is lost as it times out leaves no holder behind it', async () => {
    const lease = await client.grantLease(30)
    try {
      await expect(acquireLock(answerLost(['Lock']), 'locks/lost', { lease, timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
      const next = await client.lock('locks/lost', { ttlSeconds: 5, timeoutMs: 3000 })
      await next.unlock()
    } finally {
      await lease.revoke()
    }
  })

  it('a Campaign whose answer is lost as it times out leaves no leader behind it', async () => {
    const lease = await client.grantLease(30)
    try {
      await expect(campaign(answerLost(['Campaign']), 'elect/lost', 'ghost', { lease, timeoutMs: 2000 })).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
      expect(await client.electionLeader('elect/lost')).toBeUndefined()
    } finally {
      await lease.revoke()
    }
  })
})

describe('ClusterClient elections', () => {
  it('campaigns, proclaims, observes the leaders in turn, and resigns', async () => {
    const observed: string[] = []
    const observer = client.observeElection('elect/e')
    const watching = (async () => {
      for await (const leader of observer) {
        observed.push(leader.value.toString())
        if (observed.length === 3) break
      }
    })()
    const one = await client.campaign('elect/e', 'one', { ttlSeconds: 5 })
    const second = client.campaign('elect/e', 'two', { ttlSeconds: 5 })
    await pause(300)
    expect((await client.electionLeader('elect/e'))?.value.toString()).toBe('one')
    await one.proclaim('one again')
    await one.resign()
    const two = await second
    expect(two.fencingToken).toBeGreaterThan(one.fencingToken)
    await watching
    expect(observed).toEqual(['one', 'one again', 'two'])
    await expect(one.proclaim('too late')).rejects.toMatchObject({ code: 'ERR_NOT_ELECTION_LEADER' })
    await two.resign()
    expect(await client.electionLeader('elect/e')).toBeUndefined()
  })
})

describe('ClusterClient with a stale endpoint', () => {
  it('passes over an address where another kind of server took the port (UNIMPLEMENTED), for commands, leases and watches', async () => {
    // A gRPC server with no services: what a stopped node's port answers once a many-group node
    // (or anything else speaking gRPC) has taken it.
    const stranger = new grpc.Server()
    const port = await new Promise<number>((resolve, reject) => stranger.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const endpoints = [`127.0.0.1:${port}`, ...servers.config.nodes.map((node) => node.address)]
    const stale = new ClusterClient(endpoints)
    // Each kind of call starts at the first endpoint on a client of its own.
    const watcher = new ClusterClient(endpoints)
    try {
      const written = await txn({ compare: [], success: [put('stale/a', '1')], failure: [] })
      const result = decodeTxnResult(await stale.propose(encodeKvCommand({ op: 'txn', txn: { compare: [], success: [put('stale/b', '2')], failure: [] } }), 5000))
      expect(result.succeeded).toBe(true)
      const lease = await stale.grantLease(5, { keepAlive: false })
      expect((await lease.timeToLive()).ttl).toBeGreaterThan(0)
      await lease.revoke()
      const stream = watcher.watch('stale/', { prefix: true, startRevision: written.revision })
      const seen: string[] = []
      for await (const batch of stream) {
        for (const event of batch.events) seen.push(`${event.key}=${event.value}`)
        if (seen.length === 2) break
      }
      expect(seen).toEqual(['stale/a=1', 'stale/b=2'])
    } finally {
      stale.close()
      watcher.close()
      stranger.forceShutdown()
    }
  })

  it('says ERR_MANY_GROUPS only when every endpoint answers UNIMPLEMENTED', async () => {
    const stranger = new grpc.Server()
    const port = await new Promise<number>((resolve, reject) => stranger.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const lost = new ClusterClient([`127.0.0.1:${port}`])
    try {
      await expect(lost.propose(encodeKvCommand({ op: 'txn', txn: { compare: [], success: [put('stale/c', '3')], failure: [] } }), 5000)).rejects.toMatchObject({ code: 'ERR_MANY_GROUPS' })
      const stream = lost.watch('stale/')
      await expect((async () => { for await (const _ of stream) return 'event' })()).rejects.toMatchObject({ code: 'ERR_MANY_GROUPS' })
    } finally {
      lost.close()
      stranger.forceShutdown()
    }
  })
})
