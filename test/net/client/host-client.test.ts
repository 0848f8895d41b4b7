// HostClient against fake hosts: what it concludes when hosts say they hold no replica of a group.
import * as grpc from '@grpc/grpc-js'
import { afterEach, describe, expect, it } from 'vitest'
import { HostClient } from '../../../src/net/client/host-client.js'
import { protocol } from '../../../src/net/protocol.js'

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
})
