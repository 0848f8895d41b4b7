// Client sessions (Raft dissertation §6.3): a retried command is applied once, whatever happens.
import { describe, expect, it } from 'vitest'
import { EntryType, type LogEntry } from '../../src/storage/log-entry.js'
import { SessionStateMachine } from '../../src/session/session-state-machine.js'
import { ClientSession } from '../../src/session/client-session.js'
import { bindEnvelope, encodeCommand, encodePlain, sessionSecretBytes } from '../../src/session/session-envelope.js'
import type { SnapshotInfo } from '../../src/raft/state-machine.js'

/** A counter: each command adds its number; the answer is the new total as text. */
class Counter {
  total = 0
  applied = 0
  apply(entry: LogEntry): Uint8Array {
    this.applied++
    this.total += Number(Buffer.from(entry.data).toString())
    return Buffer.from(String(this.total))
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ total: this.total, applied: this.applied }))
  }
  async restore(chunks: AsyncIterable<Uint8Array>, _meta: SnapshotInfo): Promise<void> {
    const parts: Buffer[] = []
    for await (const chunk of chunks) parts.push(Buffer.from(chunk))
    Object.assign(this, JSON.parse(Buffer.concat(parts).toString()))
  }
}

/** A log the test appends to: apply() gets each entry with the next index. */
function machine(options = {}): { sm: SessionStateMachine; inner: Counter; apply: (data: Uint8Array) => unknown; propose: (data: Uint8Array) => Promise<unknown> } {
  const inner = new Counter()
  const sm = new SessionStateMachine(inner, options)
  let index = 0
  const apply = (data: Uint8Array): unknown => sm.apply({ index: ++index, term: 1, type: EntryType.Normal, data })
  return { sm, inner, apply, propose: async (data) => apply(data) }
}

const text = (value: unknown): string => Buffer.from(value as Uint8Array).toString()

async function snapshotBytes(sm: SessionStateMachine): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const chunk of sm.snapshot!() as AsyncIterable<Uint8Array>) parts.push(chunk)
  return Buffer.concat(parts)
}

async function* cut(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size)
}

