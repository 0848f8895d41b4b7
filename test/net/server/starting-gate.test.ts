// A node's client service before the node has started: every call is answered UNAVAILABLE,
// ERR_STARTING (a client asks again), never UNIMPLEMENTED (which a client takes for a port of
// another kind); once opened, calls reach the implementation.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { protocol } from '../../../src/net/protocol.js'
import { startingGate } from '../../../src/net/server/starting-gate.js'

const servers: grpc.Server[] = []
const clients: grpc.Client[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

type Stub = grpc.Client & Record<string, (...args: unknown[]) => unknown>

async function gated(): Promise<{ stub: Stub; open: (implementation: grpc.UntypedServiceImplementation) => void }> {
  const server = new grpc.Server()
  servers.push(server)
  const gate = startingGate(protocol.RaftClient.service, 'node 2 is starting (replaying its log)')
  server.addService(protocol.RaftClient.service, gate.implementation)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  const stub = new protocol.RaftClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Stub
  clients.push(stub)
  return { stub, open: (implementation) => gate.open(implementation) }
}

const unary = (stub: Stub, method: string): Promise<{ code?: number; details?: string; result?: unknown }> =>
  new Promise((resolve) => stub[method]!({}, (error: grpc.ServiceError | null, reply: unknown) => resolve(error === null ? { result: reply } : { code: error.code, details: error.details })))

describe('startingGate', () => {
  it('answers every call UNAVAILABLE with ERR_STARTING until it is opened, streams too', async () => {
    const { stub } = await gated()
    for (const method of ['Propose', 'Read', 'Status']) expect(await unary(stub, method)).toEqual({ code: grpc.status.UNAVAILABLE, details: 'ERR_STARTING: node 2 is starting (replaying its log)' })
    const stream = stub.SaveSnapshot!({}) as grpc.ClientReadableStream<unknown>
    const failure = await new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve))
    expect([failure.code, failure.details]).toEqual([grpc.status.UNAVAILABLE, 'ERR_STARTING: node 2 is starting (replaying its log)'])
  })

  it('passes every call to the implementation once opened', async () => {
    const { stub, open } = await gated()
    open({ Status: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { id: 2, role: 'leader' }) })
    expect((await unary(stub, 'Status')).result).toMatchObject({ id: 2, role: 'leader' })
  })
})
