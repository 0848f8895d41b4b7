// etcd's requests on the key-value state machine, through the log's bytes (encodeKvCommand,
// apply, decodeTxnResult): transactions at one revision, all or nothing; compares; ranges with
// their options; compaction; snapshots that carry the history.
import { describe, expect, it } from 'vitest'
import { decodeTxnResult, encodeKvCommand, KvStateMachine, type KvCommand } from '../../src/kv/kv-state-machine.js'
import type { Compare, RangeRequest, RequestOp, TxnOutcome, TxnRequest } from '../../src/kv/kv-txn.js'
import { encodeKvSnapshot } from '../../src/kv/kv-snapshot.js'
import { EntryType } from '../../src/storage/log-entry.js'

const b = (text: string): Buffer => Buffer.from(text)
const none = Buffer.alloc(0)
let index = 0

function apply(kv: KvStateMachine, command: KvCommand): TxnOutcome {
  return decodeTxnResult(kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) }))
}
const txn = (kv: KvStateMachine, request: Partial<TxnRequest>): TxnOutcome => apply(kv, { op: 'txn', txn: { compare: [], success: [], failure: [], ...request } })
const putOp = (key: string, value: string, prevKv = false): RequestOp => ({ put: { key: b(key), value: b(value), prevKv, ignoreValue: false, ignoreLease: false, lease: 0 } })
const delOp = (key: string, rangeEnd = '', prevKv = false): RequestOp => ({ deleteRange: { key: b(key), rangeEnd: b(rangeEnd), prevKv } })
const range = (key: string, options: Partial<RangeRequest> = {}): RangeRequest => ({
  key: b(key),
  rangeEnd: none,
  limit: 0,
  revision: 0,
  sortOrder: 'none',
  sortTarget: 'key',
  keysOnly: false,
  countOnly: false,
  minModRevision: 0,
  maxModRevision: 0,
  minCreateRevision: 0,
  maxCreateRevision: 0,
  ...options,
})
const keys = (kv: KvStateMachine, request: RangeRequest): string[] => kv.range(request).kvs.map((pair) => `${pair.key}=${pair.value}@${pair.modRevision}`)
const compare = (key: string, target: Compare['target'], result: Compare['result'], operand: number | string): Compare => ({ key: b(key), rangeEnd: none, target, result, operand: typeof operand === 'string' ? b(operand) : operand })

