// Proclaim, Resign and Unlock name a key; etcd refuses them without one. raftlog took a missing
// leader for the empty key (a Proclaim put the key "", which no etcd put may write), and put a
// Proclaim's value with the lease its LeaderKey named: a LeaderKey without the leader's lease (or
// with rev 0) left the election's key on no lease at all, a leader that no lease's end removes.
// Lock and Campaign name a lease: with lease 0 etcd's server makes a session lease of its own,
// which raftlog does not; it answered as if the client had named a lease that ended (NOT_FOUND).
import { describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { settled } from '../../helpers/node-servers.js'
import { useEtcdCluster, type EtcdService } from '../../helpers/etcd-cluster.js'

const cluster = useEtcdCluster()

/** Calls through a follower, a client per service. */
async function stubs(): Promise<(service: EtcdService, method: string, request: Record<string, unknown>) => Promise<any>> {
  const { follower } = await settled(cluster.servers)
  const made = new Map<string, grpc.Client>()
  return (service, method, request) => {
    let client = made.get(service)
    if (client === undefined) {
      client = cluster.client(service, follower.node.id)
      made.set(service, client)
    }
    return cluster.call(client, method, request)
  }
}

describe('Proclaim, Resign and Unlock name a key', () => {
  it('are refused without one, as etcd refuses them (UNKNOWN: its v3lock and v3election servers send their errors as they are)', async () => {
    const call = await stubs()
    const unknown = (details: string) => ({ code: grpc.status.UNKNOWN, details })
    await expect(call('Election', 'Proclaim', { value: Buffer.from('x') })).rejects.toMatchObject(unknown('"leader" field must be provided'))
    await expect(call('Election', 'Resign', {})).rejects.toMatchObject(unknown('"leader" field must be provided'))
    await expect(call('Election', 'Proclaim', { leader: { name: Buffer.from('e') }, value: Buffer.from('x') })).rejects.toMatchObject(unknown('etcdserver: key is not provided'))
    await expect(call('Election', 'Resign', { leader: { name: Buffer.from('e') } })).rejects.toMatchObject(unknown('etcdserver: key is not provided'))
    await expect(call('Lock', 'Unlock', {})).rejects.toMatchObject(unknown('etcdserver: key is not provided'))
    // A lease that does not exist (etcd 3.4.23: UNKNOWN, where its Lease service says NOT_FOUND).
    await expect(call('Lock', 'Lock', { name: Buffer.from('l'), lease: 424242 })).rejects.toMatchObject(unknown('etcdserver: requested lease not found'))
    await expect(call('Election', 'Campaign', { name: Buffer.from('e'), lease: 424242, value: Buffer.from('v') })).rejects.toMatchObject(unknown('etcdserver: requested lease not found'))
  })

  it("a Proclaim never takes the leader's key off its lease: the election is free once the lease ends", async () => {
    const call = await stubs()
    const name = Buffer.from('off-lease')
    const lease = Number((await call('Lease', 'LeaseGrant', { TTL: 60 })).ID)
    const { leader } = await call('Election', 'Campaign', { name, lease, value: Buffer.from('a') })
    // A LeaderKey with no lease (built by hand, or by a client that dropped the field).
    await expect(call('Election', 'Proclaim', { leader: { ...leader, lease: 0 }, value: Buffer.from('b') })).rejects.toMatchObject({ code: grpc.status.UNKNOWN, details: 'election: not leader' })
    // One with rev 0 names a key that does not exist: it must not create one.
    await expect(call('Election', 'Proclaim', { leader: { name, key: Buffer.from('off-lease/ghost'), rev: 0, lease: 0 }, value: Buffer.from('c') })).rejects.toMatchObject({ code: grpc.status.UNKNOWN, details: 'election: not leader' })
    await call('Lease', 'LeaseRevoke', { ID: lease })
    await expect(call('Election', 'Leader', { name })).rejects.toMatchObject({ code: grpc.status.UNKNOWN, details: 'election: no leader' })
  })
})

describe('Lock and Campaign name a lease', () => {
  it('with lease 0 are UNIMPLEMENTED, saying to grant a lease first, and leave nothing behind', async () => {
    const call = await stubs()
    for (const [service, method, request] of [
      ['Lock', 'Lock', { name: Buffer.from('no-lease') }],
      ['Election', 'Campaign', { name: Buffer.from('no-lease-e'), value: Buffer.from('a'), lease: 0 }],
    ] as const) {
      await expect(call(service, method, request)).rejects.toMatchObject({
        code: grpc.status.UNIMPLEMENTED,
        details: `raftlog does not create a session lease for a ${method} with lease 0, as etcd's server does: a ${method} needs a lease: grant one first (LeaseGrant) and pass its id`,
      })
    }
    const { count } = await call('KV', 'Range', { key: Buffer.from('no-lease'), range_end: Buffer.from('no-lease0') })
    expect(Number(count)).toBe(0)
  })
})

describe("Lock, Campaign and Proclaim meet a Put's limits", () => {
  it('refuse a key over max_key_bytes and a value over max_request_bytes, and write nothing', async () => {
    const call = await stubs()
    const lease = Number((await call('Lease', 'LeaseGrant', { TTL: 60 })).ID)
    const tooLarge = { code: grpc.status.UNKNOWN, details: 'etcdserver: request is too large' }
    // A Put of the same key is refused the same way (INVALID_ARGUMENT there: the KV service's code).
    await expect(call('KV', 'Put', { key: Buffer.alloc(70_000, 'k'), value: Buffer.from('v') })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT })
    await expect(call('Lock', 'Lock', { name: Buffer.alloc(70_000, 'l'), lease })).rejects.toMatchObject(tooLarge)
    await expect(call('Election', 'Campaign', { name: Buffer.alloc(70_000, 'e'), lease, value: Buffer.from('v') })).rejects.toMatchObject(tooLarge)
    const { leader } = await call('Election', 'Campaign', { name: Buffer.from('big-value'), lease, value: Buffer.from('a') })
    await expect(call('Election', 'Proclaim', { leader, value: Buffer.alloc(2 * 1024 * 1024, 1) })).rejects.toMatchObject(tooLarge)
    // Nothing was written: the lease holds only the campaign's key, with its first value.
    const keys = await call('Lease', 'LeaseTimeToLive', { ID: lease, keys: true })
    expect(keys.keys.map((key: Buffer) => key.toString())).toEqual([leader.key.toString()])
    expect((await call('Election', 'Leader', { name: Buffer.from('big-value') })).kv.value.toString()).toBe('a')
  })
})
