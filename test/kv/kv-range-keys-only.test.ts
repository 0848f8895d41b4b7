// A range sorted by value with keys only: the values decide the order and are then left out, as
// etcd does (raftlog sorted the emptied values, so the order was the keys').
import { describe, expect, it } from 'vitest'
import { decodeTxnResult, encodeKvCommand, KvStateMachine } from '../../src/kv/kv-state-machine.js'
import type { RangeRequest } from '../../src/kv/kv-txn.js'
import { EntryType } from '../../src/storage/log-entry.js'

const b = (text: string): Buffer => Buffer.from(text)

describe('a range sorted by value, keys only', () => {
  it('is in the order of the values, without them', () => {
    const kv = new KvStateMachine()
    const puts = [['a', '3'], ['b', '1'], ['c', '2']].map(([key, value]) => ({ put: { key: b(key!), value: b(value!), prevKv: false, ignoreValue: false, ignoreLease: false, lease: 0 } }))
    decodeTxnResult(kv.apply({ index: 1, term: 1, type: EntryType.Normal, data: encodeKvCommand({ op: 'txn', txn: { compare: [], success: puts, failure: [] } }) }))
    const request: RangeRequest = { key: b('a'), rangeEnd: b('z'), limit: 2, revision: 0, sortOrder: 'descend', sortTarget: 'value', keysOnly: true, countOnly: false, minModRevision: 0, maxModRevision: 0, minCreateRevision: 0, maxCreateRevision: 0 }
    const answer = kv.range(request)
    expect(answer.kvs.map((pair) => [pair.key.toString(), pair.value.length])).toEqual([['a', 0], ['c', 0]])
    expect(answer).toMatchObject({ more: true, count: 3 })
    expect(kv.range({ ...request, sortOrder: 'ascend', limit: 0 }).kvs.map((pair) => pair.key.toString())).toEqual(['b', 'c', 'a'])
  })
})
