// A transaction's answer in its packed form (kv-txn-outcome-codec.ts): every kind of response
// comes back as it was, answers kept in the JSON form before (client sessions' cached answers,
// snapshots) are still read, and damaged bytes are refused with ERR_BAD_COMMAND.
import { describe, expect, it } from 'vitest'
import { decodeTxnResult, encodeKvCommand, KvCommandError, KvStateMachine } from '../../src/kv/kv-state-machine.js'
import { encodeBlobJson } from '../../src/kv/kv-blob-json.js'
import { isPackedTxnOutcome, packTxnOutcome } from '../../src/kv/kv-txn-outcome-codec.js'
import type { KeyValue, TxnOutcome } from '../../src/kv/kv-txn.js'
import { decodeRangeAnswer } from '../../src/kv/kv-query.js'
import { EntryType } from '../../src/storage/log-entry.js'

const kv = (key: string, value: string, revision: number, lease = 0): KeyValue => ({ key: Buffer.from(key), value: Buffer.from(value), createRevision: revision, modRevision: revision + 1, version: 2, lease })

const everything: TxnOutcome = {
  revision: 2 ** 53 - 1,
  succeeded: true,
  responses: [
    { range: { kvs: [kv('a', 'x', 3, 7), kv('b', '', 4)], more: true, count: 12, storeRevision: 40 } },
    { range: { kvs: [], more: false, count: 0 } },
    { put: {} },
    { put: { prevKv: kv('c', Buffer.alloc(300, 1).toString('latin1'), 5) } },
    { deleteRange: { deleted: 3, prevKvs: [kv('d', 'y', 6)] } },
    { deleteRange: { deleted: 0, prevKvs: [] } },
    { txn: { succeeded: false, responses: [{ txn: { succeeded: true, responses: [] } }, { put: {} }] } },
  ],
}

describe("packed transactions' answers", () => {
  it('come back as they were packed, every kind of response, nested ones and optional fields', () => {
    const bytes = packTxnOutcome(everything)
    expect(isPackedTxnOutcome(bytes)).toBe(true)
    expect(decodeTxnResult(bytes)).toEqual(everything)
    expect(Object.keys((decodeTxnResult(bytes).responses[1] as { range: object }).range)).not.toContain('storeRevision')
  })

  it('are what applying a transaction answers; answers in the JSON form, and refusals, are still read', () => {
    const store = new KvStateMachine()
    const answer = store.apply({ index: 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'txn', txn: { compare: [], success: [{ put: { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } }], failure: [] } }) })
    expect(isPackedTxnOutcome(Buffer.from(answer))).toBe(true)
    expect(decodeTxnResult(answer)).toEqual({ revision: 2, succeeded: true, responses: [{ put: {} }] })
    expect(decodeTxnResult(encodeBlobJson(everything))).toEqual(everything)
    expect(() => decodeTxnResult(encodeBlobJson({ error: { code: 'ERR_COMPACTED', message: 'gone' } }))).toThrow(expect.objectContaining({ code: 'ERR_COMPACTED', message: 'gone' }))
  })

  it('refuse answers nested deeper than any transaction can be, by a count, not a stack overflow', () => {
    // Per level: succeeded, one response, of kind 4 (a nested transaction's answer).
    const level = Buffer.concat([Buffer.of(1), Buffer.from(Uint32Array.of(1).buffer), Buffer.of(4)])
    const head = Buffer.concat([Buffer.from(Uint32Array.of(0xffffffff).buffer), Buffer.alloc(8)])
    const hostile = Buffer.concat([head, ...Array.from({ length: 10_000 }, () => level), Buffer.of(1), Buffer.alloc(4)])
    expect(() => decodeTxnResult(hostile)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('answers nested more than 100 deep') }))
  })

  it('an answer in the JSON form that is not an object is refused with ERR_BAD_COMMAND, not a TypeError', () => {
    for (const value of [null, 5, 'text']) {
      expect(() => decodeTxnResult(encodeBlobJson(value))).toThrow(KvCommandError)
      expect(() => decodeRangeAnswer(encodeBlobJson(value))).toThrow(KvCommandError)
    }
  })

  it('refuse bytes cut short anywhere, an unknown kind, or trailing bytes, with ERR_BAD_COMMAND', () => {
    const bytes = packTxnOutcome(everything)
    for (let end = 4; end < bytes.length; end++) expect(() => decodeTxnResult(bytes.subarray(0, end)), `cut at ${end}`).toThrow(KvCommandError)
    expect(() => decodeTxnResult(Buffer.concat([bytes, Buffer.of(0)]))).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('1 bytes after the answer') }))
    const unknownKind = Buffer.from(bytes)
    unknownKind[4 + 8 + 1 + 4] = 9 // the first response's kind
    expect(() => decodeTxnResult(unknownKind)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('an unknown answer kind 9') }))
  })
})
