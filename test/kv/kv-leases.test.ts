// Leases in the key-value state machine, through the log's bytes: grant, attach keys by a put,
// revoke (an expiry is committed as one) deleting every attached key at one revision, detaching
// by a later put, compares on the lease, and snapshots that carry leases and attachments.
import { describe, expect, it } from 'vitest'
import { decodeBlobJson } from '../../src/kv/kv-blob-json.js'
import { encodeKvSnapshot } from '../../src/kv/kv-snapshot.js'
import type { LeaseInfo } from '../../src/kv/lease-table.js'
import { decodeLeaseResult, decodeTxnResult, encodeKvCommand, KvStateMachine, type KvCommand, type LeaseOutcome } from '../../src/kv/kv-state-machine.js'
import type { RequestOp, TxnOutcome } from '../../src/kv/kv-txn.js'
import type { KeyEvent } from '../../src/kv/mvcc-store.js'
import { EntryType } from '../../src/storage/log-entry.js'

const b = (text: string): Buffer => Buffer.from(text)
let index = 0
const applyBytes = (kv: KvStateMachine, command: KvCommand): Uint8Array => kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) })
const lease = (kv: KvStateMachine, command: KvCommand): LeaseOutcome => decodeLeaseResult(applyBytes(kv, command))
const txn = (kv: KvStateMachine, ...success: RequestOp[]): TxnOutcome => decodeTxnResult(applyBytes(kv, { op: 'txn', txn: { compare: [], success, failure: [] } }))
const put = (key: string, value: string, leaseId = 0, ignoreLease = false): RequestOp => ({ put: { key: b(key), value: b(value), prevKv: false, ignoreValue: false, ignoreLease, lease: leaseId } })

async function copyOf(kv: KvStateMachine): Promise<KvStateMachine> {
  const copy = new KvStateMachine()
  await copy.restore(kv.snapshot())
  return copy
}

