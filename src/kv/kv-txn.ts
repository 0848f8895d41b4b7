// etcd's requests on the key-value store: range, put, delete range, and transactions of them
// guarded by compares, with their answers. A transaction (a put or a delete is one with no
// compare) is one log entry and applies at one revision; a range is a read, served from a node's
// state (after a ReadIndex unless serializable) or inside a transaction.
//
// Keys, values and range ends are Buffers. A range's `rangeEnd`, as etcd's: empty, the key alone;
// a single zero byte, every key from `key` up; otherwise the keys in [key, rangeEnd).
import { RaftLogError } from '../errors.js'
import type { KeyChange, MvccStore } from './mvcc-store.js'
import { fromBinary, toBinary } from './kv-bytes.js'

export type SortOrder = 'none' | 'ascend' | 'descend'
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value'

export interface RangeRequest {
  key: Buffer
  rangeEnd: Buffer
  /** At most this many keys (0: no limit). */
  limit: number
  /** Read as of this revision (0: now). */
  revision: number
  sortOrder: SortOrder
  sortTarget: SortTarget
  keysOnly: boolean
  countOnly: boolean
  /** Filters: 0 means none. */
  minModRevision: number
  maxModRevision: number
  minCreateRevision: number
  maxCreateRevision: number
}

export interface PutRequest {
  key: Buffer
  value: Buffer
  prevKv: boolean
  /** Keep the key's value (ERR_KEY_NOT_FOUND when it has none). */
  ignoreValue: boolean
  ignoreLease: boolean
  /** The lease to attach the key to (0: none, which detaches it from its lease unless ignoreLease); ERR_LEASE_NOT_FOUND when there is no such lease. */
  lease: number
}

export interface DeleteRangeRequest {
  key: Buffer
  rangeEnd: Buffer
  prevKv: boolean
}

export type RequestOp = { range: RangeRequest } | { put: PutRequest } | { deleteRange: DeleteRangeRequest } | { txn: TxnRequest }

export type CompareTarget = 'version' | 'create' | 'mod' | 'value' | 'lease'
export type CompareResult = 'equal' | 'greater' | 'less' | 'not_equal'

export interface Compare {
  key: Buffer
  rangeEnd: Buffer
  target: CompareTarget
  result: CompareResult
  /** A revision, version or lease for those targets; bytes for 'value'. */
  operand: number | Buffer
}

export interface TxnRequest {
  compare: Compare[]
  success: RequestOp[]
  failure: RequestOp[]
}

export interface KeyValue {
  key: Buffer
  value: Buffer
  createRevision: number
  modRevision: number
  version: number
  /** The key's lease (0: none). */
  lease: number
}

export interface RangeResponse {
  kvs: KeyValue[]
  more: boolean
  count: number
  /**
   * Inside a transaction: the store's revision the range saw, before the transaction's writes or
   * after its earlier ones (what etcd's sub-response header says). Undefined for a range alone.
   */
  storeRevision?: number
}

export type ResponseOp = { range: RangeResponse } | { put: { prevKv?: KeyValue } } | { deleteRange: { deleted: number; prevKvs: KeyValue[] } } | { txn: TxnResponse }

export interface TxnResponse {
  succeeded: boolean
  responses: ResponseOp[]
}

/** What applying a transaction answers: the store's revision after it, and the answer. */
export interface TxnOutcome extends TxnResponse {
  revision: number
}

/** The keys a range or delete covers, as MvccStore.range takes them. */
export function span(key: Buffer, rangeEnd: Buffer): [string, string | undefined] {
  if (rangeEnd.length === 0) return [toBinary(key), undefined]
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return [toBinary(key), '']
  return [toBinary(key), toBinary(rangeEnd)]
}

export function keyValue(key: string, change: KeyChange, withValue = true): KeyValue {
  return { key: fromBinary(key), value: withValue ? fromBinary(change.value as string) : Buffer.alloc(0), createRevision: change.create, modRevision: change.mod, version: change.version, lease: change.lease }
}

const sortValue: Record<SortTarget, (kv: KeyValue) => number | string> = {
  key: (kv) => toBinary(kv.key),
  version: (kv) => kv.version,
  create: (kv) => kv.createRevision,
  mod: (kv) => kv.modRevision,
  value: (kv) => toBinary(kv.value),
}

