import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { answerKvQuery, decodeKvQuery, decodeKvScanResult, decodeRangeAnswer, encodeKvQuery, maxScanKeys, type KvQuery } from '../../src/kv/kv-query.js'
import { decodeKvResult, decodeTxnResult, encodeKvCommand, KvStateMachine, type KvCommand } from '../../src/kv/kv-state-machine.js'
import { encodeBlobJson } from '../../src/kv/kv-blob-json.js'
import { isPackedTxnOutcome, packTxnOutcome } from '../../src/kv/kv-txn-outcome-codec.js'
import type { RangeRequest } from '../../src/kv/kv-txn.js'
import { rangeRequest } from '../../src/kv/recipes/recipe-host.js'
import { EntryType } from '../../src/storage/log-entry.js'
import type { KvBytes } from '../../src/kv/kv-bytes.js'

// Bytes, a few of them UTF-8 ('é' is 0xc3 0xa9) and one never (0xff), so keys share prefixes often.
const key = fc.array(fc.constantFrom(0x61, 0x62, 0x63, 0xc3, 0xa9, 0x2f, 0xff), { maxLength: 4 }).map((bytes) => Buffer.from(bytes))

function store(commands: KvCommand[]): KvStateMachine {
  const kv = new KvStateMachine()
  commands.forEach((command, i) => kv.apply({ index: i + 1, term: 1, type: EntryType.Normal, data: encodeKvCommand(command) }))
  return kv
}

/** The same scan, the slow obvious way, over keys as binary strings (one char per byte: JavaScript's order is byte order). */
function model(data: Map<string, string>, prefix: string, after: string | undefined, limit: number): { keys: string[]; more: boolean } {
  const all = [...data.keys()].filter((k) => k.startsWith(prefix) && (after === undefined || k > after)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  return { keys: all.slice(0, limit), more: all.length > limit }
}

const binary = (bytes: KvBytes): string => Buffer.from(bytes).toString('latin1')

describe('key-value queries', () => {
  it('decode to what was encoded', () => {
    const query: fc.Arbitrary<KvQuery> = fc.oneof(
      fc.record({ op: fc.constant('get' as const), key }),
      fc.record({ op: fc.constant('scan' as const), prefix: key, limit: fc.integer({ min: 1, max: maxScanKeys }) }),
      fc.record({ op: fc.constant('scan' as const), prefix: key, after: key, limit: fc.integer({ min: 1, max: maxScanKeys }) }),
    )
    fc.assert(
      fc.property(query, (q) => {
        expect(decodeKvQuery(encodeKvQuery(q))).toEqual(q)
      }),
    )
  })

  it('scan answers like filtering and sorting every key, through puts, batches, deletes and paging', () => {
    const command: fc.Arbitrary<KvCommand> = fc.oneof(
      fc.record({ op: fc.constant('put' as const), key, value: key }),
      fc.record({ op: fc.constant('delete' as const), key }),
      fc.record({ op: fc.constant('batch' as const), puts: fc.array(fc.record({ key, value: key }), { maxLength: 4 }) }),
    )
    fc.assert(
      fc.property(fc.array(fc.array(command, { maxLength: 10 }), { maxLength: 4 }), key, fc.option(key, { nil: undefined }), fc.integer({ min: 1, max: 6 }), (rounds, prefix, after, limit) => {
        const kv = new KvStateMachine()
        const data = new Map<string, string>()
        let index = 0
        // Scans between rounds of writes: the sorted index must follow every change.
        for (const round of rounds) {
          for (const c of round) {
            kv.apply({ index: ++index, term: 1, type: EntryType.Normal, data: encodeKvCommand(c) })
            if (c.op === 'put') data.set(binary(c.key), binary(c.value))
            if (c.op === 'delete') data.delete(binary(c.key))
            if (c.op === 'batch') for (const p of c.puts) data.set(binary(p.key), binary(p.value))
          }
          const answer = decodeKvScanResult(answerKvQuery(kv, encodeKvQuery({ op: 'scan', prefix, limit, ...(after === undefined ? {} : { after }) })))
          const expected = model(data, binary(prefix), after === undefined ? undefined : binary(after), limit)
          expect(answer.pairs).toEqual(expected.keys.map((k) => [Buffer.from(k, 'latin1'), Buffer.from(data.get(k) as string, 'latin1')]))
          expect(answer.more).toBe(expected.more)
        }
      }),
    )
  })

  it('a scan stops at about maxBytes, always with one pair, and says more are left', () => {
    const kv = store([
      { op: 'put', key: 'a', value: 'x'.repeat(100) },
      { op: 'put', key: 'b', value: 'y'.repeat(100) },
    ])
    const pair = (key: string, value: string): [Buffer, Buffer] => [Buffer.from(key), Buffer.from(value)]
    expect(kv.scan('', undefined, 10, 150)).toEqual({ pairs: [pair('a', 'x'.repeat(100))], more: true })
    expect(kv.scan('', undefined, 10, 10)).toEqual({ pairs: [pair('a', 'x'.repeat(100))], more: true })
    expect(kv.scan('', 'a', 10, 150)).toEqual({ pairs: [pair('b', 'y'.repeat(100))], more: false })
  })

  it('a get answers like the get command', () => {
    const kv = store([{ op: 'put', key: 'k', value: 'v' }])
    expect(decodeKvResult(answerKvQuery(kv, encodeKvQuery({ op: 'get', key: 'k' })))).toEqual({ ok: true, value: Buffer.from('v') })
    expect(decodeKvResult(answerKvQuery(kv, encodeKvQuery({ op: 'get', key: 'nope' })))).toEqual({ ok: true, value: null })
  })

  for (const [what, bytes, message] of [
    ['empty bytes', [], /empty/],
    ['an unknown operation', [9], /unknown operation 9/],
    ['a scan cut short', [2, 1, 0], /shorter than its 9-byte header/],
    ['a scan with a limit of 0', [2, 0, 0, 0, 0, 0, 0, 0, 0], /limit of 0/],
    ['a scan prefix past the end', [2, 1, 0, 0, 0, 5, 0, 0, 0, 0x61], /prefix length 5 runs past the end/],
  ] as const) {
    it(`refuses ${what} with ERR_BAD_COMMAND`, () => {
      expect(() => decodeKvQuery(new Uint8Array(bytes))).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringMatching(message) }))
    })
  }
})