describe('leases in the key-value store', () => {
  it('grant, attach keys by a put, and revoke them all at one revision', () => {
    const kv = new KvStateMachine()
    expect(lease(kv, { op: 'leaseGrant', id: 7, ttl: 30 })).toEqual({ revision: 1, id: 7, ttl: 30 })
    txn(kv, put('a', '1', 7), put('b', '2', 7), put('c', '3'))
    expect(kv.lease(7)).toEqual({ ttl: 30, keys: [b('a'), b('b')], remaining: 0 })
    expect(kv.range({ key: b('a'), rangeEnd: Buffer.alloc(0), limit: 0, revision: 0, sortOrder: 'none', sortTarget: 'key', keysOnly: false, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 }).kvs[0]?.lease).toBe(7)
    const events: [number, KeyEvent[]][] = []
    kv.onChange({ changed: (revision, changed) => events.push([revision, changed]), reset: () => {} })
    const revoked = lease(kv, { op: 'leaseRevoke', id: 7 })
    expect(revoked.revision).toBe(3)
    expect(events).toHaveLength(1)
    expect(events[0]?.[0]).toBe(3)
    expect(events[0]?.[1].map((event) => [event.key, event.change.value, event.prev?.value])).toEqual([['a', undefined, '1'], ['b', undefined, '2']])
    expect([kv.size, kv.lease(7), kv.leaseList()]).toEqual([1, undefined, []])
  })

  it('refuse a put naming a lease that does not exist, and a second grant of one id', () => {
    const kv = new KvStateMachine()
    expect(() => txn(kv, put('a', '1', 9))).toThrow(expect.objectContaining({ code: 'ERR_LEASE_NOT_FOUND' }))
    lease(kv, { op: 'leaseGrant', id: 9, ttl: 5 })
    expect(() => lease(kv, { op: 'leaseGrant', id: 9, ttl: 5 })).toThrow(expect.objectContaining({ code: 'ERR_LEASE_EXISTS' }))
    expect(() => lease(kv, { op: 'leaseRevoke', id: 10 })).toThrow(expect.objectContaining({ code: 'ERR_LEASE_NOT_FOUND' }))
    expect(() => lease(kv, { op: 'leaseGrant', id: 11, ttl: 0 })).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENT' }))
    // Refusals change nothing: the revision stays.
    expect(kv.revision).toBe(1)
  })

  it('detach a key put again without the lease, and keep it with ignore_lease', () => {
    const kv = new KvStateMachine()
    lease(kv, { op: 'leaseGrant', id: 1, ttl: 60 })
    txn(kv, put('kept', 'x', 1), put('moved', 'y', 1))
    txn(kv, put('kept', 'x2', 0, true), put('moved', 'y2'))
    expect(kv.lease(1)?.keys).toEqual([b('kept')])
    lease(kv, { op: 'leaseRevoke', id: 1 })
    expect([kv.get('kept'), kv.get('moved')]).toEqual([null, b('y2')])
    expect(() => txn(kv, put('absent', 'z', 0, true))).toThrow(expect.objectContaining({ code: 'ERR_KEY_NOT_FOUND' }))
  })

  it('compare a key\'s lease in a transaction', () => {
    const kv = new KvStateMachine()
    lease(kv, { op: 'leaseGrant', id: 3, ttl: 60 })
    txn(kv, put('k', 'v', 3))
    const outcome = decodeTxnResult(applyBytes(kv, { op: 'txn', txn: { compare: [{ key: b('k'), rangeEnd: Buffer.alloc(0), target: 'lease', result: 'equal', operand: 3 }], success: [put('hit', '1')], failure: [] } }))
    expect(outcome.succeeded).toBe(true)
  })

  it('carry leases and their keys through a snapshot', async () => {
    const kv = new KvStateMachine()
    const grantIndex = index + 1
    lease(kv, { op: 'leaseGrant', id: 5, ttl: 20 })
    lease(kv, { op: 'leaseGrant', id: 6, ttl: 40 })
    txn(kv, put('x', '1', 5), put('y', '2', 6), put('z', '3'))
    const copy = await copyOf(kv)
    expect(copy.leaseList()).toEqual([{ id: 5, ttl: 20, grantIndex }, { id: 6, ttl: 40, grantIndex: grantIndex + 1 }])
    expect(copy.lease(5)?.keys).toEqual([b('x')])
    lease(copy, { op: 'leaseRevoke', id: 6 })
    expect([copy.get('x'), copy.get('y'), copy.get('z')]).toEqual([b('1'), null, b('3')])
  })

  it("record the leader's checkpoints (all or none, leases gone passed over, no revision) and carry them through a snapshot", async () => {
    const kv = new KvStateMachine()
    const first = index + 1
    lease(kv, { op: 'leaseGrant', id: 1, ttl: 600 })
    lease(kv, { op: 'leaseGrant', id: 2, ttl: 900 })
    const revision = kv.revision
    const checkpoint = (checkpoints: { id: number; remaining: number }[], proposedAt = index): unknown => decodeBlobJson(Buffer.from(applyBytes(kv, { op: 'leaseCheckpoint', proposedAt, checkpoints })))
    expect(checkpoint([{ id: 1, remaining: 300 }, { id: 99, remaining: 5 }])).toEqual({ revision })
    expect(kv.revision).toBe(revision)
    expect(kv.leaseList()).toEqual([{ id: 1, ttl: 600, remaining: 300, grantIndex: first }, { id: 2, ttl: 900, grantIndex: first + 1 }])
    // One out of range refuses the entry whole: lease 2 keeps no checkpoint.
    expect(checkpoint([{ id: 2, remaining: 100 }, { id: 1, remaining: 601 }])).toEqual({ error: { code: 'ERR_BAD_ARGUMENT', message: expect.stringContaining("Lease 1's checkpoint must be from 0 to its TTL of 600 seconds, got 601") } })
    expect(kv.lease(2)?.remaining).toBe(0)
    const copy = await copyOf(kv)
    expect(copy.leaseList()).toEqual([{ id: 1, ttl: 600, remaining: 300, grantIndex: first }, { id: 2, ttl: 900, grantIndex: first + 1 }])
    // A checkpoint of 0 (a keep-alive): the whole TTL counts again.
    checkpoint([{ id: 1, remaining: 0 }])
    expect(kv.leaseList()).toEqual([{ id: 1, ttl: 600, grantIndex: first }, { id: 2, ttl: 900, grantIndex: first + 1 }])
  })

  it('pass over a checkpoint of a lease granted after the index it was proposed at (the same id granted again), on every replica alike', async () => {
    const kv = new KvStateMachine()
    lease(kv, { op: 'leaseGrant', id: 4, ttl: 600 })
    const seenAt = index
    lease(kv, { op: 'leaseRevoke', id: 4 })
    lease(kv, { op: 'leaseGrant', id: 4, ttl: 600 })
    // A replica that installs a snapshot taken here judges the checkpoint as one that applied the grant.
    const replica = await copyOf(kv)
    const entry = { op: 'leaseCheckpoint', proposedAt: seenAt, checkpoints: [{ id: 4, remaining: 500 }] } as const
    applyBytes(kv, entry)
    applyBytes(replica, entry)
    expect(kv.lease(4)?.remaining).toBe(0)
    expect(replica.lease(4)?.remaining).toBe(0)
    // Proposed once the new grant was applied, it counts.
    applyBytes(kv, { ...entry, proposedAt: index })
    expect(kv.lease(4)?.remaining).toBe(500)
  })

  it('refuse a snapshot whose checkpoint or grant index does not follow its lease, or outlasts its TTL (ERR_CORRUPT)', async () => {
    const lease: LeaseInfo = { id: 1, ttl: 10, remaining: 5, grantIndex: 3 }
    const bytesWith = async (tamper: (bytes: Buffer) => void): Promise<Buffer> => {
      const chunks: Uint8Array[] = []
      for await (const chunk of encodeKvSnapshot({ revision: 1, compacted: 0, eventsFrom: 0, keys: [] }, 0, [lease])) chunks.push(chunk)
      const bytes = Buffer.concat(chunks)
      tamper(bytes)
      return bytes
    }
    const record = (type: number, value: number): Buffer => Buffer.concat([Buffer.of(type), Buffer.from(new BigUint64Array([1n, BigInt(value)]).buffer)])
    const restore = async (bytes: Buffer): Promise<void> => new KvStateMachine().restore((async function* () { yield bytes })())
    await expect(restore(await bytesWith(() => undefined))).resolves.toBeUndefined()
    await expect(restore(await bytesWith((bytes) => (bytes[bytes.indexOf(record(0x06, 5)) + 1] = 2)))).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringContaining('a checkpoint of lease 2 that does not follow that lease') })
    await expect(restore(await bytesWith((bytes) => (bytes[bytes.indexOf(record(0x06, 5)) + 9] = 11)))).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringContaining('or outlasts its TTL') })
    await expect(restore(await bytesWith((bytes) => (bytes[bytes.indexOf(record(0x07, 3)) + 1] = 2)))).rejects.toMatchObject({ code: 'ERR_CORRUPT', message: expect.stringContaining('the grant index of lease 2 does not follow that lease') })
  })

  it('tell lease listeners of grants, revokes and a restore', async () => {
    const kv = new KvStateMachine()
    const heard: string[] = []
    kv.onLease({ granted: (id, ttl) => heard.push(`grant ${id} ${ttl}`), revoked: (id) => heard.push(`revoke ${id}`), checkpointed: (id, remaining) => heard.push(`checkpoint ${id} ${remaining}`), reset: () => heard.push('reset') })
    lease(kv, { op: 'leaseGrant', id: 2, ttl: 10 })
    applyBytes(kv, { op: 'leaseCheckpoint', proposedAt: index, checkpoints: [{ id: 2, remaining: 0 }, { id: 99, remaining: 3 }] })
    lease(kv, { op: 'leaseRevoke', id: 2 })
    await kv.restore(new KvStateMachine().snapshot())
    expect(heard).toEqual(['grant 2 10', 'checkpoint 2 0', 'revoke 2', 'reset'])
  })
})