/** A range over `store` as of its read revision (or the one asked); ERR_COMPACTED, ERR_FUTURE_REVISION. */
export function rangeOf(store: MvccStore, request: RangeRequest): RangeResponse {
  store.checkReadable(request.revision)
  const revision = request.revision > 0 ? request.revision : store.readRevision
  const [start, end] = span(request.key, request.rangeEnd)
  const filtered = request.minModRevision > 0 || request.maxModRevision > 0 || request.minCreateRevision > 0 || request.maxCreateRevision > 0
  // etcd's rule: an order of 'none' on another target than the key means ascending.
  const order = request.sortOrder === 'none' && request.sortTarget !== 'key' ? 'ascend' : request.sortOrder
  const sorted = !(order === 'none' || (order === 'ascend' && request.sortTarget === 'key'))
  // Stop early only when the order is the store's own and nothing is filtered out afterwards.
  const stopAt = !sorted && !filtered && !request.countOnly && request.limit > 0 ? request.limit + 1 : Infinity
  let count = 0
  let kvs: KeyValue[] = []
  store.range(start, end, revision, (key, change) => {
    count++
    if (request.countOnly) return true
    if (filtered && !passes(change, request)) return true
    // Sorted by value, keys only: the values decide the order, then are left out (as etcd).
    kvs.push(keyValue(key, change, !request.keysOnly || (sorted && request.sortTarget === 'value')))
    return kvs.length < stopAt
  })
  if (stopAt !== Infinity) {
    // Stopped early: count the rest without building them.
    count = 0
    store.range(start, end, revision, () => {
      count++
    })
  }
  if (request.countOnly) return { kvs: [], more: false, count }
  if (sorted) {
    const of = sortValue[request.sortTarget]
    const direction = order === 'descend' ? -1 : 1
    kvs.sort((a, b) => {
      const [x, y] = [of(a), of(b)]
      return x < y ? -direction : x > y ? direction : 0
    })
  }
  if (request.keysOnly && sorted && request.sortTarget === 'value') kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }))
  const more = request.limit > 0 && kvs.length > request.limit
  if (more) kvs = kvs.slice(0, request.limit)
  return { kvs, more, count }
}

function passes(change: KeyChange, request: RangeRequest): boolean {
  if (request.minModRevision > 0 && change.mod < request.minModRevision) return false
  if (request.maxModRevision > 0 && change.mod > request.maxModRevision) return false
  if (request.minCreateRevision > 0 && change.create < request.minCreateRevision) return false
  if (request.maxCreateRevision > 0 && change.create > request.maxCreateRevision) return false
  return true
}

/**
 * Bytes of keys and values the ranges of a transaction that writes may answer (64 MiB, the
 * largest message raftlog's client takes). Every node builds the answer as it applies the entry,
 * and again on every replay: a few hundred bytes of ranges over a large store asked for
 * gigabytes on every node at once.
 */
export const maxTxnAnswerBytes = 64 * 1024 * 1024

/**
 * Applies `txn` to `store` as one write (one revision): its compares decide which branch runs,
 * against the state before it. Everything the branch asks is checked first, so a refused
 * transaction (ERR_COMPACTED, ERR_FUTURE_REVISION, ERR_KEY_NOT_FOUND, ERR_LEASE_NOT_FOUND,
 * ERR_BAD_ARGUMENT for a key put twice) changes nothing; nor does one whose ranges would answer
 * more than `maxAnswerBytes` (ERR_REQUEST_TOO_LARGE), which the store's write undoes.
 */
export function applyTxn(store: MvccStore, txn: TxnRequest, leases: LeaseLookup = noLeases, maxAnswerBytes = Number.POSITIVE_INFINITY): TxnOutcome {
  const path = choosePath(store, txn)
  checkPath(store, path, new Set(), leases)
  const answer = { bytes: 0, max: maxAnswerBytes }
  const response = store.write(() => runPath(store, path, answer))
  return { revision: store.revision, ...response }
}

/** The bytes of keys and values a transaction's answer holds so far, and the most it may. */
interface AnswerBytes {
  bytes: number
  max: number
}

/** Which leases exist, for puts that attach a key to one. */
export interface LeaseLookup {
  has(id: number): boolean
}

const noLeases: LeaseLookup = { has: () => false }

/** The branches a transaction and its nested ones take, decided before any of them writes (as etcd). */
interface Path {
  succeeded: boolean
  ops: RequestOp[]
  nested: Path[]
}

function choosePath(store: MvccStore, txn: TxnRequest): Path {
  const succeeded = txn.compare.every((compare) => holds(store, compare))
  const ops = succeeded ? txn.success : txn.failure
  return { succeeded, ops, nested: ops.flatMap((op) => ('txn' in op ? [choosePath(store, op.txn)] : [])) }
}

