// The client's side of a node's Calls stream (client/call-stream.ts), against nodes that hold
// calls past their deadline or break the stream: what a caller is told, and what stays open.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'
import { protocol } from '../../../src/net/protocol.js'
import { multiplexedCalls, withCalls, type UnaryHandler } from '../../../src/net/server/multiplexed-calls.js'
import { CallStream, type CallError } from '../../../src/net/client/call-stream.js'
import { callStreamTo as openCallStream } from '../../helpers/call-streams.js'
import { decodeEnvelope, type SessionEnvelope } from '../../../src/session/session-envelope.js'

type Answer = (envelope: SessionEnvelope, callback: grpc.sendUnaryData<unknown>) => void

const servers: grpc.Server[] = []
const clients: ClusterClient[] = []

afterEach(() => {
  for (const client of clients.splice(0)) client.close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

/** A fake leader that serves Propose on the Calls stream, with the server options given. */
async function fakeLeader(answer: Answer, options: grpc.ServerOptions = {}): Promise<{ address: string; applied: SessionEnvelope[] }> {
  const applied: SessionEnvelope[] = []
  const server = new grpc.Server(options)
  servers.push(server)
  const Propose = (call: grpc.ServerUnaryCall<{ command: Buffer }, unknown>, callback: grpc.sendUnaryData<unknown>): void => {
    const envelope = decodeEnvelope(new Uint8Array(call.request.command))
    applied.push(envelope)
    answer(envelope, callback)
  }
  server.addService(protocol.RaftClient.service, withCalls({ Propose }, 16))
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, applied }
}

/** A node whose Calls streams run `propose`; `open` counts the streams not yet ended or cancelled. */
async function callsNode(propose: UnaryHandler, maxInFlight = 16): Promise<{ address: string; open: () => number }> {
  const server = new grpc.Server()
  servers.push(server)
  const handler = multiplexedCalls({ propose }, maxInFlight)
  let open = 0
  const Calls = (stream: grpc.ServerDuplexStream<unknown, unknown>): void => {
    open++
    let closed = false
    const close = (): void => {
      if (!closed) open--
      closed = true
    }
    stream.on('cancelled', close)
    stream.on('finish', close)
    handler(stream as never)
  }
  server.addService(protocol.RaftClient.service, { Calls })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, open: () => open }
}

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

function callStreamTo(address: string): CallStream {
  const { calls, close } = openCallStream(address)
  closers.push(close)
  return calls
}

const code = (promise: Promise<unknown>): Promise<number | string> =>
  promise.then(
    () => 'answered',
    (error: CallError) => error.code,
  )

