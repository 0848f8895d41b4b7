// Fuzzing the receiving end of the Raft stream: random bytes, and mutations of real batches, go
// through the transport's own protobuf decoder and gate. Nothing may throw out of the transport;
// every message is delivered only when it passes the gate, or counted as dropped; and from a
// stream that speaks for a stranger, nothing reaches a running node's core.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventEmitter } from 'node:events'
import fc from 'fast-check'
import type * as grpc from '@grpc/grpc-js'
import { GrpcTransport } from '../../../src/net/transport/grpc-transport.js'
import { protocol, toEnvelope } from '../../../src/net/protocol.js'
import { checkMessage } from '../../../src/net/transport/message-check.js'
import type { RaftMessage } from '../../../src/raft/core/messages.js'
import { RaftNode } from '../../../src/raft/node/raft-node.js'
import { EntryType } from '../../../src/storage/log-entry.js'
import { silentLogger } from '../../helpers/entries.js'
import { tempDir } from '../../helpers/temp-dir.js'

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
const numRuns = 300

type Method = { requestSerialize(value: unknown): Buffer; requestDeserialize(bytes: Buffer): { messages?: Record<string, unknown>[]; undecodable?: true } }

/** A stream as grpc-js hands it to the service: events in, a callback at the end. */
class FakeCall extends EventEmitter {
  getPeer(): string {
    return 'ipv4:192.0.2.7:4242'
  }
  getAuthContext(): Record<string, never> {
    return {}
  }
}

/** The transport's Raft service, fed bytes as grpc-js would feed them after reading them off the wire. */
function serve(transport: GrpcTransport): { feed(bytes: Buffer): void; end(): void; ended: () => boolean } {
  const { definition, implementation } = transport.service()
  const method = definition.Stream as unknown as Method
  const call = new FakeCall()
  let ended = false
  ;(implementation.Stream as (call: unknown, callback: grpc.sendUnaryData<unknown>) => void)(call, () => (ended = true))
  return {
    feed: (bytes) => call.emit('data', method.requestDeserialize(bytes)),
    end: () => call.emit('end'),
    ended: () => ended,
  }
}

const serialize = (protocol.RaftTransport.service.Stream as unknown as Method).requestSerialize
const decode = (protocol.RaftTransport.service.Stream as unknown as Method).requestDeserialize

/** Well-formed messages from `from` to node 1, of every kind, as fast-check makes them. */
function message(from: fc.Arbitrary<number>): fc.Arbitrary<RaftMessage> {
  const n = fc.nat({ max: 1000 })
  return fc.oneof(
    fc.record({ type: fc.constant('RequestVote' as const), from, to: fc.constant(1), term: n, preVote: fc.boolean(), lastLogIndex: n, lastLogTerm: n, transfer: fc.boolean() }),
    fc.record({ type: fc.constant('TimeoutNow' as const), from, to: fc.constant(1), term: n }),
    fc.record({ type: fc.constant('AppendEntriesResponse' as const), from, to: fc.constant(1), term: n, success: fc.boolean(), matchIndex: n, conflictIndex: n, conflictTerm: n, seq: n }),
    fc.tuple(from, n, n, fc.array(fc.uint8Array({ maxLength: 16 }), { maxLength: 3 })).map(([sender, term, prev, datas]): RaftMessage => ({
      type: 'AppendEntries', from: sender, to: 1, term, prevLogIndex: prev, prevLogTerm: 0, leaderCommit: prev, seq: 1,
      entries: datas.map((data, i) => ({ index: prev + 1 + i, term, type: EntryType.Normal, data })),
    })),
  )
}