describe('etcd transactions on the key-value store', () => {
  it('apply every write of a transaction at one revision', () => {
    const kv = new KvStateMachine()
    const outcome = txn(kv, { success: [putOp('a', '1'), putOp('b', '2'), delOp('missing')] })
    expect(outcome).toMatchObject({ revision: 2, succeeded: true })
    expect(kv.revision).toBe(2)
    expect(keys(kv, range('a', { rangeEnd: b('c') }))).toEqual(['a=1@2', 'b=2@2'])
  })

  it('answer puts with the previous pair and deletes with how many they removed', () => {
    const kv = new KvStateMachine()
    txn(kv, { success: [putOp('k', 'v1')] })
    const second = txn(kv, { success: [putOp('k', 'v2', true)] })
    expect(second.responses[0]).toEqual({ put: { prevKv: { key: b('k'), value: b('v1'), createRevision: 2, modRevision: 2, version: 1, lease: 0 } } })
    txn(kv, { success: [putOp('k2', 'x'), putOp('l', 'y')] })
    const deleted = txn(kv, { success: [delOp('k', 'l', true)] })
    expect(deleted.responses[0]).toMatchObject({ deleteRange: { deleted: 2, prevKvs: [{ key: b('k') }, { key: b('k2') }] } })
    expect(keys(kv, range('\0', { rangeEnd: b('\0') }))).toEqual(['l=y@4'])
  })

  it('choose their branch by the compares, against the state before them', () => {
    const kv = new KvStateMachine()
    txn(kv, { success: [putOp('k', 'v')] }) // revision 2
    const cases: [Compare, boolean][] = [
      [compare('k', 'value', 'equal', 'v'), true],
      [compare('k', 'value', 'not_equal', 'v'), false],
      [compare('k', 'value', 'greater', 'a'), true],
      [compare('k', 'version', 'equal', 1), true],
      [compare('k', 'create', 'less', 2), false],
      [compare('k', 'mod', 'greater', 1), true],
      [compare('absent', 'version', 'equal', 0), true],
      [compare('absent', 'create', 'equal', 0), true],
      [compare('absent', 'value', 'equal', ''), false],
    ]
    for (const [c, expected] of cases) {
      const outcome = txn(kv, { compare: [c], success: [{ range: range('k') }], failure: [] })
      expect([c.target, c.result, outcome.succeeded]).toEqual([c.target, c.result, expected])
    }
    const failed = txn(kv, { compare: [compare('k', 'value', 'equal', 'other')], success: [putOp('k', 'yes')], failure: [putOp('k', 'no'), { range: range('k') }] })
    expect(failed.succeeded).toBe(false)
    expect(failed.responses[1]).toMatchObject({ range: { kvs: [{ value: b('no'), version: 2 }], count: 1 } })
  })

  it('are all or nothing: a refused transaction changes nothing, not even the revision', () => {
    const kv = new KvStateMachine()
    txn(kv, { success: [putOp('k', 'v')] })
    const refusals: [RequestOp[], string][] = [
      [[putOp('a', '1'), { put: { key: b('b'), value: none, prevKv: false, ignoreValue: true, ignoreLease: false, lease: 0 } }], 'ERR_KEY_NOT_FOUND'],
      [[putOp('a', '1'), { put: { key: b('b'), value: none, prevKv: false, ignoreValue: false, ignoreLease: false, lease: 7 } }], 'ERR_LEASE_NOT_FOUND'],
      [[putOp('a', '1'), putOp('a', '2')], 'ERR_BAD_ARGUMENT'],
      [[putOp('a', '1'), { range: range('k', { revision: 99 }) }], 'ERR_FUTURE_REVISION'],
    ]
    for (const [success, code] of refusals) {
      expect(() => txn(kv, { success })).toThrow(expect.objectContaining({ code }))
      expect([kv.revision, kv.get('a')]).toEqual([2, null])
    }
  })

  it('refuse a write whose ranges would answer more than maxTxnAnswerBytes, changing nothing: every node built the answer', () => {
    const kv = new KvStateMachine()
    const megabyte = 'x'.repeat(1024 * 1024)
    for (let i = 0; i < 4; i++) txn(kv, { success: [putOp(`big/${i}`, megabyte)] })
    const before = kv.revision
    // A few hundred bytes asking for 4 MiB a hundred times over: 400 MiB on every node, for each such entry in the log.
    const reads = Array.from({ length: 100 }, (): RequestOp => ({ range: range('big/', { rangeEnd: b('big0') }) }))
    expect(() => txn(kv, { success: [putOp('big/new', 'v'), delOp('big/0'), ...reads] })).toThrow(expect.objectContaining({ code: 'ERR_REQUEST_TOO_LARGE', message: expect.stringMatching(/answer/) }))
    expect([kv.revision, kv.get('big/new'), kv.get('big/0')?.length]).toEqual([before, null, megabyte.length])
    expect(kv.range(range('big/', { rangeEnd: b('big0'), countOnly: true })).count).toBe(4)
    // Within the bound, the same kind of transaction runs.
    const outcome = txn(kv, { success: [putOp('big/new', 'v'), ...reads.slice(0, 10)] })
    expect(outcome.responses).toHaveLength(11)
    expect(kv.revision).toBe(before + 1)
  })

  it('let later operations see earlier writes of the same transaction, and nest', () => {
    const kv = new KvStateMachine()
    const outcome = txn(kv, {
      success: [putOp('a', '1'), { range: range('a') }, { txn: { compare: [compare('a', 'version', 'equal', 0)], success: [putOp('inner', 'then')], failure: [putOp('inner', 'else')] } }],
    })
    expect(outcome.responses[1]).toMatchObject({ range: { kvs: [{ value: b('1'), modRevision: 2 }] } })
    // The nested compare saw the state before the transaction: 'a' did not exist then.
    expect(kv.get('inner')).toEqual(b('then'))
    expect(kv.revision).toBe(2)
  })

  it('keep raftlog commands and etcd requests on one revision counter', () => {
    const kv = new KvStateMachine()
    kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: 'k', value: 'raftlog' }) })
    txn(kv, { success: [putOp('k', 'etcd')] })
    kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'batch', puts: [{ key: 'x', value: '1' }, { key: 'y', value: '2' }] }) })
    expect(kv.revision).toBe(4)
    expect(kv.range(range('k'))).toMatchObject({ kvs: [{ value: b('etcd'), createRevision: 2, modRevision: 3, version: 2 }] })
    expect(keys(kv, range('k', { revision: 2 }))).toEqual(['k=raftlog@2'])
  })
})

