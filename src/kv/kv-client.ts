// raftlog's own typed client of the key-value store's etcd operations: ranges (linearizable, any
// node after a ReadIndex), transactions and delete ranges (one log entry each, applied once
// through the client session, at one revision), and compaction. A ClusterClient underneath
// (it finds the leader, sends a command again after a timeout, spreads reads over the nodes);
// it lives here, not in src/net/client/, because the store's commands are the key-value store's
// (src/net/ sits below src/kv/ and must not import it).
import { prefixEnd } from '../net/client/etcd/key-range.js'
import { RaftLogError } from '../errors.js'
import { ClusterClient } from '../net/client/cluster-client.js'
import { kvBuffer, type KvBytes } from './kv-bytes.js'
import { decodeTxnResult, encodeKvCommand } from './kv-state-machine.js'
import { decodeRangeAnswer, encodeKvQuery, type RangeAnswer } from './kv-query.js'
import {
  compareResults,
  compareTargets,
  sortOrders,
  sortTargets,
  txnWrites,
  type Compare,
  type CompareResult,
  type CompareTarget,
  type KeyValue,
  type RangeRequest,
  type RequestOp,
  type SortOrder,
  type SortTarget,
  type TxnOutcome,
  type TxnRequest,
} from './kv-txn.js'

export type { RangeAnswer } from './kv-query.js'
export type { KeyValue, TxnOutcome, ResponseOp, RangeResponse, SortOrder, SortTarget, CompareTarget, CompareResult } from './kv-txn.js'

/** How long a call looks for a leader (or a node to read from) by default, in ms. */
export { prefixEnd }

export const defaultKvTimeoutMs = 5000

/**
 * Which keys: `key` alone; with `rangeEnd`, the keys in [key, rangeEnd) (a single zero byte:
 * every key from `key` up, as etcd's); with `prefix`, every key starting with `key` (an empty
 * key: every key); with `fromKey`, every key from `key` up. Keys are bytes (a string: its UTF-8).
 */
export interface KeySpan {
  key: KvBytes
  rangeEnd?: KvBytes
  prefix?: boolean
  fromKey?: boolean
}

/** etcd's Range, as raftlog's client takes it: everything but the key optional. */
export interface RangeOptions extends KeySpan {
  /** At most this many keys (default 0: no limit); `more` says some were left out. */
  limit?: number
  /** Read as of this revision (default 0: now); ERR_COMPACTED below the compacted revision, ERR_FUTURE_REVISION past the store's. */
  revision?: number
  /** Default 'none' (key order; etcd: ascending for another target). */
  sortOrder?: SortOrder
  /** Default 'key'. */
  sortTarget?: SortTarget
  /** Keys without their values. */
  keysOnly?: boolean
  /** Only the count. */
  countOnly?: boolean
  minModRevision?: number
  maxModRevision?: number
  minCreateRevision?: number
  maxCreateRevision?: number
}

export interface PutOptions {
  key: KvBytes
  value: KvBytes
  /** Answer the key-value it replaced. */
  prevKv?: boolean
  /** Keep the key's value (ERR_KEY_NOT_FOUND when the key does not exist). */
  ignoreValue?: boolean
  /** Attach the key to this lease (ERR_LEASE_NOT_FOUND when there is none); default 0: no lease (a put detaches the key from its lease). */
  lease?: number
  /** Keep the key's lease (ERR_KEY_NOT_FOUND when the key does not exist). */
  ignoreLease?: boolean
}

export interface DeleteRangeOptions extends KeySpan {
  /** Answer the key-values deleted. */
  prevKv?: boolean
}

/**
 * A transaction's compare: the `target` of every key the span covers against `operand` (a
 * number for version, create, mod and lease; bytes for value). A missing key compares as 0,
 * and fails a value compare (etcd's rule).
 */
export interface CompareOptions extends KeySpan {
  target: CompareTarget
  result: CompareResult
  operand: number | KvBytes
}

export type TxnOp = { range: RangeOptions } | { put: PutOptions } | { deleteRange: DeleteRangeOptions } | { txn: TxnOptions }

/** etcd's Txn: if every compare holds, the success operations, else the failure ones; all at one revision. */
export interface TxnOptions {
  compare?: CompareOptions[]
  success?: TxnOp[]
  failure?: TxnOp[]
}

export interface DeleteRangeAnswer {
  /** The store's revision after the delete (unchanged when it deleted nothing). */
  revision: number
  deleted: number
  prevKvs: KeyValue[]
}

