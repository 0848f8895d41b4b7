// etcd's checks of a transaction before it runs (etcd's v3rpc/key.go: checkTxnRequest, then
// checkIntervals on each branch), made on the request as it came: whatever branch would run, a key
// put twice, or put and deleted, is refused, as are empty operations and compares without a key.
// etcd's rules are kept as they are, quirks too: a nested transaction's puts are checked against
// the deletes before it only, and a delete to "\0" (every key from its key up) covers no put.
// One check is raftlog's own: an enum value etcd's protocol does not define (a compare's result or
// target, a range's sort order or target) is refused, where etcd answers as if it held, or crashes.
import * as grpc from '@grpc/grpc-js'
import { upperBound } from '../sorted-keys.js'
import { emptyKey, type EtcdError } from './etcd-errors.js'
import { unknownCompareEnum, unknownRangeEnum, type WirePut, type WireRange, type WireRequestOp, type WireTxn } from './etcd-wire.js'

/** Operations (or compares) in one list of a transaction at most: etcd's --max-txn-ops default. */
export const maxTxnOps = 128

const invalid = (details: string): EtcdError => ({ code: grpc.status.INVALID_ARGUMENT, details })
const tooManyOps = invalid('etcdserver: too many operations in txn request')
const duplicateKey = invalid('etcdserver: duplicate key given in txn request')
const emptyOp = invalid('etcdserver: key not found')
const valueProvided = invalid('etcdserver: value is provided')

const empty = (bytes: Buffer | undefined | null): boolean => bytes === undefined || bytes === null || bytes.length === 0

/** What etcd refuses a put for before it runs (the lease is checked where it is applied), or undefined. */
export function putProblem(put: WirePut): EtcdError | undefined {
  if (empty(put.key)) return emptyKey
  if (put.ignore_value === true && !empty(put.value)) return valueProvided
  return undefined
}

/** What a range is refused for before it runs (its key is checked apart, as etcd's words differ by call), or undefined. */
export function rangeProblem(range: WireRange): EtcdError | undefined {
  const unknown = unknownRangeEnum(range)
  return unknown === undefined ? undefined : invalid(`etcdserver: unknown ${unknown}`)
}

/** etcd's answer to a transaction it refuses before running it, or undefined. */
export function txnProblem(txn: WireTxn): EtcdError | undefined {
  const problem = requestProblem(txn)
  if (problem !== undefined) return problem
  try {
    checkIntervals(txn.success ?? [])
    checkIntervals(txn.failure ?? [])
  } catch (error) {
    if (error === duplicateKey) return duplicateKey
    throw error
  }
  return undefined
}

/**
 * etcd's checkTxnRequest: every list within `budget` operations, every compare and operation with
 * a key. A nested transaction's lists share the budget: theirs is what the longest list around
 * them left (etcd's checkRequestOp gets maxTxnOps minus it).
 */
function requestProblem(txn: WireTxn, budget = maxTxnOps): EtcdError | undefined {
  const [compare, success, failure] = [txn.compare ?? [], txn.success ?? [], txn.failure ?? []]
  const longest = Math.max(compare.length, success.length, failure.length)
  if (longest > budget) return tooManyOps
  if (compare.some((each) => empty(each.key))) return emptyKey
  for (const each of compare) {
    const unknown = unknownCompareEnum(each)
    if (unknown !== undefined) return invalid(`etcdserver: unknown ${unknown}`)
  }
  for (const op of [...success, ...failure]) {
    const problem = opProblem(op, budget - longest)
    if (problem !== undefined) return problem
  }
  return undefined
}

function opProblem(op: WireRequestOp, budget: number): EtcdError | undefined {
  if (op.request_range != null) return empty(op.request_range.key) ? emptyKey : rangeProblem(op.request_range)
  if (op.request_put != null) return putProblem(op.request_put)
  if (op.request_delete_range != null) return empty(op.request_delete_range.key) ? emptyKey : undefined
  if (op.request_txn != null) return requestProblem(op.request_txn, budget)
  return emptyOp
}

/**
 * etcd's checkIntervals: the keys `ops` put (nested transactions' included) and the spans they
 * delete; throws duplicateKey when a put meets another put or a delete the way etcd's does.
 */
function checkIntervals(ops: WireRequestOp[]): { puts: Set<string>; deletes: DeletedSpans } {
  const deletes = new DeletedSpans()
  for (const op of ops) if (op.request_delete_range != null) deletes.add(op.request_delete_range.key, op.request_delete_range.range_end)
  const puts = new Set<string>()
  for (const op of ops) {
    if (op.request_txn == null) continue
    const then = checkIntervals(op.request_txn.success ?? [])
    const otherwise = checkIntervals(op.request_txn.failure ?? [])
    for (const key of then.puts) {
      if (puts.has(key) || deletes.covers(key)) throw duplicateKey
      puts.add(key)
    }
    // One branch runs, not both: the same key in each is no duplicate.
    for (const key of otherwise.puts) {
      if ((puts.has(key) && !then.puts.has(key)) || deletes.covers(key)) throw duplicateKey
      puts.add(key)
    }
    deletes.addAll(then.deletes)
    deletes.addAll(otherwise.deletes)
  }
  for (const op of ops) {
    if (op.request_put == null) continue
    const key = op.request_put.key.toString('latin1')
    if (puts.has(key) || deletes.covers(key)) throw duplicateKey
    puts.add(key)
  }
  return { puts, deletes }
}

/**
 * Spans of keys [start, end) as binary strings, asked whether one covers a key: sorted by start
 * with the furthest end so far beside each, so a request of many operations is checked in
 * O(n log n), not O(n²).
 */
class DeletedSpans {
  private readonly spans: [string, string][] = []
  private index: { starts: string[]; furthestEnds: string[] } | undefined

  /** A delete's span: the key alone when `rangeEnd` is empty. An end at or below the start covers nothing (etcd's "\0" too). */
  add(key: Buffer, rangeEnd: Buffer | undefined | null): void {
    const start = key.toString('latin1')
    const end = empty(rangeEnd) ? `${start}\0` : (rangeEnd as Buffer).toString('latin1')
    if (end <= start) return
    this.spans.push([start, end])
    this.index = undefined
  }

  addAll(other: DeletedSpans): void {
    if (other.spans.length === 0) return
    this.spans.push(...other.spans)
    this.index = undefined
  }

  covers(key: string): boolean {
    const { starts, furthestEnds } = (this.index ??= this.sorted())
    const last = upperBound(starts, key) - 1
    return last >= 0 && (furthestEnds[last] as string) > key
  }

  private sorted(): { starts: string[]; furthestEnds: string[] } {
    const spans = [...this.spans].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const furthestEnds: string[] = []
    let furthest = ''
    for (const [, end] of spans) {
      if (end > furthest) furthest = end
      furthestEnds.push(furthest)
    }
    return { starts: spans.map(([start]) => start), furthestEnds }
  }
}
