// EtcdEndpoints.unary with a long-lived signal (a lock handle's): each call's abort listener goes
// with the call, so a signal that outlives thousands of calls does not collect thousands of them.
import { afterEach, describe, expect, it } from 'vitest'
import { getEventListeners } from 'node:events'
import * as grpc from '@grpc/grpc-js'
import { etcdProtocol } from '../../../src/net/etcd-protocol.js'
import { EtcdEndpoints } from '../../../src/net/client/etcd/etcd-endpoints.js'

const servers: grpc.Server[] = []
afterEach(() => {
  for (const server of servers.splice(0)) server.forceShutdown()
})

describe('EtcdEndpoints.unary', () => {
  it('leaves no abort listener on the signal once a call is answered', async () => {
    const server = new grpc.Server()
    servers.push(server)
    server.addService(etcdProtocol.KV.service, { Range: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { kvs: [], count: 0 }) })
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const endpoints = new EtcdEndpoints([`127.0.0.1:${port}`], grpc.credentials.createInsecure())
    const controller = new AbortController()
    try {
      for (let i = 0; i < 5; i++) await endpoints.unary('KV', 'Range', { key: Buffer.from('k') }, 5000, controller.signal)
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    } finally {
      endpoints.close()
    }
  })
})