/**
 * A ClusterClient with the key-value store's etcd operations, typed. Reads (range, and a
 * transaction that only reads) are linearizable and served by any node after a ReadIndex, no log
 * entry; writes (a transaction that writes, deleteRange, compact) are one log entry each, sent in
 * the client's session: sent again after a timeout or a lost connection, applied once. Refusals
 * reject with a RaftLogError: ERR_COMPACTED and ERR_FUTURE_REVISION (naming the revision),
 * ERR_KEY_NOT_FOUND, ERR_LEASE_NOT_FOUND, ERR_BAD_ARGUMENT; ERR_UNKNOWN_OUTCOME when a write may
 * or may not have been applied.
 */
export class KvClient extends ClusterClient {
  /** etcd's Range, linearizable: the keys, their count, whether the limit left some out, and the store's revision. */
  async range(options: RangeOptions, timeoutMs = defaultKvTimeoutMs): Promise<RangeAnswer> {
    const range = rangeRequest(options, 'range')
    return decodeRangeAnswer(await this.read(encodeKvQuery({ op: 'range', range }), timeoutMs))
  }

  /**
   * etcd's Txn. One that writes is one log entry, applied at one revision (the outcome's); one
   * that only reads is served like a range. The outcome: whether the compares held, one
   * response per operation run, and the store's revision after it.
   */
  async txn(options: TxnOptions, timeoutMs = defaultKvTimeoutMs): Promise<TxnOutcome> {
    const txn = txnRequest(options, 'txn')
    if (!txnWrites(txn)) return decodeTxnResult(await this.read(encodeKvQuery({ op: 'txn', txn }), timeoutMs))
    return decodeTxnResult(await this.propose(encodeKvCommand({ op: 'txn', txn }), timeoutMs))
  }

  /** etcd's DeleteRange: how many keys it deleted and, with prevKv, which. */
  async deleteRange(options: DeleteRangeOptions, timeoutMs = defaultKvTimeoutMs): Promise<DeleteRangeAnswer> {
    const outcome = await this.txn({ success: [{ deleteRange: options }] }, timeoutMs)
    const response = outcome.responses[0]
    if (response === undefined || !('deleteRange' in response)) throw new RaftLogError('ERR_BAD_RESULT', 'A delete range answered without its response')
    return { revision: outcome.revision, deleted: response.deleteRange.deleted, prevKvs: response.deleteRange.prevKvs }
  }

  /**
   * etcd's Compact: forgets the history a read at `revision` or later does not need. ERR_COMPACTED
   * when the store is compacted that far already, ERR_FUTURE_REVISION past its revision.
   */
  async compact(revision: number, timeoutMs = defaultKvTimeoutMs): Promise<{ revision: number; compacted: number }> {
    if (!Number.isSafeInteger(revision) || revision < 1) throw new RaftLogError('ERR_BAD_ARGUMENT', `compact: the revision must be a whole number, 1 or more, got ${String(revision)}`)
    const answer = decodeTxnResult(await this.propose(encodeKvCommand({ op: 'compact', revision }), timeoutMs)) as unknown as { revision: number; compacted: number }
    return { revision: answer.revision, compacted: answer.compacted }
  }
}


function bad(where: string, problem: string): RaftLogError {
  return new RaftLogError('ERR_BAD_ARGUMENT', `${where}: ${problem}`, { argument: where })
}

function bytesOf(value: unknown, where: string, what: string): Buffer {
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw bad(where, `${what} must be a string or bytes, got ${value === null ? 'null' : typeof value}`)
  return kvBuffer(value)
}

function whole(value: number | undefined, where: string, what: string): number {
  if (value === undefined) return 0
  if (!Number.isSafeInteger(value) || value < 0) throw bad(where, `${what} must be a whole number, 0 or more, got ${String(value)}`)
  return value
}

/** The key and range end a span covers, as the store takes them. */
function span(options: KeySpan, where: string): { key: Buffer; rangeEnd: Buffer } {
  if (options === null || typeof options !== 'object') throw bad(where, 'expected an object with a key')
  const key = bytesOf(options.key, where, 'key')
  const ways = [options.rangeEnd !== undefined, options.prefix === true, options.fromKey === true].filter(Boolean).length
  if (ways > 1) throw bad(where, 'give one of rangeEnd, prefix and fromKey')
  if (options.prefix === true) return { key, rangeEnd: prefixEnd(key) }
  if (options.fromKey === true) return { key, rangeEnd: Buffer.of(0) }
  if (options.rangeEnd !== undefined) return { key, rangeEnd: bytesOf(options.rangeEnd, where, 'rangeEnd') }
  if (key.length === 0) throw bad(where, 'the key is empty (give a key, or prefix or fromKey for a range)')
  return { key, rangeEnd: Buffer.alloc(0) }
}


