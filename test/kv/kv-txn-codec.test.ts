// Transactions in the log in their packed form (kv-txn-codec.ts): what is packed comes back the
// same, applies as the JSON form did, and bytes that are not a packed transaction are refused with
// ERR_BAD_COMMAND (a client can send any bytes as a command).
import { describe, expect, it } from 'vitest'
import { decodeKvCommand, decodeTxnResult, encodeKvCommand, KvCommandError, KvStateMachine } from '../../src/kv/kv-state-machine.js'
import { decodeBlobJson, encodeBlobJson } from '../../src/kv/kv-blob-json.js'
import { isPackedTxnOutcome } from '../../src/kv/kv-txn-outcome-codec.js'
import { maxPackedNesting } from '../../src/kv/kv-txn-codec.js'
import { kvCommandProblem } from '../../src/kv/kv-command-check.js'
import type { RangeRequest, RequestOp, TxnRequest } from '../../src/kv/kv-txn.js'
import { EntryType } from '../../src/storage/log-entry.js'
import { rangeRequest } from '../../src/kv/recipes/recipe-host.js'

const b = (text: string): Buffer => Buffer.from(text)
const range = (key: string, options: Partial<RangeRequest> = {}): RangeRequest => rangeRequest(b(key), options)
const put = (key: string, value: string, options: { lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } = {}): RequestOp => ({
  put: { key: b(key), value: b(value), lease: options.lease ?? 0, prevKv: options.prevKv ?? false, ignoreValue: options.ignoreValue ?? false, ignoreLease: options.ignoreLease ?? false },
})

/** Every field of every kind, every enum value, values with every byte, a nested transaction. */
const everything: TxnRequest = {
  compare: [
    { key: b('a'), rangeEnd: Buffer.alloc(0), target: 'value', result: 'equal', operand: Buffer.from([0, 255, 10, 13]) },
    { key: b('b'), rangeEnd: b('c'), target: 'version', result: 'greater', operand: 3 },
    { key: b('d'), rangeEnd: Buffer.of(0), target: 'create', result: 'less', operand: 0 },
    { key: b('e'), rangeEnd: Buffer.alloc(0), target: 'mod', result: 'not_equal', operand: 2 ** 53 - 1 },
    { key: b('f'), rangeEnd: Buffer.alloc(0), target: 'lease', result: 'equal', operand: 123456789 },
  ],
  success: [
    put('k', 'v', { lease: 7, prevKv: true }),
    put('k2', '', { ignoreValue: true, ignoreLease: true }),
    { deleteRange: { key: b('x'), rangeEnd: b('y'), prevKv: true } },
    { deleteRange: { key: b('z'), rangeEnd: Buffer.alloc(0), prevKv: false } },
    { range: range('p/', { rangeEnd: b('p0'), limit: 5, revision: 9, sortOrder: 'descend', sortTarget: 'create', keysOnly: true, minModRevision: 1, maxModRevision: 2, minCreateRevision: 3, maxCreateRevision: 4 }) },
    { range: range('q', { sortOrder: 'ascend', sortTarget: 'value', countOnly: true }) },
    { range: range('r', { sortTarget: 'version' }) },
    { range: range('s', { sortTarget: 'mod' }) },
  ],
  failure: [{ txn: { compare: [], success: [put('n', Buffer.alloc(300, 7).toString('latin1'))], failure: [{ txn: { compare: [], success: [], failure: [] } }] } }],
}

const apply = (kv: KvStateMachine, index: number, data: Uint8Array) => decodeTxnResult(kv.apply({ index, term: 1, type: EntryType.Normal, data }))