function checkPath(store: MvccStore, path: Path, putKeys: Set<string>, leases: LeaseLookup): void {
  let nested = 0
  for (const op of path.ops) {
    if ('range' in op) store.checkReadable(op.range.revision)
    else if ('put' in op) {
      const key = toBinary(op.put.key)
      if (putKeys.has(key)) throw new RaftLogError('ERR_BAD_ARGUMENT', 'A transaction puts the same key twice (duplicate key given in txn request)')
      putKeys.add(key)
      if (op.put.ignoreLease && op.put.lease !== 0) throw new RaftLogError('ERR_BAD_ARGUMENT', 'A put with ignore_lease names a lease (lease is provided)')
      if (op.put.lease !== 0 && !leases.has(op.put.lease)) throw new RaftLogError('ERR_LEASE_NOT_FOUND', `Lease ${op.put.lease} not found`)
      if (op.put.ignoreLease && store.get(key) === undefined) throw new RaftLogError('ERR_KEY_NOT_FOUND', 'A put with ignore_lease on a key that does not exist (key not found)')
      if (op.put.ignoreValue && store.get(key) === undefined) throw new RaftLogError('ERR_KEY_NOT_FOUND', 'A put with ignore_value on a key that does not exist (key not found)')
    } else if ('txn' in op) checkPath(store, path.nested[nested++] as Path, putKeys, leases)
  }
}

function runPath(store: MvccStore, path: Path, answer: AnswerBytes): TxnResponse {
  let nested = 0
  const responses = path.ops.map((op): ResponseOp => {
    if ('range' in op) return { range: { ...counted(rangeOf(store, op.range), answer), storeRevision: store.readRevision } }
    if ('put' in op) return { put: put(store, op.put) }
    if ('deleteRange' in op) return { deleteRange: deleteRange(store, op.deleteRange) }
    return { txn: runPath(store, path.nested[nested++] as Path, answer) }
  })
  return { succeeded: path.succeeded, responses }
}

/** `range`, its bytes added to the answer's; ERR_REQUEST_TOO_LARGE past the most it may hold. */
function counted(range: RangeResponse, answer: AnswerBytes): RangeResponse {
  for (const kv of range.kvs) answer.bytes += kv.key.length + kv.value.length
  if (answer.bytes > answer.max) throw new RaftLogError('ERR_REQUEST_TOO_LARGE', `A transaction's ranges would answer more than ${answer.max} bytes of keys and values: it changes nothing; read the ranges apart`)
  return range
}

function put(store: MvccStore, request: PutRequest): { prevKv?: KeyValue } {
  const key = toBinary(request.key)
  const held = store.get(key)
  const value = request.ignoreValue ? (held?.value as string) : toBinary(request.value)
  const lease = request.ignoreLease ? (held?.lease ?? 0) : request.lease
  const before = store.put(key, value, lease)
  return request.prevKv && before !== undefined ? { prevKv: keyValue(key, before) } : {}
}

function deleteRange(store: MvccStore, request: DeleteRangeRequest): { deleted: number; prevKvs: KeyValue[] } {
  const [start, end] = span(request.key, request.rangeEnd)
  const keys: string[] = []
  store.range(start, end, store.readRevision, (key) => {
    keys.push(key)
  })
  const prevKvs: KeyValue[] = []
  for (const key of keys) {
    const before = store.delete(key)
    if (before !== undefined && request.prevKv) prevKvs.push(keyValue(key, before))
  }
  return { deleted: keys.length, prevKvs }
}

/** Whether `compare` holds for every key it covers (etcd: a missing key compares as zeros, and fails a value compare). */
function holds(store: MvccStore, compare: Compare): boolean {
  const [start, end] = span(compare.key, compare.rangeEnd)
  const found: KeyChange[] = []
  store.range(start, end, store.readRevision, (_key, change) => {
    found.push(change)
  })
  if (found.length === 0) {
    if (compare.target === 'value') return false
    return compareWith(0, compare)
  }
  return found.every((change) => compareWith(targetOf(change, compare.target), compare))
}

function targetOf(change: KeyChange, target: CompareTarget): number | Buffer {
  switch (target) {
    case 'version':
      return change.version
    case 'create':
      return change.create
    case 'mod':
      return change.mod
    case 'value':
      return fromBinary(change.value as string)
    case 'lease':
      return change.lease
  }
}

function compareWith(actual: number | Buffer, compare: Compare): boolean {
  const order = typeof actual === 'number' ? Math.sign(actual - Number(compare.operand)) : Buffer.compare(actual, Buffer.isBuffer(compare.operand) ? compare.operand : Buffer.alloc(0))
  switch (compare.result) {
    case 'equal':
      return order === 0
    case 'not_equal':
      return order !== 0
    case 'greater':
      return order > 0
    case 'less':
      return order < 0
  }
}

