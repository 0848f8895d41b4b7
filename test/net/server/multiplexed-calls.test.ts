// Propose and Read as messages of one Calls stream (server/multiplexed-calls.ts, client/call-stream.ts):
// each call answered by its id, in any order, as its unary call would answer; at most so many in
// progress per stream; a call never left waiting when the stream breaks or its deadline passes;
// a node without the stream is asked by its unary methods.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { protocol } from '../../../src/net/protocol.js'
import { multiplexedCalls, type UnaryHandler } from '../../../src/net/server/multiplexed-calls.js'
import { CallStream, type CallError } from '../../../src/net/client/call-stream.js'
import { callStreamTo as openCallStream, unreadingClient } from '../../helpers/call-streams.js'
import { startingGate } from '../../../src/net/server/starting-gate.js'
import { ClusterClient } from '../../../src/net/client/cluster-client.js'

const servers: grpc.Server[] = []
const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

async function serve(implementation: grpc.UntypedServiceImplementation): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server()
  servers.push(server)
  server.addService(protocol.RaftClient.service, implementation)
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
  return { address: `127.0.0.1:${port}`, server }
}

function callStreamTo(address: string): CallStream {
  const { calls, close } = openCallStream(address)
  closers.push(close)
  return calls
}

const failure = (promise: Promise<unknown>): Promise<{ code: number; message: string }> =>
  promise.then(
    () => {
      throw new Error('the call succeeded')
    },
    (error: CallError) => ({ code: error.code, message: error.message }),
  )