describe('SessionStateMachine', () => {
  it('refuses a state machine with snapshot() but no restore(), or the reverse (it would hide it from RaftNode.start, which refuses it)', () => {
    expect(() => new SessionStateMachine({ apply: () => undefined, snapshot: () => new Uint8Array() } as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/has snapshot\(\) but no restore\(\): give it both/) }))
    expect(() => new SessionStateMachine({ apply: () => undefined, restore: async () => {} } as never)).toThrow(/has restore\(\) but no snapshot\(\)/)
    expect(new SessionStateMachine({ apply: () => undefined }).snapshot).toBeUndefined()
  })

  it('applies a retried command once and answers the retry with the first answer', async () => {
    const { inner, apply, propose } = machine()
    const session = await ClientSession.open(propose, 1000)
    const { entry } = session.command(Buffer.from('5'), 1001)
    expect(text(apply(entry))).toBe('5')
    // The answer was lost; the client sends the same entry again, after another client's command.
    const other = await ClientSession.open(propose, 1002)
    expect(text(apply(other.command(Buffer.from('10'), 1003).entry))).toBe('15')
    expect(text(apply(entry))).toBe('5')
    expect(inner.applied).toBe(2)
  })

  it('keeps answers for commands in flight until the client has them, then refuses a late copy', async () => {
    const { inner, apply, propose } = machine()
    const session = await ClientSession.open(propose)
    const first = session.command(Buffer.from('1'))
    const second = session.command(Buffer.from('2'))
    // Applied out of order, each once.
    expect(text(apply(second.entry))).toBe('2')
    expect(text(apply(first.entry))).toBe('3')
    expect(text(apply(first.entry))).toBe('3')
    session.answered(first.sequence)
    session.answered(second.sequence)
    apply(session.command(Buffer.from('4')).entry)
    expect(() => apply(first.entry)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_STALE' }))
    expect(inner.applied).toBe(3)
  })

  it('expires a silent session by log time, the same way on every node', async () => {
    const nodes = [machine({ sessionTimeoutMs: 10_000 }), machine({ sessionTimeoutMs: 10_000 })]
    const entries: Uint8Array[] = []
    const session = await ClientSession.open(async (data) => {
      entries.push(data)
      return nodes[0]!.apply(data)
    }, 0)
    nodes[1]!.apply(entries[0]!)
    const busy = await ClientSession.open(async (data) => {
      nodes[1]!.apply(data)
      return nodes[0]!.apply(data)
    }, 5_000)
    // Log time moves on with another client's commands; node clocks play no part.
    for (const at of [9_000, 12_000, 16_000]) {
      const { entry } = busy.command(Buffer.from('1'), at)
      for (const node of nodes) node.apply(entry)
    }
    const late = session.command(Buffer.from('7'), 16_500).entry
    for (const node of nodes) expect(() => node.apply(late)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_EXPIRED' }))
    expect(nodes.map((node) => node.sm.size)).toEqual([1, 1])
    // Keep-alives keep the busy one.
    for (const node of nodes) node.apply(busy.keepAlive(25_000))
    expect(text(nodes[0]!.apply(busy.command(Buffer.from('1'), 26_000).entry))).toBe('4')
  })

  it('snapshots the session table with the inner state, and restores both from chunks cut anywhere', async () => {
    const { sm, apply, propose } = machine()
    const session = await ClientSession.open(propose)
    const pending = session.command(Buffer.from('3'))
    apply(pending.entry)
    apply(encodePlain(Buffer.from('4')))
    const bytes = await snapshotBytes(sm)
    for (const size of [1, 5, bytes.length]) {
      const copy = machine()
      await copy.sm.restore!(cut(bytes, size), { index: 9, term: 1 })
      expect(copy.inner.total).toBe(7)
      // The retried command is answered from the restored table, not applied again.
      expect(text(copy.apply(pending.entry))).toBe('3')
      expect(copy.inner.total).toBe(7)
      expect(await snapshotBytes(copy.sm)).toEqual(bytes)
      // The secret came back with the session.
      expect(() => copy.apply(ClientSession.resume(session.clientId, Buffer.alloc(sessionSecretBytes), 2).command(Buffer.from('1')).entry)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    }
  })

  it('passes plain entries and entries written before sessions straight to the inner state machine', () => {
    const { inner, apply } = machine()
    expect(text(apply(encodePlain(Buffer.from('2'))))).toBe('2')
    expect(text(apply(Buffer.from('3')))).toBe('5')
    expect(inner.applied).toBe(2)
  })

  it('bounds sessions and results: the least recently active session goes first', async () => {
    const { sm, apply, propose } = machine({ maxSessions: 2, maxPendingPerSession: 2 })
    const a = await ClientSession.open(propose, 1)
    await ClientSession.open(propose, 2)
    const c = await ClientSession.open(propose, 3)
    expect(sm.size).toBe(2)
    expect(() => apply(a.command(Buffer.from('1'), 4).entry)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_EXPIRED' }))
    apply(c.command(Buffer.from('1'), 5).entry)
    apply(c.command(Buffer.from('1'), 5).entry)
    expect(() => apply(c.command(Buffer.from('1'), 5).entry)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_WINDOW' }))
  })

  it('keeps results up to a byte budget over every session: a small command with a large answer no longer grows every node', async () => {
    // Each answer is 1,000 bytes: what a few-hundred-byte transaction reading a large range answers.
    const inner = { apply: (entry: LogEntry): Uint8Array => Buffer.alloc(1000, Buffer.from(entry.data).toString()) }
    const sm = new SessionStateMachine(inner, { maxKeptResultBytes: 2500 })
    let index = 0
    const apply = (data: Uint8Array): unknown => sm.apply({ index: ++index, term: 1, type: EntryType.Normal, data })
    const session = await ClientSession.open(async (data) => apply(data))
    // A client that never says it has its answers: before the budget, every one was kept.
    const sent = ['a', 'b', 'c', 'd'].map((letter) => session.command(Buffer.from(letter)))
    for (const { entry } of sent) expect(Buffer.from(apply(entry) as Uint8Array)).toHaveLength(1000)
    expect(sm.keptResultBytes).toBe(2000)
    // The first two answers are kept for a retry; the third did not fit, so its retry says it was applied.
    expect(Buffer.from(apply((sent[0] as { entry: Uint8Array }).entry) as Uint8Array).toString()).toBe('a'.repeat(1000))
    expect(() => apply((sent[2] as { entry: Uint8Array }).entry)).toThrow(expect.objectContaining({ code: 'ERR_RESULT_NOT_KEPT', message: expect.stringMatching(/was applied once/) }))
    // Acknowledged answers give their bytes back.
    session.answered((sent[0] as { sequence: number }).sequence)
    session.answered((sent[1] as { sequence: number }).sequence)
    apply(session.command(Buffer.from('e')).entry)
    expect(sm.keptResultBytes).toBe(1000)
  })

  it("refuses a command or keep-alive without the session's secret before looking at its results, and changes nothing", async () => {
    const { sm, inner, apply, propose } = machine()
    const session = await ClientSession.open(propose, 1000)
    const first = session.command(Buffer.from('5'), 1001)
    expect(text(apply(first.entry))).toBe('5')
    const wrong = Buffer.alloc(sessionSecretBytes, 7)
    // The same client id and sequence as an answered command, and the next one, from a stranger.
    for (const sequence of [first.sequence, first.sequence + 1]) {
      expect(() => apply(encodeCommand(session.clientId, sequence, sequence + 5, 1002, wrong, Buffer.from('100')))).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    }
    expect(() => apply(ClientSession.resume(session.clientId, wrong).keepAlive(1003))).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    expect(inner.applied).toBe(1)
    // The owner's retry is still answered (lowestPending did not move) and its next command applied.
    expect(text(apply(first.entry))).toBe('5')
    expect(text(apply(session.command(Buffer.from('1'), 1004).entry))).toBe('6')
    expect([inner.applied, sm.size]).toEqual([2, 1])
  })

  it('keeps a resumed session, given its secret, writing where the first process stopped', async () => {
    const { inner, apply, propose } = machine()
    const session = await ClientSession.open(propose)
    apply(session.command(Buffer.from('2')).entry)
    const again = ClientSession.resume(session.clientId, session.secret, 2)
    expect(text(apply(again.command(Buffer.from('3')).entry))).toBe('5')
    expect(inner.applied).toBe(2)
    expect(() => ClientSession.resume(session.clientId, new Uint8Array(4))).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
  })

  it('a secret bound to one identity is refused with another (what a node server does with client certificates)', async () => {
    const { inner, apply } = machine()
    const alice = Buffer.from('alice certificate hash')
    const session = await ClientSession.open(async (entry) => apply(bindEnvelope(entry, alice)))
    const { entry } = session.command(Buffer.from('1'))
    expect(() => apply(bindEnvelope(Uint8Array.from(entry), Buffer.from('mallory certificate hash')))).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    expect(() => apply(Uint8Array.from(entry))).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    expect(text(apply(bindEnvelope(Uint8Array.from(entry), alice)))).toBe('1')
    expect(inner.applied).toBe(1)
  })

  it('applies a log written before sessions had secrets as it was, and keeps its sessions apart from new ones', async () => {
    const { inner, apply, propose } = machine()
    const legacyOpen = Buffer.alloc(9)
    legacyOpen[0] = 0xc1
    const clientId = (await propose(legacyOpen)) as Uint8Array
    const legacyCommand = (sequence: number, payload: string): Buffer => {
      const out = Buffer.alloc(33 + payload.length)
      out[0] = 0xc2
      out.set(clientId, 1)
      out.writeBigUInt64LE(BigInt(sequence), 9)
      out.writeBigUInt64LE(1n, 17)
      out.write(payload, 33)
      return out
    }
    expect(text(apply(legacyCommand(1, '4')))).toBe('4')
    expect(text(apply(legacyCommand(1, '4')))).toBe('4')
    const id = Number(Buffer.from(clientId).readBigUInt64LE(0))
    // A command with a secret cannot write in a session that has none, nor the reverse.
    expect(() => apply(ClientSession.resume(id, Buffer.alloc(sessionSecretBytes)).command(Buffer.from('9'), 5).entry)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    const secured = await ClientSession.open(propose)
    const withoutSecret = legacyCommand(1, '9')
    withoutSecret.writeBigUInt64LE(BigInt(secured.clientId), 1)
    expect(() => apply(withoutSecret)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_FORBIDDEN' }))
    expect(inner.applied).toBe(1)
  })

  it('restores a version 1 snapshot (sessions without secrets) and writes version 2', async () => {
    const counter = Buffer.from(JSON.stringify({ total: 6, applied: 2 }))
    const v1 = Buffer.alloc(28 + 28 + 9 + 4 + 1)
    v1.write('RSES', 0)
    v1.writeUInt32LE(1, 4)
    v1.writeBigUInt64LE(5000n, 8)
    v1.writeUInt32LE(1, 24)
    v1.writeBigUInt64LE(3n, 28) // client 3
    v1.writeBigUInt64LE(4000n, 36)
    v1.writeBigUInt64LE(1n, 44)
    v1.writeUInt32LE(1, 52) // one result: #1 answered "6"
    v1.writeBigUInt64LE(1n, 56)
    v1[64] = 1
    v1.writeUInt32LE(1, 65)
    v1.write('6', 69)
    const { sm, inner, apply } = machine()
    await sm.restore!(cut(Buffer.concat([v1, counter]), 7), { index: 9, term: 1 })
    expect([inner.total, sm.size]).toEqual([6, 1])
    const legacy = Buffer.alloc(33)
    legacy[0] = 0xc2
    legacy.writeBigUInt64LE(3n, 1)
    legacy.writeBigUInt64LE(1n, 9)
    legacy.writeBigUInt64LE(1n, 17)
    expect(text(apply(legacy))).toBe('6')
    expect((await snapshotBytes(sm)).readUInt32LE(4)).toBe(2)
  })
})