describe('etcd ranges', () => {
  const kv = new KvStateMachine()
  txn(kv, { success: [putOp('a', 'z'), putOp('b', 'y')] }) // 2
  txn(kv, { success: [putOp('c', 'x')] }) // 3
  txn(kv, { success: [putOp('a', 'w')] }) // 4

  it('limit, count and more', () => {
    expect(kv.range(range('a', { rangeEnd: b('\0'), limit: 2 }))).toMatchObject({ count: 3, more: true, kvs: [{ key: b('a') }, { key: b('b') }] })
    expect(kv.range(range('a', { rangeEnd: b('\0'), countOnly: true }))).toEqual({ count: 3, more: false, kvs: [] })
    expect(kv.range(range('a', { rangeEnd: b('\0'), keysOnly: true })).kvs.map((pair) => pair.value.length)).toEqual([0, 0, 0])
  })

  it('sort by any target in either order, the limit applied after sorting', () => {
    expect(keys(kv, range('a', { rangeEnd: b('\0'), sortOrder: 'descend' }))).toEqual(['c=x@3', 'b=y@2', 'a=w@4'])
    expect(keys(kv, range('a', { rangeEnd: b('\0'), sortTarget: 'value', sortOrder: 'ascend', limit: 2 }))).toEqual(['a=w@4', 'c=x@3'])
    expect(keys(kv, range('a', { rangeEnd: b('\0'), sortTarget: 'mod', sortOrder: 'descend' }))).toEqual(['a=w@4', 'c=x@3', 'b=y@2'])
    expect(keys(kv, range('a', { rangeEnd: b('\0'), sortTarget: 'create' }))[2]).toBe('c=x@3')
  })

  it('filter by mod and create revision, and read as of a past revision', () => {
    expect(keys(kv, range('a', { rangeEnd: b('\0'), minModRevision: 3 }))).toEqual(['a=w@4', 'c=x@3'])
    expect(keys(kv, range('a', { rangeEnd: b('\0'), maxCreateRevision: 2 }))).toEqual(['a=w@4', 'b=y@2'])
    expect(keys(kv, range('a', { rangeEnd: b('\0'), revision: 2 }))).toEqual(['a=z@2', 'b=y@2'])
  })
})