describe('packed transactions', () => {
  it('come back from the log as they were packed, every field, enum and nesting, and the packed form is the one written', () => {
    const bytes = encodeKvCommand({ op: 'txn', txn: everything })
    expect(bytes[0]).toBe(11)
    expect(decodeKvCommand(bytes)).toEqual({ op: 'txn', txn: everything })
  })

  it('carry a -0 as 0, as the JSON form did (a store restored from a snapshot holds 0: replicas must agree)', () => {
    const bytes = Buffer.from(encodeKvCommand({ op: 'txn', txn: { compare: [], success: [put('k', 'v', { lease: -0 })], failure: [] } }))
    const decoded = decodeKvCommand(bytes) as { txn: TxnRequest }
    expect(Object.is((decoded.txn.success[0] as { put: { lease: number } }).put.lease, 0)).toBe(true)
    bytes.writeDoubleLE(-0, bytes.length - 4 - 9) // the lease (before its flags and the failure count), packed by hand as -0
    expect(Object.is(((decodeKvCommand(bytes) as { txn: TxnRequest }).txn.success[0] as { put: { lease: number } }).put.lease, 0)).toBe(true)
  })

  it('are a fraction of the JSON form in the log', () => {
    const packed = encodeKvCommand({ op: 'txn', txn: everything })
    const json = encodeBlobJson(everything, Uint8Array.of(6))
    expect(packed.length).toBeLessThan(json.length / 2)
  })

  it('apply exactly as the same transaction in the JSON form (entries written before the packed form), which is answered in JSON', () => {
    const packedKv = new KvStateMachine()
    const jsonKv = new KvStateMachine()
    const steps: TxnRequest[] = [
      { compare: [], success: [put('a', '1'), put('b', '2'), put('p/1', 'x'), put('p/2', 'y')], failure: [] },
      { compare: [{ key: b('a'), rangeEnd: Buffer.alloc(0), target: 'value', result: 'equal', operand: b('1') }], success: [put('a', '3', { prevKv: true }), { range: range('p/', { rangeEnd: b('p0'), sortOrder: 'descend' }) }], failure: [] },
      { compare: [{ key: b('b'), rangeEnd: Buffer.alloc(0), target: 'version', result: 'greater', operand: 5 }], success: [], failure: [{ deleteRange: { key: b('p/'), rangeEnd: b('p0'), prevKv: true } }, { txn: { compare: [], success: [put('c', '4')], failure: [] } }] },
    ]
    steps.forEach((txn, i) => {
      const packedAnswer = packedKv.apply({ index: i + 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'txn', txn }) })
      const jsonAnswer = jsonKv.apply({ index: i + 1, term: 1, type: EntryType.Normal, data: encodeBlobJson(txn, Uint8Array.of(6)) })
      // Each answered in its own form: a client from before the packed forms reads JSON only.
      expect(isPackedTxnOutcome(Buffer.from(packedAnswer))).toBe(true)
      expect(decodeBlobJson(Buffer.from(jsonAnswer))).toEqual(decodeTxnResult(packedAnswer))
    })
    expect(apply(packedKv, 9, encodeKvCommand({ op: 'txn', txn: { compare: [], success: [{ range: range('\0', { rangeEnd: Buffer.of(0) }) }], failure: [] } }))).toEqual(
      apply(jsonKv, 9, encodeBlobJson({ compare: [], success: [{ range: range('\0', { rangeEnd: Buffer.of(0) }) }], failure: [] }, Uint8Array.of(6))),
    )
  })

  it('are not made of a transaction of the wrong shape: it goes as JSON, and the check still names what is wrong', () => {
    const wrong = { compare: [], success: [{ range: { ...range('k'), sortOrder: 'sideways' } }], failure: [] } as unknown as TxnRequest
    const bytes = encodeKvCommand({ op: 'txn', txn: wrong })
    expect(bytes[0]).toBe(6)
    expect(kvCommandProblem(bytes, 1024)).toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('an unknown sort order or target') })
    const fraction = { compare: [], success: [{ range: range('k', { limit: 1.5 }) }], failure: [] }
    const packed = encodeKvCommand({ op: 'txn', txn: fraction })
    expect(packed[0]).toBe(11)
    expect(kvCommandProblem(packed, 1024)).toMatchObject({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('its limit is not a whole number') })
  })

  it('refuse bytes cut short anywhere, or with an unknown kind, enum or trailing bytes, with ERR_BAD_COMMAND and nothing else', () => {
    const bytes = encodeKvCommand({ op: 'txn', txn: everything })
    for (let end = 5; end < bytes.length; end++) expect(() => decodeKvCommand(bytes.subarray(0, end)), `cut at ${end}`).toThrow(KvCommandError)
    expect(() => decodeKvCommand(Buffer.concat([bytes, Buffer.of(0)]))).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('1 bytes after the transaction') }))
    const badTarget = Buffer.from(bytes)
    badTarget[5] = 9 // the first compare's target
    expect(() => decodeKvCommand(badTarget)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('an unknown compare target 9') }))
    const huge = Buffer.concat([Buffer.of(11), Buffer.from(Uint32Array.of(0xffffffff).buffer), Buffer.alloc(8)])
    expect(() => decodeKvCommand(huge)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('run past the end') }))
  })

  it('refuse random bytes with ERR_BAD_COMMAND or give a transaction, never another error', () => {
    let seed = 12345
    const random = (): number => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
    const valid = encodeKvCommand({ op: 'txn', txn: everything })
    for (let round = 0; round < 2000; round++) {
      const bytes = Buffer.from(valid)
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) bytes[1 + Math.floor(random() * (bytes.length - 1))] = Math.floor(random() * 256)
      try {
        expect(decodeKvCommand(bytes).op).toBe('txn')
      } catch (error) {
        expect(error, `round ${round}`).toBeInstanceOf(KvCommandError)
      }
    }
  })

  it(`nest up to ${maxPackedNesting} transactions; deeper ones are packed no further and refused by a count when a client packs them`, () => {
    const nested = (levels: number): TxnRequest => {
      let txn: TxnRequest = { compare: [], success: [put('k', 'v')], failure: [] }
      for (let level = 0; level < levels; level++) txn = { compare: [], success: [{ txn }], failure: [] }
      return txn
    }
    expect(encodeKvCommand({ op: 'txn', txn: nested(maxPackedNesting) })[0]).toBe(11)
    expect(apply(new KvStateMachine(), 1, encodeKvCommand({ op: 'txn', txn: nested(maxPackedNesting) })).revision).toBe(2)
    // One deeper goes as JSON, which allows about 60 levels.
    expect(encodeKvCommand({ op: 'txn', txn: nested(maxPackedNesting + 1) })[0]).toBe(6)
    // Packed by hand, 10,000 levels deep: [11], then per level 0 compares, 1 op of kind 4.
    const level = Buffer.concat([Buffer.from(Uint32Array.of(0, 1).buffer), Buffer.of(4)])
    const end = Buffer.from(Uint32Array.of(0, 0, 0).buffer)
    const hostile = Buffer.concat([Buffer.of(11), ...Array.from({ length: 10_000 }, () => level), end])
    expect(() => decodeKvCommand(hostile)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining(`nested more than ${maxPackedNesting} deep`) }))
  })
})
