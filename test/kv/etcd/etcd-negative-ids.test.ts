// A revision or a lease id below zero (etcd's are int64) to Compact and LeaseRevoke: raftlog's
// commands carry them unsigned, and encoding one threw inside the call, which gRPC answered
// UNKNOWN "Unknown error". etcd 3.4.23 answers with its usual refusals. A watch from a revision
// below zero started from now; etcd cancels it as compacted (its start is below every revision kept).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
import { settled, startServers, stopServers, type Servers } from '../../helpers/node-servers.js'

let servers: Servers
let kv: grpc.Client
let lease: grpc.Client

beforeAll(async () => {
  servers = await startServers(false)
  const { follower } = await settled(servers)
  const address = servers.config.nodes.find((node) => node.nodeId === follower.node.id)?.address as string
  kv = new etcdProtocol.KV(address, grpc.credentials.createInsecure())
  lease = new etcdProtocol.Lease(address, grpc.credentials.createInsecure())
})

afterAll(async () => {
  kv?.close()
  lease?.close()
  await stopServers(servers)
})

/** The call's error as "CODE details", or 'ok'. */
function call(client: grpc.Client, method: string, request: Record<string, unknown>): Promise<string> {
  return new Promise((resolve) => {
    ;(client as unknown as Record<string, (request: unknown, callback: (error: grpc.ServiceError | null) => void) => void>)[method]!(request, (error) => resolve(error === null ? 'ok' : `${grpc.status[error.code]} ${error.details}`))
  })
}

describe('etcd calls with a number below zero', () => {
  it('answers a compaction to a revision below zero as compacted', async () => {
    expect(await call(kv, 'Compact', { revision: -1 })).toBe('OUT_OF_RANGE etcdserver: mvcc: required revision has been compacted')
  })

  it('answers a revoke of a lease id below zero as not found', async () => {
    expect(await call(lease, 'LeaseRevoke', { ID: -1 })).toBe('NOT_FOUND etcdserver: requested lease not found')
    expect(await call(lease, 'LeaseRevoke', { ID: '-4611686018427387904' })).toBe('NOT_FOUND etcdserver: requested lease not found')
  })

  it('refuses a lease id a client chose below zero or past 2^53 - 1, showing no digits it did not get', async () => {
    // etcd grants them; raftlog's lease ids are whole numbers up to 2^53 - 1 (documented).
    expect(await call(lease, 'LeaseGrant', { ID: -7, TTL: 10 })).toBe("INVALID_ARGUMENT etcdserver: lease id -7 is out of range: raftlog's lease ids are whole numbers from 1 to 9007199254740991")
    expect(await call(lease, 'LeaseGrant', { ID: '4111120500859626152', TTL: 10 })).toBe("INVALID_ARGUMENT etcdserver: a lease id past 9007199254740991 is out of range: raftlog's lease ids are whole numbers from 1 to 9007199254740991")
    expect(await call(lease, 'LeaseGrant', { ID: '-4611686018427387904', TTL: 10 })).toBe("INVALID_ARGUMENT etcdserver: a lease id below zero is out of range: raftlog's lease ids are whole numbers from 1 to 9007199254740991")
  })

  it('cancels a watch from a revision below zero as compacted, as etcd does', async () => {
    const address = servers.config.nodes.find((node) => node.nodeId === servers.servers[0]!.node.id)?.address as string
    const watch = new etcdProtocol.Watch(address, grpc.credentials.createInsecure())
    try {
      const stream = (watch as unknown as { Watch(): grpc.ClientDuplexStream<unknown, { created: boolean; canceled: boolean; compact_revision: number; cancel_reason: string }> }).Watch()
      const answers: { created: boolean; canceled: boolean; compact_revision: number; cancel_reason: string }[] = []
      const canceled = new Promise<void>((resolve, reject) => {
        stream.on('data', (answer) => {
          answers.push(answer)
          if (answer.canceled) resolve()
        })
        stream.on('error', reject)
      })
      stream.write({ create_request: { key: Buffer.from('w'), start_revision: -5 } })
      await canceled
      stream.cancel()
      expect(answers.map((answer) => [answer.created, answer.canceled, answer.cancel_reason])).toEqual([
        [true, false, ''],
        [false, true, 'etcdserver: mvcc: required revision has been compacted'],
      ])
      expect(Number(answers[1]!.compact_revision)).toBeGreaterThanOrEqual(0)
    } finally {
      watch.close()
    }
  })
})