const until = async (condition: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

function client(endpoints: string[]): ClusterClient {
  const made = new ClusterClient(endpoints, [])
  clients.push(made)
  return made
}

const clientId = (id: number): Buffer => {
  const bytes = Buffer.alloc(8)
  bytes.writeBigUInt64LE(BigInt(id))
  return bytes
}

describe('a stream that fails for one message', () => {
  it('does not tell a command in flight that it was refused when another, too large for the node, would break the stream', async () => {
    // The node takes messages of at most 1 MiB: a larger one on the stream ends it (RESOURCE_EXHAUSTED).
    const leader = await fakeLeader(
      (envelope, callback) => {
        if (envelope.kind === 'open') return callback(null, { result: clientId(7) })
        // A command is applied, and answered 200 ms later.
        setTimeout(() => callback(null, { result: Buffer.from('applied') }), 200)
      },
      { 'grpc.max_receive_message_length': 1024 * 1024 },
    )
    const cluster = client([leader.address])
    await cluster.propose(Buffer.from('first'), 5000)
    const inFlight = cluster.propose(Buffer.from('small'), 5000).then(
      (result) => Buffer.from(result).toString(),
      (error: Error & { code?: string }) => `${error.code}: ${error.message}`,
    )
    await new Promise((resolve) => setTimeout(resolve, 50))
    // The large command alone is refused, as its unary call was.
    await expect(cluster.propose(Buffer.alloc(2 * 1024 * 1024), 5000)).rejects.toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('larger than max') })
    // The small one reached the node, which applied it: it is not "refused".
    expect(await inFlight).toBe('applied')
  })

  it('fails the other calls waiting on it UNAVAILABLE (outcome unknown), not with that message\'s status', async () => {
    // This client takes answers of at most 1 KiB: 'big' is answered with 2 KiB, which ends the stream.
    const node = await callsNode((call, callback) => {
      const command = (call.request as { command: Buffer }).command.toString()
      setTimeout(() => callback(null, { result: Buffer.alloc(command === 'big' ? 2048 : 1) }), command === 'big' ? 50 : 300)
    })
    const stub = new protocol.RaftClient(node.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 1024 }) as unknown as grpc.Client & { Calls(options: grpc.CallOptions): grpc.ClientDuplexStream<Record<string, unknown>, never> }
    const calls = new CallStream(() => stub.Calls({}))
    closers.push(() => {
      calls.close()
      stub.close()
    })
    const waiting = code(calls.call('propose', { command: Buffer.from('other') }, Date.now() + 5000))
    const big = code(calls.call('propose', { command: Buffer.from('big') }, Date.now() + 5000))
    expect(await big).toBe(grpc.status.UNAVAILABLE)
    // RESOURCE_EXHAUSTED said of it is final ("refused"), though the node carries it out.
    expect(await waiting).toBe(grpc.status.UNAVAILABLE)
  })
})

describe('a call the node holds past its deadline', () => {
  it('has its stream cancelled, as a unary call is at its deadline: nothing stays open for it on the node, nor keeps the caller\'s process alive', async () => {
    const node = await callsNode(() => undefined)
    const calls = callStreamTo(node.address)
    expect(await code(calls.call('propose', { command: Buffer.from('x') }, Date.now() + 200))).toBe(grpc.status.DEADLINE_EXCEEDED)
    expect(node.open()).toBe(1)
    // Half-closed after a second idle, the stream stayed open for as long as the node held the call.
    await until(() => node.open() === 0, 3000)
  })

  it('leaves the calls after it to a new stream, so that calls the node holds do not stop the others', async () => {
    // At most two calls of a connection in progress; 'hold' is never answered.
    const node = await callsNode((call, callback) => {
      if ((call.request as { command: Buffer }).command.toString() !== 'hold') callback(null, { result: Buffer.from('ok') })
    }, 2)
    const calls = callStreamTo(node.address)
    const held = [calls.call('propose', { command: Buffer.from('hold') }, Date.now() + 200), calls.call('propose', { command: Buffer.from('hold') }, Date.now() + 200)]
    expect(await Promise.all(held.map(code))).toEqual([grpc.status.DEADLINE_EXCEEDED, grpc.status.DEADLINE_EXCEEDED])
    expect(await code(calls.call('propose', { command: Buffer.from('next') }, Date.now() + 1000))).toBe('answered')
  })
})

describe('CallStream.close', () => {
  it('lets a call in progress finish, as a unary call does when its channel is closed: a pending propose is answered, not sent again', async () => {
    const leader = await fakeLeader((envelope, callback) => {
      if (envelope.kind === 'open') return callback(null, { result: clientId(7) })
      setTimeout(() => callback(null, { result: Buffer.from('applied') }), 300)
    })
    const cluster = new ClusterClient([leader.address], [])
    const proposed = cluster.propose(Buffer.from('x'), 5000)
    await until(() => leader.applied.length === 2)
    cluster.close()
    expect(Buffer.from(await proposed).toString()).toBe('applied')
    // The command reached the node once; the closed client did not connect again to send it.
    expect(leader.applied.map((envelope) => envelope.kind)).toEqual(['open', 'command'])
  })
})
