// Two (or three) GrpcTransports in this process, each behind its own gRPC server on 127.0.0.1.
import { afterEach, describe, expect, it } from 'vitest'
import * as grpc from '@grpc/grpc-js'
import { GrpcTransport } from '../../../src/net/transport/grpc-transport.js'
import { protocol } from '../../../src/net/protocol.js'
import type { RaftMessage } from '../../../src/raft/core/messages.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import { freePorts } from '../../helpers/processes.js'

const servers: grpc.Server[] = []
const transports: GrpcTransport[] = []

afterEach(async () => {
  for (const transport of transports.splice(0)) await transport.close()
  for (const server of servers.splice(0)) server.forceShutdown()
})

function bind(server: grpc.Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error === null ? resolve(bound) : reject(error))))
}


/** A transport serving `port`, collecting what it receives. */
async function endpoint(id: number, ports: Map<number, number>): Promise<{ transport: GrpcTransport; received: RaftMessage[] }> {
  const transport = new GrpcTransport(id, [...ports].map(([peer, port]) => ({ id: peer, address: `127.0.0.1:${port}` })))
  transports.push(transport)
  const server = new grpc.Server()
  servers.push(server)
  const { definition, implementation } = transport.service()
  server.addService(definition, implementation)
  await bind(server, ports.get(id))
  const received: RaftMessage[] = []
  transport.onMessage((message) => received.push(message))
  return { transport, received }
}

async function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

const append = (from: number, to: number, index: number): Extract<RaftMessage, { type: 'AppendEntries' }> => ({
  type: 'AppendEntries',
  from,
  to,
  term: 2,
  prevLogIndex: index - 1,
  prevLogTerm: 2,
  leaderCommit: index - 1,
  seq: index,
  entries: [{ index, term: 2, type: EntryType.Normal, data: new Uint8Array([index & 0xff, 0, 0xff]) }],
})