export function rangeRequest(options: RangeOptions, where: string): RangeRequest {
  const { key, rangeEnd } = span(options, where)
  const sortOrder = options.sortOrder ?? 'none'
  const sortTarget = options.sortTarget ?? 'key'
  if (!sortOrders.includes(sortOrder)) throw bad(where, `sortOrder must be ${sortOrders.join(', ')}, got ${String(sortOrder)}`)
  if (!sortTargets.includes(sortTarget)) throw bad(where, `sortTarget must be ${sortTargets.join(', ')}, got ${String(sortTarget)}`)
  return {
    key,
    rangeEnd,
    limit: whole(options.limit, where, 'limit'),
    revision: whole(options.revision, where, 'revision'),
    sortOrder,
    sortTarget,
    keysOnly: options.keysOnly === true,
    countOnly: options.countOnly === true,
    minModRevision: whole(options.minModRevision, where, 'minModRevision'),
    maxModRevision: whole(options.maxModRevision, where, 'maxModRevision'),
    minCreateRevision: whole(options.minCreateRevision, where, 'minCreateRevision'),
    maxCreateRevision: whole(options.maxCreateRevision, where, 'maxCreateRevision'),
  }
}

function compareOf(options: CompareOptions, where: string): Compare {
  const { key, rangeEnd } = span(options, where)
  if (!compareTargets.includes(options.target)) throw bad(where, `target must be ${compareTargets.join(', ')}, got ${String(options.target)}`)
  if (!compareResults.includes(options.result)) throw bad(where, `result must be ${compareResults.join(', ')}, got ${String(options.result)}`)
  if (options.target === 'value') return { key, rangeEnd, target: 'value', result: options.result, operand: bytesOf(options.operand, where, 'a value compare\'s operand') }
  if (typeof options.operand !== 'number' || !Number.isSafeInteger(options.operand)) throw bad(where, `a ${options.target} compare's operand must be a whole number, got ${String(options.operand)}`)
  return { key, rangeEnd, target: options.target, result: options.result, operand: options.operand }
}

function opOf(op: TxnOp, where: string): RequestOp {
  if (op === null || typeof op !== 'object') throw bad(where, 'an operation must be { range }, { put }, { deleteRange } or { txn }')
  if ('range' in op) return { range: rangeRequest(op.range, `${where}.range`) }
  if ('put' in op) {
    const put = op.put
    if (put === null || typeof put !== 'object') throw bad(`${where}.put`, 'expected an object with a key and a value')
    const key = bytesOf(put.key, `${where}.put`, 'key')
    if (key.length === 0) throw bad(`${where}.put`, 'the key is empty')
    const ignoreValue = put.ignoreValue === true
    const value = ignoreValue && put.value === undefined ? Buffer.alloc(0) : bytesOf(put.value, `${where}.put`, 'value')
    const lease = put.lease ?? 0
    if (!Number.isSafeInteger(lease) || lease < 0) throw bad(`${where}.put`, `the lease must be a lease id (a whole number), got ${String(put.lease)}`)
    return { put: { key, value, prevKv: put.prevKv === true, ignoreValue, ignoreLease: put.ignoreLease === true, lease } }
  }
  if ('deleteRange' in op) {
    const { key, rangeEnd } = span(op.deleteRange, `${where}.deleteRange`)
    return { deleteRange: { key, rangeEnd, prevKv: op.deleteRange.prevKv === true } }
  }
  if ('txn' in op) return { txn: txnRequest(op.txn, `${where}.txn`) }
  throw bad(where, 'an operation must be { range }, { put }, { deleteRange } or { txn }')
}

export function txnRequest(options: TxnOptions, where: string): TxnRequest {
  if (options === null || typeof options !== 'object') throw bad(where, 'expected an object with compare, success and failure lists')
  const list = <T>(value: T[] | undefined, name: string): T[] => {
    if (value === undefined) return []
    if (!Array.isArray(value)) throw bad(where, `${name} must be a list`)
    return value
  }
  return {
    compare: list(options.compare, 'compare').map((compare, i) => compareOf(compare, `${where}.compare[${i}]`)),
    success: list(options.success, 'success').map((op, i) => opOf(op, `${where}.success[${i}]`)),
    failure: list(options.failure, 'failure').map((op, i) => opOf(op, `${where}.failure[${i}]`)),
  }
}