const until = async (condition: () => boolean, ms = 5000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('the Calls stream', () => {
  it('answers each call by its id, in the order the handlers finish, with the reply or the status the unary call gives', async () => {
    const propose: UnaryHandler = (call, callback) => {
      const command = (call.request as { command: Buffer }).command
      // The first command answers last.
      setTimeout(() => callback(null, { result: Buffer.concat([Buffer.from('applied '), command]) }), command.toString() === 'slow' ? 100 : 1)
    }
    const read: UnaryHandler = (call, callback) => callback({ code: grpc.status.INVALID_ARGUMENT, details: `ERR_BAD_COMMAND: cannot read ${(call.request as { query: Buffer }).query.toString()}` })
    const { address } = await serve({ Calls: multiplexedCalls({ propose, read }, 16) })
    const calls = callStreamTo(address)
    const deadline = Date.now() + 5000
    const finished: string[] = []
    const slow = calls.call<{ result: Buffer }>('propose', { command: Buffer.from('slow') }, deadline).then((reply) => (finished.push('slow'), reply))
    const fast = calls.call<{ result: Buffer }>('propose', { command: Buffer.from('fast') }, deadline).then((reply) => (finished.push('fast'), reply))
    const refused = failure(calls.call('read', { query: Buffer.from('q1') }, deadline))
    expect((await slow).result.toString()).toBe('applied slow')
    expect((await fast).result.toString()).toBe('applied fast')
    expect(finished).toEqual(['fast', 'slow'])
    expect(await refused).toEqual({ code: grpc.status.INVALID_ARGUMENT, message: 'ERR_BAD_COMMAND: cannot read q1' })
  })

  it('has at most maxInFlight calls of a stream in progress, and takes the next as earlier ones are answered', async () => {
    const held: grpc.sendUnaryData<unknown>[] = []
    const propose: UnaryHandler = (_call, callback) => void held.push(callback)
    const { address } = await serve({ Calls: multiplexedCalls({ propose }, 4) })
    const calls = callStreamTo(address)
    const deadline = Date.now() + 10_000
    const answers = Array.from({ length: 10 }, (_, i) => calls.call<{ result: Buffer }>('propose', { command: Buffer.from(String(i)) }, deadline))
    await until(() => held.length === 4)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(held.length).toBe(4)
    held[0]!(null, { result: Buffer.from('a') })
    held[1]!(null, { result: Buffer.from('b') })
    await until(() => held.length === 6)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(held.length).toBe(6)
    for (let i = 2; i < 10; i++) {
      await until(() => held.length > i)
      held[i]!(null, { result: Buffer.from(String(i)) })
    }
    expect((await Promise.all(answers)).map((reply) => reply.result.toString())).toEqual(['a', 'b', '2', '3', '4', '5', '6', '7', '8', '9'])
  })

  it('has at most maxInFlight calls in progress per connection, however many Calls streams it opens', async () => {
    const held: grpc.sendUnaryData<unknown>[] = []
    const propose: UnaryHandler = (_call, callback) => void held.push(callback)
    const { address } = await serve({ Calls: multiplexedCalls({ propose }, 4) })
    // One channel, one connection: five streams of four calls each.
    const stub = new protocol.RaftClient(address, grpc.credentials.createInsecure()) as unknown as grpc.Client & { Calls(options: grpc.CallOptions): grpc.ClientDuplexStream<Record<string, unknown>, never> }
    closers.push(() => stub.close())
    const streams = Array.from({ length: 5 }, () => {
      const calls = new CallStream(() => stub.Calls({}))
      closers.push(() => calls.close())
      return calls
    })
    const deadline = Date.now() + 10_000
    const answers = streams.flatMap((calls, s) => Array.from({ length: 4 }, (_, i) => calls.call<{ result: Buffer }>('propose', { command: Buffer.from(`${s}.${i}`) }, deadline)))
    await until(() => held.length >= 4)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(held.length).toBe(4)
    // Answered, the others are taken, each stream's in turn.
    for (let i = 0; i < 20; i++) {
      await until(() => held.length > i)
      held[i]!(null, { result: Buffer.from(String(i)) })
    }
    expect((await Promise.all(answers)).length).toBe(20)
  })

  /**
   * How many calls a node (at most 8 in progress, 64 KiB answers) runs for a client that never
   * reads, once it has stopped reading: `streams` Calls streams on one connection, `requests` each.
   */
  async function handledForUnreadingClient(streams: number, requests: number): Promise<number> {
    let handled = 0
    const answer = Buffer.alloc(64 * 1024, 1)
    const propose: UnaryHandler = (_call, callback) => {
      handled++
      callback(null, { result: answer })
    }
    const { address } = await serve({ Calls: multiplexedCalls({ propose }, 8) })
    const client = unreadingClient(address)
    closers.push(client.close)
    for (let s = 0; s < streams; s++) client.stream(requests)
    await until(() => handled >= 8)
    await new Promise((resolve) => setTimeout(resolve, 500))
    const stalled = handled
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(handled).toBe(stalled)
    return handled
  }

  it('stops reading a stream whose client does not take its answers, so it cannot make the node hold them without bound', async () => {
    // 2,000 requests: 128 MB of answers if all were made.
    expect(await handledForUnreadingClient(1, 2000)).toBeLessThan(100)
  })

  it('counts an answer the client has not taken as a call in progress of its connection, however many streams it opens', async () => {
    // As unary calls, at most 8 would be open with their answers waiting for it; the few more are
    // answers the connection's flow-control window took before it filled.
    expect(await handledForUnreadingClient(8, 200)).toBeLessThan(16)
  })

  it('answers a request naming no method it serves UNIMPLEMENTED, and a handler that throws INTERNAL, and goes on', async () => {
    const propose: UnaryHandler = () => {
      throw new Error('the handler broke')
    }
    const { address } = await serve({ Calls: multiplexedCalls({ propose }, 4) })
    const calls = callStreamTo(address)
    const deadline = Date.now() + 5000
    expect(await failure(calls.call('read', { query: Buffer.from('x') }, deadline))).toEqual({ code: grpc.status.UNIMPLEMENTED, message: "Calls: this server answers no 'read' request on this stream" })
    expect(await failure(calls.call('propose', { command: Buffer.from('x') }, deadline))).toEqual({ code: grpc.status.INTERNAL, message: 'the handler broke' })
    expect(calls.supported).toBe(true)
  })

  it('answers a reply larger than a client takes RESOURCE_EXHAUSTED, alone: the stream and its other calls go on', async () => {
    // This test's client takes grpc's default 4 MiB in one message; raftlog's clients take 64 MiB.
    const clientMaxBytes = 4 * 1024 * 1024
    const read: UnaryHandler = (call, callback) => callback(null, { result: Buffer.alloc(Number((call.request as { query: Buffer }).query.toString()), 1) })
    const { address } = await serve({ Calls: multiplexedCalls({ read }, 4, undefined, clientMaxBytes) })
    const calls = callStreamTo(address)
    const deadline = Date.now() + 5000
    const small = calls.call<{ result: Buffer }>('read', { query: Buffer.from('10') }, deadline)
    const large = failure(calls.call('read', { query: Buffer.from(String(clientMaxBytes + 1)) }, deadline))
    const after = calls.call<{ result: Buffer }>('read', { query: Buffer.from('20') }, deadline)
    const refused = await large
    expect(refused.code).toBe(grpc.status.RESOURCE_EXHAUSTED)
    expect(refused.message).toMatch(/^The answer is larger than a client takes in one message \(at least \d+ vs\. 4194304 bytes\)/)
    expect((await small).result.length).toBe(10)
    expect((await after).result.length).toBe(20)
    // A reply that fits, up to the limit, is answered.
    expect((await calls.call<{ result: Buffer }>('read', { query: Buffer.from(String(clientMaxBytes - 1024)) }, Date.now() + 5000)).result.length).toBe(clientMaxBytes - 1024)
  })

  it('fails a call at its deadline (DEADLINE_EXCEEDED) while the others of the stream go on', async () => {
    const propose: UnaryHandler = (call, callback) => {
      if ((call.request as { command: Buffer }).command.toString() === 'answer') callback(null, { result: Buffer.from('ok') })
    }
    const { address } = await serve({ Calls: multiplexedCalls({ propose }, 4) })
    const calls = callStreamTo(address)
    const started = Date.now()
    expect(await failure(calls.call('propose', { command: Buffer.from('never') }, started + 200))).toEqual({ code: grpc.status.DEADLINE_EXCEEDED, message: 'Deadline exceeded' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(190)
    expect((await calls.call<{ result: Buffer }>('propose', { command: Buffer.from('answer') }, Date.now() + 5000)).result.toString()).toBe('ok')
  })

  it('fails every waiting call with the stream\'s status when the node goes away, and opens a new stream for the next call', async () => {
    const propose: UnaryHandler = () => undefined
    const first = await serve({ Calls: multiplexedCalls({ propose }, 4) })
    const calls = callStreamTo(first.address)
    const waiting = [failure(calls.call('propose', { command: Buffer.from('1') }, Date.now() + 10_000)), failure(calls.call('propose', { command: Buffer.from('2') }, Date.now() + 10_000))]
    await new Promise((resolve) => setTimeout(resolve, 100))
    const started = Date.now()
    first.server.forceShutdown()
    for (const failed of await Promise.all(waiting)) {
      // Not "No connection established": the calls were sent, so their outcome is unknown to the caller.
      expect(failed.code).not.toBe(grpc.status.DEADLINE_EXCEEDED)
      expect(failed.message).not.toContain('No connection established')
    }
    expect(Date.now() - started).toBeLessThan(2000)
    // Nothing listens now: the next call finds no connection, and says so (never sent).
    const refused = await failure(calls.call('propose', { command: Buffer.from('3') }, Date.now() + 5000))
    expect(refused).toMatchObject({ code: grpc.status.UNAVAILABLE })
    expect(refused.message).toContain('No connection established')
  })

  it('says the node is starting (ERR_STARTING) through the starting gate, then reaches the service', async () => {
    const gate = startingGate(protocol.RaftClient.service, 'node 2 is starting (replaying its log)')
    const { address } = await serve(gate.implementation)
    const calls = callStreamTo(address)
    expect(await failure(calls.call('propose', { command: Buffer.from('x') }, Date.now() + 5000))).toEqual({ code: grpc.status.UNAVAILABLE, message: 'ERR_STARTING: node 2 is starting (replaying its log)' })
    const propose: UnaryHandler = (_call, callback) => callback(null, { result: Buffer.from('ok') })
    gate.open({ Calls: multiplexedCalls({ propose }, 4) })
    expect((await calls.call<{ result: Buffer }>('propose', { command: Buffer.from('x') }, Date.now() + 5000)).result.toString()).toBe('ok')
  })

  it('marks a node without the Calls method unsupported, and ClusterClient asks its unary method instead', async () => {
    const { address } = await serve({ Read: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { result: Buffer.from('answered by the unary Read') }) })
    const calls = callStreamTo(address)
    expect(await failure(calls.call('read', { query: Buffer.from('x') }, Date.now() + 5000))).toMatchObject({ code: grpc.status.UNIMPLEMENTED })
    expect(calls.supported).toBe(false)
    const client = new ClusterClient([address])
    closers.push(() => client.close())
    expect(Buffer.from(await client.read(Buffer.from('x'), 5000)).toString()).toBe('answered by the unary Read')
  })
})