describe('GrpcTransport', () => {
  it('refuses every message of a removed node at once and tells it it was removed', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const b = await endpoint(2, ports)
    let toldBy = 0
    b.transport.onRemoved((by) => (toldBy = by))
    a.transport.setRemoved([2])
    b.transport.send(append(2, 1, 3))
    await until('node 2 told it was removed', () => toldBy === 1)
    expect(a.received).toEqual([])
    expect(a.transport.counts.rejected.removed).toBe(1)
    // The others are heard as before.
    a.transport.send(append(1, 2, 4))
    await until('the AppendEntries', () => b.received.length === 1)
  })

  it('delivers messages both ways between two endpoints, entries byte for byte', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const b = await endpoint(2, ports)
    a.transport.send(append(1, 2, 7))
    await until('the AppendEntries', () => b.received.length === 1)
    expect(b.received[0]).toEqual(append(1, 2, 7))
    const answer: RaftMessage = { type: 'AppendEntriesResponse', from: 2, to: 1, term: 2, success: true, matchIndex: 7, conflictIndex: 0, conflictTerm: 0, seq: 0 }
    b.transport.send(answer)
    await until('the answer', () => a.received.length === 1)
    expect(a.received[0]).toEqual(answer)
  })

  it('carries a burst to each peer on one stream, in order, in a batch per turn of the event loop', async () => {
    const ports = new Map((await freePorts(3)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const b = await endpoint(2, ports)
    const c = await endpoint(3, ports)
    for (let index = 1; index <= 200; index++) {
      a.transport.send(append(1, 2, index))
      a.transport.send(append(1, 3, index))
    }
    await until('every message', () => b.received.length === 200 && c.received.length === 200)
    // One stream per peer keeps the order.
    expect(b.received.map((m) => (m as { prevLogIndex: number }).prevLogIndex + 1)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(a.transport.counts).toMatchObject({ sent: 400, batches: 2, streamsOpened: 2, dropped: 0 })
    // By peer too, for the metrics of each link.
    expect(Object.fromEntries(a.transport.peerCounts)).toEqual({ 2: { sent: 200, dropped: 0, streamErrors: 0, entriesSent: 200, entryBytesSent: 600 }, 3: { sent: 200, dropped: 0, streamErrors: 0, entriesSent: 200, entryBytesSent: 600 } })
  })

  it('drops messages to an unreachable peer without throwing, and reaches it once it comes up', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    a.transport.send(append(1, 2, 1))
    await until('the broken stream', () => a.transport.dropped >= 1 || (a.transport.send(append(1, 2, 1)), false))
    await until('the stream error counted for peer 2', () => a.transport.peerCounts.get(2)!.streamErrors >= 1 || (a.transport.send(append(1, 2, 1)), false))
    expect(a.transport.peerCounts.get(2)!.dropped).toBeGreaterThanOrEqual(1)
    const b = await endpoint(2, ports)
    // Raft resends (heartbeats, retries); the stream is opened again after a pause.
    await until('a message through a new stream', () => {
      a.transport.send(append(1, 2, 2))
      return b.received.length > 0
    })
    expect(b.received[0]).toEqual(append(1, 2, 2))
  })

  it('opens a broken stream again when the peer restarts', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const first = await endpoint(2, ports)
    a.transport.send(append(1, 2, 1))
    await until('the first message', () => first.received.length === 1)
    // The peer dies and comes back on the same port.
    servers.splice(servers.length - 1, 1)[0]!.forceShutdown()
    const again = await endpoint(2, ports)
    await until('a message after the restart', () => {
      a.transport.send(append(1, 2, 3))
      return again.received.length > 0
    })
    expect(a.transport.counts.streamsOpened).toBeGreaterThan(1)
  })

  it('a peer that stops reading never holds back the others: its queue fills and drops', async () => {
    const ports = new Map((await freePorts(3)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const c = await endpoint(3, ports)
    // Node 2 takes the stream and never reads from it: HTTP/2 flow control stops the sender.
    const stuck = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 })
    servers.push(stuck)
    stuck.addService(protocol.RaftTransport.service, { Stream: (call: grpc.ServerReadableStream<unknown, unknown>) => call.pause() })
    await bind(stuck, ports.get(2))
    const big = (index: number): RaftMessage => ({ ...append(1, 2, index), entries: [{ index, term: 2, type: EntryType.Normal, data: new Uint8Array(64 * 1024) }] })
    for (let round = 0; round < 40; round++) {
      for (let i = 0; i < 100; i++) a.transport.send(big(round * 100 + i + 1))
      a.transport.send(append(1, 3, round + 1))
      await new Promise((resolve) => setImmediate(resolve))
    }
    await until('node 3 got every message', () => c.received.length === 40, 5000)
    expect(a.transport.dropped).toBeGreaterThan(0)
  })

  it('drops messages addressed to another node or sent by a stranger', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const b = await endpoint(2, ports)
    // A node of another cluster that believes node 3 lives at this address.
    const stranger = new GrpcTransport(9, [{ id: 3, address: `127.0.0.1:${ports.get(2)}` }, { id: 2, address: `127.0.0.1:${ports.get(2)}` }])
    transports.push(stranger)
    stranger.send(append(9, 3, 1))
    stranger.send(append(9, 2, 1))
    await until('both refused', () => b.transport.misaddressed === 2)
    expect(b.received).toEqual([])
  })

  it('neither sends nor delivers after close', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const b = await endpoint(2, ports)
    await b.transport.close()
    a.transport.send(append(1, 2, 1))
    b.transport.send(append(2, 1, 1))
    expect(b.transport.dropped).toBe(1)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(b.received).toEqual([])
    expect(a.received).toEqual([])
  })

  it('drops batches of another cluster, and of a sender that knows none, once it knows its own', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, ports)
    const b = await endpoint(2, ports)
    a.transport.setClusterId('a'.repeat(32))
    b.transport.send(append(2, 1, 1))
    b.transport.setClusterId('b'.repeat(32))
    b.transport.send(append(2, 1, 2))
    await until('both rejected', () => a.transport.counts.rejected['other-cluster'] === 2)
    expect(a.received).toEqual([])
    // Same cluster: delivered.
    b.transport.setClusterId('a'.repeat(32))
    b.transport.send(append(2, 1, 3))
    await until('the AppendEntries', () => a.received.length === 1)
    expect(a.received[0]).toEqual(append(2, 1, 3))
  })

  it('learns a new member\'s address from the configuration, and keeps one that leaves', async () => {
    const ports = new Map((await freePorts(2)).map((port, i) => [i + 1, port]))
    const a = await endpoint(1, new Map([[1, ports.get(1)!]]))
    const b = await endpoint(2, ports)
    // Node 2 is no peer of node 1 yet: what it sends is dropped, and node 1 cannot answer.
    b.transport.send(append(2, 1, 1))
    await until('a rejection', () => a.transport.counts.rejected['not-member'] === 1)
    a.transport.setAddresses({ 1: `127.0.0.1:${ports.get(1)}`, 2: `127.0.0.1:${ports.get(2)}` })
    b.transport.send(append(2, 1, 2))
    await until('the AppendEntries', () => a.received.length === 1)
    a.transport.send(append(1, 2, 3))
    await until('the answer', () => b.received.length === 1)
    // A configuration without node 2 (it is being removed): node 2 is still heard.
    a.transport.setAddresses({ 1: `127.0.0.1:${ports.get(1)}` })
    b.transport.send(append(2, 1, 4))
    await until('the last AppendEntries', () => a.received.length === 2)
  })
})