describe('etcd compaction and snapshots', () => {
  it('compacts through the log and refuses reads below the compacted revision', () => {
    const kv = new KvStateMachine()
    for (const value of ['1', '2', '3']) txn(kv, { success: [putOp('k', value)] })
    expect(apply(kv, { op: 'compact', revision: 3 })).toMatchObject({ revision: 4 })
    expect(kv.compactRevision).toBe(3)
    expect(keys(kv, range('k', { revision: 3 }))).toEqual(['k=2@3'])
    expect(() => kv.range(range('k', { revision: 2 }))).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    expect(() => apply(kv, { op: 'compact', revision: 3 })).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    expect(() => apply(kv, { op: 'compact', revision: 5 })).toThrow(expect.objectContaining({ code: 'ERR_FUTURE_REVISION' }))
  })

  it('compacts up to revision 0 once, as etcd (its compaction point starts at -1), and a snapshot keeps whether it did', async () => {
    const snapshotted = async (from: KvStateMachine): Promise<KvStateMachine> => {
      const restored = new KvStateMachine()
      await restored.restore(from.snapshot())
      return restored
    }
    const never = new KvStateMachine()
    txn(never, { success: [putOp('k', '1')] })
    const neverRestored = await snapshotted(never)
    for (const kv of [never, neverRestored]) {
      expect(apply(kv, { op: 'compact', revision: 0 })).toMatchObject({ revision: 2 })
      expect(kv.compactRevision).toBe(0)
      expect(keys(kv, range('k', { revision: 1 }))).toEqual([])
    }
    const once = await snapshotted(never)
    for (const kv of [never, once]) expect(() => apply(kv, { op: 'compact', revision: 0 })).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    // Compacted up to 0, a store still compacts further.
    expect(apply(once, { op: 'compact', revision: 2 })).toMatchObject({ revision: 2 })
    expect((await snapshotted(once)).compactRevision).toBe(2)
  })

  it('compacts by itself once twice historyRevisions have gathered, keeping that many, at the same revisions on every node', () => {
    const kv = new KvStateMachine({ historyRevisions: 3 })
    const compactedAt: number[] = []
    for (let i = 0; i < 12; i++) {
      txn(kv, { success: [putOp('k', String(i))] })
      compactedAt.push(kv.compactRevision)
    }
    // Revisions 2..13: at revision 6 (6 past the last compaction, none) it compacts up to 3, at 9 to 6, at 12 to 9.
    expect(compactedAt).toEqual([0, 0, 0, 0, 3, 3, 3, 6, 6, 6, 9, 9])
    expect(keys(kv, range('k', { revision: 9 }))).toEqual(['k=7@9'])
    expect(() => kv.range(range('k', { revision: 8 }))).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    const manual = new KvStateMachine({ historyRevisions: 0 })
    for (let i = 0; i < 12; i++) txn(manual, { success: [putOp('k', String(i))] })
    expect(manual.compactRevision).toBe(0)
    expect(() => new KvStateMachine({ historyRevisions: -1 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
  })

  it('carry the history, the revision and the compaction point through a snapshot', async () => {
    const kv = new KvStateMachine()
    for (const value of ['1', '2', '3']) txn(kv, { success: [putOp('k', value)] })
    txn(kv, { success: [putOp('gone', 'x')] })
    txn(kv, { success: [delOp('gone')] })
    apply(kv, { op: 'compact', revision: 3 })
    const chunks: Uint8Array[] = []
    for await (const chunk of kv.snapshot()) chunks.push(chunk)
    // Later writes do not reach a snapshot already taken.
    txn(kv, { success: [putOp('k', 'after')] })
    const restored = new KvStateMachine()
    await restored.restore(
      (async function* () {
        // Cut anywhere: one byte at a time.
        for (const byte of Buffer.concat(chunks)) yield Uint8Array.of(byte)
      })(),
    )
    expect([restored.revision, restored.compactRevision, restored.size]).toEqual([6, 3, 1])
    expect(keys(restored, range('k', { revision: 3 }))).toEqual(['k=2@3'])
    expect(keys(restored, range('gone', { revision: 5 }))).toEqual(['gone=x@5'])
    expect(keys(restored, range('gone'))).toEqual([])
    expect(() => restored.range(range('k', { revision: 2 }))).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    // The next write continues from the snapshot's revision.
    txn(restored, { success: [putOp('k', 'next')] })
    expect(restored.range(range('k')).kvs[0]).toMatchObject({ createRevision: 2, modRevision: 7, version: 4 })
  })

  it('reads a version 1 snapshot (values only) at revision 1 + writes applied', async () => {
    const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer)
    const pair = (key: string, value: string): Buffer => Buffer.concat([Buffer.of(1), u32(key.length), b(key), u32(value.length), b(value)])
    const writes = Buffer.alloc(9)
    writes[0] = 2
    writes.writeBigUInt64LE(41n, 1)
    const old = Buffer.concat([b('KVS1'), pair('a', '1'), pair('b', '2'), writes, Buffer.of(0xff)])
    const kv = new KvStateMachine()
    await kv.restore((async function* () { yield old })())
    expect([kv.revision, kv.writesApplied, kv.size]).toEqual([42, 41, 2])
    expect(kv.range(range('a')).kvs[0]).toMatchObject({ createRevision: 42, modRevision: 42, version: 1 })
    // A version 5 snapshot is what is written now.
    const chunks: Uint8Array[] = []
    for await (const chunk of encodeKvSnapshot({ revision: 1, compacted: 0, eventsFrom: 0, keys: [] })) chunks.push(chunk)
    expect(Buffer.concat(chunks).subarray(0, 4).toString()).toBe('KVS5')
  })

  it('reads a version 4 snapshot (a delete at the compaction point was dropped): watches start one past that point', async () => {
    const kv = new KvStateMachine()
    txn(kv, { success: [putOp('k', '1')] }) // 2
    txn(kv, { success: [putOp('gone', 'x')] }) // 3
    txn(kv, { success: [delOp('gone')] }) // 4
    txn(kv, { success: [putOp('k', '2')] }) // 5
    apply(kv, { op: 'compact', revision: 4 })
    const chunks: Uint8Array[] = []
    for await (const chunk of kv.snapshot()) chunks.push(chunk)
    const v5 = Buffer.concat(chunks)
    // Version 4: the same records without the revision record's last field (events from).
    const v4 = Buffer.concat([b('KVS4'), v5.subarray(4, 4 + 17), v5.subarray(4 + 25)])
    const restored = new KvStateMachine()
    await restored.restore((async function* () { yield v4 })())
    expect([restored.revision, restored.compactRevision, restored.firstEventRevision]).toEqual([5, 4, 5])
    expect(() => restored.eventsSince(b('a'), b('z'), 4)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED', message: 'Revision 4 was compacted: events are kept from revision 5' }))
    expect(restored.eventsSince(b('a'), b('z'), 5).map((event) => event.key)).toEqual(['k'])
    // Version 5 keeps the point: the delete made at 4 replays.
    const again = new KvStateMachine()
    await again.restore((async function* () { yield v5 })())
    expect(again.firstEventRevision).toBe(4)
    expect(again.eventsSince(b('a'), b('z'), 4).map((event) => `${event.key}:${event.change.value ?? 'DELETE'}`)).toEqual(['gone:DELETE', 'k:2'])
    // A first revision of events that is neither the compaction point nor the one after it is damage.
    const tampered = Buffer.from(v5)
    tampered.writeBigInt64LE(6n, 4 + 17)
    await expect(new KvStateMachine().restore((async function* () { yield tampered })())).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringContaining('the first revision of its events 6 is neither its compaction point 4 nor the one after it') })
  })

  it("reads a version 3 snapshot (no sub-revisions): a revision's events replay in key order", async () => {
    const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer)
    const u64 = (n: number): Buffer => {
      const bytes = Buffer.alloc(8)
      bytes.writeBigUInt64LE(BigInt(n))
      return bytes
    }
    const change = (mod: number, create: number, version: number, lease: number, value: string | undefined): Buffer =>
      value === undefined ? Buffer.concat([u64(mod), u64(create), u64(version), u64(lease), Buffer.of(0)]) : Buffer.concat([u64(mod), u64(create), u64(version), u64(lease), Buffer.of(1), u32(value.length), b(value)])
    const key = (name: string, ...changes: Buffer[]): Buffer => Buffer.concat([Buffer.of(4), u32(name.length), b(name), u32(changes.length), ...changes])
    // 'b' put at 2; one write at 3 put 'c' then deleted 'b' (the order is lost in version 3); lease 7 holds 'c'.
    const lease = Buffer.concat([Buffer.of(5), u64(7), u64(60)])
    const v3 = Buffer.concat([b('KVS3'), Buffer.of(3), u64(3), u64(0), key('b', change(2, 2, 1, 0, 'x'), change(3, 0, 0, 0, undefined)), key('c', change(3, 3, 1, 7, 'y')), lease, Buffer.of(2), u64(2), Buffer.of(0xff)])
    const kv = new KvStateMachine()
    await kv.restore((async function* () { yield v3 })())
    expect([kv.revision, kv.writesApplied, kv.size]).toEqual([3, 2, 1])
    expect(kv.range(range('c')).kvs[0]).toMatchObject({ value: b('y'), createRevision: 3, modRevision: 3, version: 1, lease: 7 })
    expect(kv.eventsSince(b('a'), b('z'), 3).map((event) => event.key)).toEqual(['b', 'c'])
  })

  it('reads a version 2 snapshot (history, no leases): every key without a lease', async () => {
    const u32 = (n: number): Buffer => Buffer.from(Uint32Array.of(n).buffer)
    const u64 = (n: number): Buffer => {
      const bytes = Buffer.alloc(8)
      bytes.writeBigUInt64LE(BigInt(n))
      return bytes
    }
    // Key 'k': put 'a' at 2, put 'b' at 3 (version 2); revision 3, nothing compacted, 2 writes.
    const change = (mod: number, create: number, version: number, value: string): Buffer => Buffer.concat([u64(mod), u64(create), u64(version), Buffer.of(1), u32(value.length), b(value)])
    const v2 = Buffer.concat([b('KVS2'), Buffer.of(3), u64(3), u64(0), Buffer.of(4), u32(1), b('k'), u32(2), change(2, 2, 1, 'a'), change(3, 2, 2, 'b'), Buffer.of(2), u64(2), Buffer.of(0xff)])
    const kv = new KvStateMachine()
    await kv.restore((async function* () { yield v2 })())
    expect([kv.revision, kv.writesApplied, kv.size]).toEqual([3, 2, 1])
    expect(kv.range(range('k')).kvs[0]).toMatchObject({ value: b('b'), createRevision: 2, modRevision: 3, version: 2, lease: 0 })
    expect(keys(kv, range('k', { revision: 2 }))).toEqual(['k=a@2'])
    expect(kv.leaseList()).toEqual([])
    // Its compaction point 0 is never compacted (a compaction up to 0 was refused then).
    expect(apply(kv, { op: 'compact', revision: 0 })).toMatchObject({ revision: 3 })
  })
})