// Every value of each enumeration. A value's place is its code in the packed form (kv-txn-codec.ts),
// which the log holds: add new values at the end, never reorder.
export const sortOrders: readonly SortOrder[] = ['none', 'ascend', 'descend']
export const sortTargets: readonly SortTarget[] = ['key', 'version', 'create', 'mod', 'value']
export const compareTargets: readonly CompareTarget[] = ['version', 'create', 'mod', 'value', 'lease']
export const compareResults: readonly CompareResult[] = ['equal', 'greater', 'less', 'not_equal']
/** A range's whole-number fields. */
export const rangeNumbers = ['limit', 'revision', 'minModRevision', 'maxModRevision', 'minCreateRevision', 'maxCreateRevision'] as const

/**
 * What is wrong with the shape of a transaction a client sent as JSON, or undefined. Applying
 * trusts every field: one that is not what its type says throws part way through the write
 * (which the store then undoes), after every node has taken the entry.
 */
export function txnShapeProblem(txn: TxnRequest): string | undefined {
  for (const [position, compare] of txn.compare.entries()) {
    const problem = compareShapeProblem(compare)
    if (problem !== undefined) return `compare ${position + 1}: ${problem}`
  }
  for (const branch of ['success', 'failure'] as const) {
    for (const [position, op] of txn[branch].entries()) {
      const problem = opShapeProblem(op)
      if (problem !== undefined) return `operation ${position + 1} of the ${branch} branch: ${problem}`
    }
  }
  return undefined
}

function compareShapeProblem(compare: Compare): string | undefined {
  if (!Buffer.isBuffer(compare.key) || !Buffer.isBuffer(compare.rangeEnd)) return 'its key or range end is not bytes'
  if (!compareTargets.includes(compare.target) || !compareResults.includes(compare.result)) return 'an unknown target or result'
  if (compare.target === 'value' ? !Buffer.isBuffer(compare.operand) : !Number.isSafeInteger(compare.operand)) return 'its operand is not what its target compares'
  return undefined
}

function opShapeProblem(op: RequestOp): string | undefined {
  const kinds = Object.keys(op)
  if (kinds.length !== 1) return `one of range, put, deleteRange or txn is needed, got ${kinds.join(', ') || 'none'}`
  if ('txn' in op) {
    const { txn } = op
    if (txn === null || typeof txn !== 'object' || !Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) return 'a nested transaction without its compare, success and failure lists'
    const problem = txnShapeProblem(txn)
    return problem === undefined ? undefined : `in its nested transaction, ${problem}`
  }
  if ('put' in op) {
    const { put } = op
    if (!Buffer.isBuffer(put.key)) return 'its key is not bytes'
    if (!Buffer.isBuffer(put.value)) return 'its value is not bytes'
    if (!Number.isSafeInteger(put.lease)) return 'its lease is not a whole number'
    if (typeof put.prevKv !== 'boolean' || typeof put.ignoreValue !== 'boolean' || typeof put.ignoreLease !== 'boolean') return 'prevKv, ignoreValue or ignoreLease is not true or false'
    return undefined
  }
  if ('deleteRange' in op) {
    const { deleteRange } = op
    if (!Buffer.isBuffer(deleteRange.key) || !Buffer.isBuffer(deleteRange.rangeEnd)) return 'its key or range end is not bytes'
    if (typeof deleteRange.prevKv !== 'boolean') return 'prevKv is not true or false'
    return undefined
  }
  if ('range' in op) {
    const { range } = op
    if (!Buffer.isBuffer(range.key) || !Buffer.isBuffer(range.rangeEnd)) return 'its key or range end is not bytes'
    const number = rangeNumbers.find((name) => !Number.isSafeInteger(range[name]))
    if (number !== undefined) return `its ${number} is not a whole number`
    if (!sortOrders.includes(range.sortOrder) || !sortTargets.includes(range.sortTarget)) return 'an unknown sort order or target'
    if (typeof range.keysOnly !== 'boolean' || typeof range.countOnly !== 'boolean') return 'keysOnly or countOnly is not true or false'
    return undefined
  }
  return `an unknown operation ${kinds[0]}`
}

/** Whether a transaction writes anything in either branch (a read-only one is served like a range). */
export function txnWrites(txn: TxnRequest): boolean {
  return [...txn.success, ...txn.failure].some((op) => 'put' in op || 'deleteRange' in op || ('txn' in op && txnWrites(op.txn)))
}

/** Every key a transaction names (compares, operations, nested transactions), range ends included. */
export function txnKeys(txn: TxnRequest): Buffer[] {
  const keys = txn.compare.flatMap((compare) => [compare.key, compare.rangeEnd])
  for (const op of [...txn.success, ...txn.failure]) {
    if ('txn' in op) keys.push(...txnKeys(op.txn))
    else if ('put' in op) keys.push(op.put.key)
    else if ('range' in op) keys.push(op.range.key, op.range.rangeEnd)
    else keys.push(op.deleteRange.key, op.deleteRange.rangeEnd)
  }
  return keys
}