describe('watch events from the store', () => {
  it('replay a range from a revision in revision order (within one, the order its write made them), each with the put before it', () => {
    const kv = new KvStateMachine()
    txn(kv, put('a', '1')) // 2
    txn(kv, put('b', '1'), put('a', '2')) // 3
    applyBytes(kv, { op: 'txn', txn: { compare: [], success: [{ deleteRange: { key: b('a'), rangeEnd: Buffer.alloc(0), prevKv: false } }], failure: [] } }) // 4
    txn(kv, put('c', '1')) // 5 (outside the range)
    const events = kv.eventsSince(b('a'), b('c'), 3)
    expect(events.map((e) => `${e.key}@${e.change.mod}:${e.change.value ?? 'DELETE'}<${e.prev?.value ?? '-'}`)).toEqual(['b@3:1<-', 'a@3:2<1', 'a@4:DELETE<2'])
    expect(kv.eventsSince(b('c'), Buffer.alloc(0), 6)).toEqual([])
  })

  it('answer ERR_COMPACTED from a revision below the compaction point; from the compaction point itself, its events (as etcd)', () => {
    const kv = new KvStateMachine()
    txn(kv, put('a', '1'))
    txn(kv, put('a', '2'))
    applyBytes(kv, { op: 'compact', revision: 2 })
    expect(() => kv.eventsSince(b('a'), Buffer.alloc(0), 1)).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED' }))
    expect(kv.eventsSince(b('a'), Buffer.alloc(0), 2).map((e) => e.change.mod)).toEqual([2, 3])
    expect(kv.firstEventRevision).toBe(2)
  })
})
