// A follower passes Lock and Campaign to the leader, and they wait there while the lock is held.
// They shared one connection to the leader with every other call the follower forwards, and a
// connection carries at most max_concurrent_streams (256) calls: 256 waiting locks of one client
// left every write through that follower waiting too. Waits now have connections of their own.
// Keep-alive streams were passed on one leader stream each, so 256 of one client's left every
// other client's keep-alives through that follower unanswered (their leases ran out): they now
// share one stream to the leader. The connections for waits take 200 calls each, so waits for one
// lock never hold back a Lock of another name; and a wait its client cancels is cancelled on the
// leader too (it stayed there, took its place in the lock's queue and was granted the lock for no one).
import { afterAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
import { settled } from '../../helpers/node-servers.js'
import { useEtcdCluster } from '../../helpers/etcd-cluster.js'

const cluster = useEtcdCluster()
const { call } = cluster
/** Clients made by hand (on the connections a test needs). */
const clients: grpc.Client[] = []
afterAll(() => {
  for (const client of clients) client.close()
})

/** A lease client and a Lock client at the leader, a Lock client through a follower, and a grant of leases of `ttl` seconds. */
async function locksThroughFollower(ttl: number): Promise<{ holderLock: grpc.Client; viaFollower: grpc.Client; grant: () => Promise<number> }> {
  const { follower, leader } = await settled(cluster.servers)
  const lease = cluster.client('Lease', leader.node.id)
  const grant = async (): Promise<number> => Number((await call<{ ID: number }>(lease, 'LeaseGrant', { TTL: ttl }, 10_000)).ID)
  return { holderLock: cluster.client('Lock', leader.node.id), viaFollower: cluster.client('Lock', follower.node.id), grant }
}

describe('calls a follower passes to the leader', () => {
  it("another client's write through a follower goes on while 300 locks wait through it", async () => {
    const { follower } = await settled(cluster.servers)
    const address = cluster.servers.config.nodes.find((node) => node.nodeId === follower.node.id)?.address as string
    // Another client's connection writes: one connection carries 256 calls at most, the waits of this one included.
    const [kv, lease, lock] = (['KV', 'Lease', 'Lock'] as const).map((service) => new etcdProtocol[service](address, grpc.credentials.createInsecure(), service === 'KV' ? { 'grpc.use_local_subchannel_pool': 1 } : {}))
    clients.push(kv as grpc.Client, lease as grpc.Client, lock as grpc.Client)
    const grant = async (): Promise<number> => Number((await call<{ ID: number }>(lease as grpc.Client, 'LeaseGrant', { TTL: 60 }, 10_000)).ID)
    await call(lock as grpc.Client, 'Lock', { name: Buffer.from('held'), lease: await grant() }, 10_000)
    const waiters = await Promise.all(Array.from({ length: 300 }, grant))
    // Each wait is cancelled once the write is answered: they would hold until their deadline.
    const calls: grpc.ClientUnaryCall[] = []
    const waits = waiters.map((id) => new Promise<void>((resolve) => calls.push((lock as unknown as Record<string, (request: unknown, options: grpc.CallOptions, callback: () => void) => grpc.ClientUnaryCall>).Lock!({ name: Buffer.from('held'), lease: id }, { deadline: Date.now() + 30_000 }, () => resolve()))))
    // Every wait has reached the follower and been passed on.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    await expect(call(kv as grpc.Client, 'Put', { key: Buffer.from('still'), value: Buffer.from('writable') }, 5000)).resolves.toBeDefined()
    for (const waiting of calls) waiting.cancel()
    await Promise.all(waits)
    for (const client of [lock, lease]) (client as grpc.Client).close()
  }, 60_000)

  it('a waiting Lock its client cancels through a follower leaves the queue: it is never granted to no one', async () => {
    const { holderLock, viaFollower, grant } = await locksThroughFollower(60)
    const name = Buffer.from('handed-on')
    const held = await call<{ key: Buffer }>(holderLock, 'Lock', { name, lease: await grant() }, 10_000)
    // A waiter through the follower gives up (etcdctl lock with a timeout, say).
    const waiting = (viaFollower as unknown as { Lock(request: unknown, options: grpc.CallOptions, callback: () => void): grpc.ClientUnaryCall }).Lock({ name, lease: await grant() }, { deadline: Date.now() + 30_000 }, () => undefined)
    await new Promise((resolve) => setTimeout(resolve, 500))
    waiting.cancel()
    await new Promise((resolve) => setTimeout(resolve, 500))
    await call(holderLock, 'Unlock', { key: held.key }, 10_000)
    // The next comer gets it; a waiter left behind on the leader would hold it for as long as its lease lives.
    await expect(call(viaFollower, 'Lock', { name, lease: await grant() }, 5000)).resolves.toMatchObject({ key: expect.any(Buffer) })
  }, 60_000)

  it('a lock no one holds is granted through a follower while 300 locks of other clients wait through it', async () => {
    const { follower } = await settled(cluster.servers)
    const address = cluster.servers.config.nodes.find((node) => node.nodeId === follower.node.id)?.address as string
    const own = { 'grpc.use_local_subchannel_pool': 1 }
    // Two clients of 150 waits each (a connection to the follower carries 256 calls at most), and a third.
    const [lease, first, second, third] = ['Lease', 'Lock', 'Lock', 'Lock'].map((service) => new etcdProtocol[service as 'Lease' | 'Lock'](address, grpc.credentials.createInsecure(), own) as grpc.Client)
    clients.push(lease!, first!, second!, third!)
    const grant = async (): Promise<number> => Number((await call<{ ID: number }>(lease!, 'LeaseGrant', { TTL: 60 }, 10_000)).ID)
    await call(first!, 'Lock', { name: Buffer.from('busy'), lease: await grant() }, 10_000)
    const waiters = await Promise.all(Array.from({ length: 300 }, grant))
    const calls: grpc.ClientUnaryCall[] = []
    type LockStub = { Lock(request: unknown, options: grpc.CallOptions, callback: () => void): grpc.ClientUnaryCall }
    const waits = waiters.map((id, i) => {
      const client = (i % 2 === 0 ? first : second) as unknown as LockStub
      return new Promise<void>((resolve) => calls.push(client.Lock({ name: Buffer.from('busy'), lease: id }, { deadline: Date.now() + 30_000 }, () => resolve())))
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // Another name, free: granted at once, not behind the waits the follower passed on before it.
    const started = Date.now()
    await expect(call<{ key: Buffer }>(third!, 'Lock', { name: Buffer.from('free'), lease: await grant() }, 5000)).resolves.toMatchObject({ key: expect.any(Buffer) })
    expect(Date.now() - started).toBeLessThan(5000)
    for (const waiting of calls) waiting.cancel()
    await Promise.all(waits)
  }, 60_000)

  it("another client's keep-alive through a follower is answered while 300 keep-alive streams stay open through it", async () => {
    const { follower } = await settled(cluster.servers)
    const address = cluster.servers.config.nodes.find((node) => node.nodeId === follower.node.id)?.address as string
    const own = { 'grpc.use_local_subchannel_pool': 1 }
    const lease = new etcdProtocol.Lease(address, grpc.credentials.createInsecure(), own)
    clients.push(lease)
    const id = Number((await call<{ ID: number }>(lease, 'LeaseGrant', { TTL: 60 }, 10_000)).ID)
    // One client, two connections of 150 streams each (a connection takes 256 at most).
    const hostile = [0, 1].map(() => new etcdProtocol.Lease(address, grpc.credentials.createInsecure(), own))
    clients.push(...hostile)
    const streams = Array.from({ length: 300 }, (_, i) => {
      const stream = (hostile[i % 2] as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<unknown, unknown> }).LeaseKeepAlive()
      stream.on('data', () => {})
      stream.on('error', () => {})
      stream.write({ ID: id })
      return stream
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const mine = (lease as unknown as { LeaseKeepAlive(): grpc.ClientDuplexStream<{ ID: number }, { TTL: number }> }).LeaseKeepAlive()
    mine.on('error', () => {})
    const answered = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no keep-alive answer in 5 s')), 5000)
      mine.once('data', (response: { TTL: number }) => {
        clearTimeout(timer)
        resolve(Number(response.TTL))
      })
    })
    mine.write({ ID: id })
    expect(await answered).toBe(60)
    for (const stream of [mine, ...streams]) stream.cancel()
  }, 60_000)

  it('a Lock through a follower waits for as long as the lock is held, as a Lock on the leader does (it gave up after 30 s)', async () => {
    const { holderLock, viaFollower, grant } = await locksThroughFollower(90)
    const name = Buffer.from('held-long')
    const held = await call<{ key: Buffer }>(holderLock, 'Lock', { name, lease: await grant() }, 10_000)
    // etcdctl lock sets no deadline: it waits until the lock is its.
    const waiter = await grant()
    const answer = new Promise<unknown>((resolve) =>
      (viaFollower as unknown as { Lock(request: unknown, callback: (error: grpc.ServiceError | null, response: unknown) => void): grpc.ClientUnaryCall }).Lock({ name, lease: waiter }, (error, response) => resolve(error ?? response)),
    )
    await new Promise((resolve) => setTimeout(resolve, 31_000))
    await call(holderLock, 'Unlock', { key: held.key }, 10_000)
    expect(await answer).toMatchObject({ key: Buffer.from(`held-long/${waiter.toString(16)}`) })
  }, 60_000)
})
