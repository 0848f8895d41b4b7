// HostClient against fake hosts: what it concludes when hosts say they hold no replica of a group.
import * as grpc from '@grpc/grpc-js'
import { afterEach, describe, expect, it } from 'vitest'
import { HostClient, ReplicaSearch } from '../../../src/net/client/host-client.js'
import { protocol } from '../../../src/net/protocol.js'
import { withCalls } from '../../../src/net/server/multiplexed-calls.js'

const servers: grpc.Server[] = []

afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A host that answers every Propose and Read with ERR_NO_GROUP after `delayMs`. */
async function hostWithoutGroups(delayMs: number): Promise<string> {
  const server = new grpc.Server()
  const noGroup = (_call: unknown, callback: grpc.sendUnaryData<unknown>): void => {
    setTimeout(() => callback({ code: grpc.status.NOT_FOUND, details: 'ERR_NO_GROUP: Group 9 has no replica on this host' }), delayMs)
  }
  server.addService(protocol.RaftHostClient.service, { Propose: noGroup, Read: noGroup, Leaders: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { leaders: [] }) })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  servers.push(server)
  return `127.0.0.1:${port}`
}

describe('HostClient', () => {
  it('says ERR_NO_GROUP when every host said so, even when the last call was cut by the deadline', async () => {
    // The slow host's answers take 300 ms: the 1,000 ms deadline lands inside one of them.
    const hosts = [
      { id: 1, address: await hostWithoutGroups(0) },
      { id: 2, address: await hostWithoutGroups(300) },
    ]
    const client = new HostClient(hosts)
    try {
      await expect(client.propose(9, Buffer.from('x'), 1000)).rejects.toMatchObject({ code: 'ERR_NO_GROUP', message: 'Group 9 has a replica on none of the 2 hosts (asked for 1000 ms)' })
      await expect(client.read(9, Buffer.from('x'), 1000)).rejects.toMatchObject({ code: 'ERR_NO_GROUP' })
    } finally {
      client.close()
    }
  })

  it('takes a read answer as large as a host sends (64 MiB), without breaking the Calls stream of the proposals in flight', async () => {
    // A host that leads group 1: a proposal is applied and answered 300 ms later; a read answers 5 MiB.
    let proposals = 0
    const server = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024 })
    servers.push(server)
    const Propose = (_call: unknown, callback: grpc.sendUnaryData<unknown>): void => {
      proposals++
      setTimeout(() => callback(null, { result: Buffer.from('applied') }), 300)
    }
    const Read = (_call: unknown, callback: grpc.sendUnaryData<unknown>): void => callback(null, { result: Buffer.alloc(5 * 1024 * 1024, 1) })
    server.addService(protocol.RaftHostClient.service, withCalls({ Propose, Read }, 16))
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const client = new HostClient([{ id: 1, address: `127.0.0.1:${port}` }])
    try {
      const proposed = client.propose(1, Buffer.from('x'), 3000).then(
        (result) => result.toString(),
        (error: Error) => error.message,
      )
      await new Promise((resolve) => setTimeout(resolve, 50))
      const read = await client.read(1, Buffer.from('q'), 3000).then(
        (result) => result.length,
        (error: Error) => error.message,
      )
      expect(read).toBe(5 * 1024 * 1024)
      expect(await proposed).toBe('applied')
      // Sent once: a HostClient proposal has no session, so a second copy would be applied twice.
      expect(proposals).toBe(1)
    } finally {
      client.close()
    }
  })
})

describe('ReplicaSearch', () => {
  it('says no host listens once each refused a connection, however grpc-js words it, and not while one answers', () => {
    const unavailable = (details: string) => ({ code: grpc.status.UNAVAILABLE, details, message: details }) as grpc.ServiceError
    const search = new ReplicaSearch(3)
    const addresses = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']
    search.answered(1, unavailable('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1'))
    // A channel backing off after a refusal, its last error not named (seen under load in CI).
    search.answered(2, unavailable('No connection established. Last error: null'))
    expect(search.nobodyListens(addresses)).toBeUndefined()
    search.answered(3, unavailable('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:3'))
    expect(search.nobodyListens(addresses)).toMatchObject({ code: 'ERR_NO_CLUSTER', message: expect.stringMatching(/^no node answered: is the cluster running\? tried 127\.0\.0\.1:1, 127\.0\.0\.1:2, 127\.0\.0\.1:3/) })
    // A connection that failed for another named reason (a plaintext client at a TLS port) is not "nothing listens".
    const other = new ReplicaSearch(1)
    other.answered(1, unavailable('No connection established. Last error: Error: Protocol error'))
    expect(other.nobodyListens(['127.0.0.1:1'])).toBeUndefined()
    // A host that answers (here: it knows no leader) is listening.
    search.answered(2, { code: grpc.status.FAILED_PRECONDITION, details: 'ERR_NOT_LEADER', message: 'ERR_NOT_LEADER' } as grpc.ServiceError)
    expect(search.nobodyListens(addresses)).toBeUndefined()
  })
})