describe('range and read-only transaction queries', () => {
  const range = (key: string, rangeEnd: string, options: Partial<RangeRequest> = {}): RangeRequest => rangeRequest(Buffer.from(key), { rangeEnd: Buffer.from(rangeEnd), ...options })
  const store = (): KvStateMachine => {
    const kv = new KvStateMachine()
    ;['a', 'b', 'c'].forEach((key, i) => kv.apply({ index: i + 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'put', key: `p/${key}`, value: key.repeat(i + 1) }) }))
    return kv
  }
  const rangeQuery = { op: 'range' as const, range: range('p/', 'p0', { limit: 2, sortOrder: 'descend' }) }
  const txnQuery = { op: 'txn' as const, txn: { compare: [{ key: Buffer.from('p/a'), rangeEnd: Buffer.alloc(0), target: 'value' as const, result: 'equal' as const, operand: Buffer.from('a') }], success: [{ range: range('p/b', '') }], failure: [] } }

  it('go packed, decode to what was encoded, and are answered packed with what the JSON form answers', () => {
    const kv = store()
    for (const query of [rangeQuery, txnQuery]) {
      const bytes = encodeKvQuery(query)
      expect(bytes[0]).toBe(query.op === 'range' ? 5 : 6)
      expect(decodeKvQuery(bytes)).toEqual(query)
      const json = encodeBlobJson(query.op === 'range' ? query.range : query.txn, Uint8Array.of(query.op === 'range' ? 3 : 4))
      const decode = query.op === 'range' ? decodeRangeAnswer : decodeTxnResult
      const packedAnswer = answerKvQuery(kv, bytes)
      const jsonAnswer = answerKvQuery(kv, json)
      expect(isPackedTxnOutcome(Buffer.from(packedAnswer))).toBe(true)
      // A client from before the packed forms asked in JSON: it is answered in JSON.
      expect(isPackedTxnOutcome(Buffer.from(jsonAnswer))).toBe(false)
      expect(decode(packedAnswer)).toEqual(decode(jsonAnswer))
    }
    expect(decodeRangeAnswer(answerKvQuery(kv, encodeKvQuery(rangeQuery)))).toMatchObject({ revision: 4, count: 3, more: true, kvs: [{ key: Buffer.from('p/c') }, { key: Buffer.from('p/b') }] })
  })

  it('refuse a packed range query, or a packed answer, that is not one range, and answer a refusal with its code', () => {
    const kv = store()
    const twoRanges = encodeKvQuery({ op: 'txn', txn: { compare: [], success: [{ range: range('a', '') }, { range: range('b', '') }], failure: [] } })
    twoRanges[0] = 5
    expect(() => decodeKvQuery(twoRanges)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('not one range') }))
    const twoAnswers = packTxnOutcome({ revision: 2, succeeded: true, responses: [{ put: {} }, { put: {} }] })
    expect(() => decodeRangeAnswer(twoAnswers)).toThrow(expect.objectContaining({ code: 'ERR_BAD_COMMAND', message: expect.stringContaining('not one range') }))
    expect(() => decodeRangeAnswer(answerKvQuery(kv, encodeKvQuery({ op: 'range', range: range('p/', '', { revision: 99 }) })))).toThrow(expect.objectContaining({ code: 'ERR_FUTURE_REVISION' }))
  })
})
