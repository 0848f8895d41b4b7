// A gRPC server with channelz off, stopped: a client already connected to it gets no answer any
// more (grpc-js's forceShutdown alone kept answering it).
import { describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { shutDownNow } from '../../../src/net/server/shut-down-now.js'

const echo = { Echo: { path: '/test.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }
const Client = grpc.makeGenericClientConstructor(echo, 'Echo')

function call(client: grpc.Client): Promise<string> {
  return new Promise((resolve) => (client as unknown as { Echo: (b: Buffer, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Buffer) => void) => void }).Echo(Buffer.alloc(1), { deadline: Date.now() + 2000 }, (error, value) => resolve(error === null ? `answered ${String(value)}` : `failed ${grpc.status[error.code]}`)))
}

describe('shutDownNow', () => {
  it('closes the connections of a server without channelz, so a connected client is answered no more', async () => {
    const server = new grpc.Server({ 'grpc.enable_channelz': 0 })
    server.addService(echo, { Echo: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.from('here')) })
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
    const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure())
    try {
      expect(await call(client)).toBe('answered here')
      shutDownNow(server)
      expect(await call(client)).toBe('failed UNAVAILABLE')
    } finally {
      client.close()
    }
  })
})