/** A batch's bytes with some bytes changed, cut short, or with bytes put in. */
const mutated = (from: fc.Arbitrary<number>): fc.Arbitrary<Buffer> =>
  fc.tuple(fc.array(message(from), { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert')), { maxLength: 6 })).map(([messages, edits]) => {
    let bytes = Buffer.from(serialize({ messages: messages.map(toEnvelope) }))
    for (const [at, value, kind] of edits) {
      const position = bytes.length === 0 ? 0 : at % bytes.length
      if (kind === 'set' && bytes.length > 0) bytes[position] = value
      else if (kind === 'cut') bytes = bytes.subarray(0, position)
      else bytes = Buffer.concat([bytes.subarray(0, position), Buffer.from([value]), bytes.subarray(position)])
    }
    return bytes
  })

const randomBytes = fc.uint8Array({ maxLength: 256 }).map((bytes) => Buffer.from(bytes))

/** Messages (or undecodable batches) each fed buffer accounts for. */
function outcomes(buffers: Buffer[]): number {
  return buffers.reduce((sum, bytes) => {
    try {
      return sum + (decode(bytes).messages?.length ?? 0)
    } catch {
      return sum + 1
    }
  }, 0)
}

const rejectedTotal = (transport: GrpcTransport): number => Object.values(transport.counts.rejected).reduce((a, b) => a + b, 0)

describe(`the Raft stream's decoder and gate under fuzzing (seed ${seed}; FUZZ_SEED=${seed} replays)`, () => {
  it('never throws, and delivers only messages that pass the gate; everything else is counted as dropped', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(randomBytes, mutated(fc.constantFrom(2, 3, 9))), { minLength: 1, maxLength: 8 }), (buffers) => {
        const transport = new GrpcTransport(1, [{ id: 1, address: 'x:1' }, { id: 2, address: 'x:2' }, { id: 3, address: 'x:3' }])
        const delivered: RaftMessage[] = []
        transport.onMessage((m) => delivered.push(m))
        const stream = serve(transport)
        for (const bytes of buffers) stream.feed(bytes)
        stream.end()
        expect(stream.ended()).toBe(true)
        expect(transport.counts.received + rejectedTotal(transport)).toBe(outcomes(buffers))
        const sender = delivered[0]?.from
        for (const m of delivered) expect(checkMessage(m, { self: 1, isMember: (id) => id === 2 || id === 3, streamSender: sender as number })).toBeUndefined()
      }),
      { seed, numRuns },
    )
  })

  describe('in front of a running node', () => {
    let node: RaftNode
    let transport: GrpcTransport
    beforeAll(async () => {
      transport = new GrpcTransport(1, [{ id: 1, address: '127.0.0.1:1' }, { id: 2, address: '127.0.0.1:2' }, { id: 3, address: '127.0.0.1:3' }])
      // Timeouts far beyond the test: the node never campaigns, so only received messages could change it.
      node = await RaftNode.start({ id: 1, peers: [1, 2, 3], dir: tempDir('raftlog-fuzz-'), stateMachine: { apply: () => undefined }, transport, logger: silentLogger, electionTimeout: [600_000, 900_000], heartbeatInterval: 1000 })
    })
    afterAll(async () => {
      await node.stop()
    })

    it('changes no term, vote or log when the stream speaks for a stranger, and counts every message as dropped', async () => {
      const before = node.status()
      let fed = 0
      fc.assert(
        fc.property(fc.array(fc.oneof(randomBytes, mutated(fc.constantFrom(2, 3, 9))), { maxLength: 8 }), (buffers) => {
          const rejected = rejectedTotal(transport)
          const stream = serve(transport)
          // The stream's first message names node 9, not a member: nothing after it may pass.
          const opener = Buffer.from(serialize({ messages: [toEnvelope({ type: 'TimeoutNow', from: 9, to: 1, term: 99 })] }))
          for (const bytes of [opener, ...buffers]) stream.feed(bytes)
          stream.end()
          fed += outcomes([opener, ...buffers])
          expect(rejectedTotal(transport) - rejected).toBe(outcomes([opener, ...buffers]))
        }),
        { seed, numRuns: 100 },
      )
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(transport.counts.received).toBe(0)
      expect(rejectedTotal(transport)).toBe(fed)
      const after = node.status()
      expect({ term: after.term, role: after.role, leaderId: after.leaderId, lastIndex: after.lastIndex, commitIndex: after.commitIndex }).toEqual({ term: before.term, role: before.role, leaderId: before.leaderId, lastIndex: before.lastIndex, commitIndex: before.commitIndex })
    })
  })
})
