// etcd's protobuf objects (as proto-loader decodes them: etcd's snake_case names, enums by name)
// to the key-value store's requests (kv-txn.ts), and its answers back.
import type { Compare, CompareResult, CompareTarget, KeyValue, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder, SortTarget, TxnOutcome, TxnRequest, TxnResponse } from '../kv-txn.js'

/** Loose shapes of the decoded messages: only what raftlog reads. */
export interface WireRange {
  key: Buffer
  range_end: Buffer
  limit: number
  revision: number
  sort_order: string
  sort_target: string
  serializable: boolean
  keys_only: boolean
  count_only: boolean
  min_mod_revision: number
  max_mod_revision: number
  min_create_revision: number
  max_create_revision: number
}
export interface WirePut {
  key: Buffer
  value: Buffer
  lease: number
  prev_kv: boolean
  ignore_value: boolean
  ignore_lease: boolean
}
export interface WireDeleteRange {
  key: Buffer
  range_end: Buffer
  prev_kv: boolean
}
export interface WireCompare {
  result: string
  target: string
  key: Buffer
  range_end: Buffer
  target_union?: string
  version?: number
  create_revision?: number
  mod_revision?: number
  value?: Buffer
  lease?: number
}
export interface WireRequestOp {
  request?: string
  request_range?: WireRange
  request_put?: WirePut
  request_delete_range?: WireDeleteRange
  request_txn?: WireTxn
}
export interface WireTxn {
  compare: WireCompare[]
  success: WireRequestOp[]
  failure: WireRequestOp[]
}

const sortOrders: Record<string, SortOrder> = { NONE: 'none', ASCEND: 'ascend', DESCEND: 'descend' }
const sortTargets: Record<string, SortTarget> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value' }
const compareTargets: Record<string, CompareTarget> = { VERSION: 'version', CREATE: 'create', MOD: 'mod', VALUE: 'value', LEASE: 'lease' }
const compareResults: Record<string, CompareResult> = { EQUAL: 'equal', GREATER: 'greater', LESS: 'less', NOT_EQUAL: 'not_equal' }

const bytes = (value: Buffer | undefined): Buffer => value ?? Buffer.alloc(0)

/**
 * `field value` when `value` is none of `names` (proto-loader hands an enum value the protocol does
 * not define over as its number), or undefined; a missing value is the field's default.
 */
function unknownEnum(field: string, value: unknown, names: Record<string, unknown>): string | undefined {
  if (value === undefined || value === null || (typeof value === 'string' && Object.hasOwn(names, value))) return undefined
  return `${field} ${String(value)} (known: ${Object.keys(names).join(', ')})`
}

/**
 * A compare's `result` or `target` that etcd's protocol does not define, named with its value, or
 * undefined. etcd takes such a compare as true; raftlog refuses it: the client that sent it is broken.
 */
export function unknownCompareEnum(wire: WireCompare): string | undefined {
  return unknownEnum('compare result', wire.result, compareResults) ?? unknownEnum('compare target', wire.target, compareTargets)
}

/**
 * A range's `sort_order` or `sort_target` that etcd's protocol does not define, named with its
 * value, or undefined. etcd leaves the first unsorted and crashes on the second (3.4); raftlog refuses both.
 */
export function unknownRangeEnum(wire: WireRange): string | undefined {
  return unknownEnum('range sort_order', wire.sort_order, sortOrders) ?? unknownEnum('range sort_target', wire.sort_target, sortTargets)
}

export function rangeFromWire(wire: WireRange): RangeRequest {
  const [minMod, maxMod] = revisionBounds(wire.min_mod_revision, wire.max_mod_revision)
  const [minCreate, maxCreate] = revisionBounds(wire.min_create_revision, wire.max_create_revision)
  return {
    key: bytes(wire.key),
    rangeEnd: bytes(wire.range_end),
    limit: Math.max(0, Number(wire.limit ?? 0)),
    revision: Number(wire.revision ?? 0),
    sortOrder: sortOrders[wire.sort_order] ?? 'none',
    sortTarget: sortTargets[wire.sort_target] ?? 'key',
    keysOnly: wire.keys_only === true,
    countOnly: wire.count_only === true,
    minModRevision: minMod,
    maxModRevision: maxMod,
    minCreateRevision: minCreate,
    maxCreateRevision: maxCreate,
  }
}

/**
 * A range's min and max revision filter as raftlog's request keeps it (0 or more; 0: none).
 * etcd leaves out a key when a bound is not 0 and the key's revision is past it: a negative
 * minimum leaves out nothing (as 0), a negative maximum leaves out every key, which a minimum
 * no revision reaches says here.
 */
function revisionBounds(min: number | undefined, max: number | undefined): [number, number] {
  if (Number(max ?? 0) < 0) return [Number.MAX_SAFE_INTEGER, 0]
  return [Math.max(0, Number(min ?? 0)), Number(max ?? 0)]
}

export function putFromWire(wire: WirePut): RequestOp {
  return { put: { key: bytes(wire.key), value: bytes(wire.value), lease: Number(wire.lease ?? 0), prevKv: wire.prev_kv === true, ignoreValue: wire.ignore_value === true, ignoreLease: wire.ignore_lease === true } }
}

export function deleteFromWire(wire: WireDeleteRange): RequestOp {
  return { deleteRange: { key: bytes(wire.key), rangeEnd: bytes(wire.range_end), prevKv: wire.prev_kv === true } }
}

function compareFromWire(wire: WireCompare): Compare {
  const target = compareTargets[wire.target] ?? 'version'
  const operand = target === 'value' ? bytes(wire.value) : Number((target === 'version' ? wire.version : target === 'create' ? wire.create_revision : target === 'mod' ? wire.mod_revision : wire.lease) ?? 0)
  return { key: bytes(wire.key), rangeEnd: bytes(wire.range_end), target, result: compareResults[wire.result] ?? 'equal', operand }
}

/** An operation of a transaction; undefined for an empty one (no request set), which txnProblem refuses first, as etcd does. */
function opFromWire(wire: WireRequestOp): RequestOp | undefined {
  if (wire.request_range !== undefined && wire.request_range !== null) return { range: rangeFromWire(wire.request_range) }
  if (wire.request_put !== undefined && wire.request_put !== null) return putFromWire(wire.request_put)
  if (wire.request_delete_range !== undefined && wire.request_delete_range !== null) return deleteFromWire(wire.request_delete_range)
  if (wire.request_txn !== undefined && wire.request_txn !== null) return { txn: txnFromWire(wire.request_txn) }
  return undefined
}

export function txnFromWire(wire: WireTxn): TxnRequest {
  const ops = (list: WireRequestOp[] | undefined): RequestOp[] => (list ?? []).map(opFromWire).filter((op) => op !== undefined)
  return { compare: (wire.compare ?? []).map(compareFromWire), success: ops(wire.success), failure: ops(wire.failure) }
}

export function keyValueToWire(kv: KeyValue): Record<string, unknown> {
  return { key: kv.key, value: kv.value, create_revision: kv.createRevision, mod_revision: kv.modRevision, version: kv.version, lease: kv.lease }
}

export function rangeToWire(response: RangeResponse, header: unknown): Record<string, unknown> {
  return { header, kvs: response.kvs.map(keyValueToWire), more: response.more, count: response.count }
}

/**
 * A transaction's answer; nested answers carry its header, but a range's says the revision it
 * read, as etcd's does: one before the transaction's first write reads the revision before it
 * (a client that watches from the header's revision + 1 then sees the transaction's own writes).
 */
export function txnToWire(response: TxnResponse, header: Record<string, unknown>): Record<string, unknown> {
  return { header, succeeded: response.succeeded, responses: response.responses.map((op) => responseOpToWire(op, header)) }
}

function responseOpToWire(op: ResponseOp, header: Record<string, unknown>): Record<string, unknown> {
  if ('range' in op) return { response_range: rangeToWire(op.range, op.range.storeRevision === undefined ? header : { ...header, revision: op.range.storeRevision }) }
  if ('put' in op) return { response_put: { header, ...(op.put.prevKv === undefined ? {} : { prev_kv: keyValueToWire(op.put.prevKv) }) } }
  if ('deleteRange' in op) return { response_delete_range: { header, deleted: op.deleteRange.deleted, prev_kvs: op.deleteRange.prevKvs.map(keyValueToWire) } }
  return { response_txn: txnToWire(op.txn, header) }
}

const wireNames = <T extends string>(names: Record<string, T>): Record<T, string> => Object.fromEntries(Object.entries(names).map(([wire, name]) => [name, wire])) as Record<T, string>
const sortOrderNames = wireNames(sortOrders)
const sortTargetNames = wireNames(sortTargets)
const compareTargetNames = wireNames(compareTargets)
const compareResultNames = wireNames(compareResults)
const compareFields: Record<CompareTarget, string> = { version: 'version', create: 'create_revision', mod: 'mod_revision', value: 'value', lease: 'lease' }

/** `txn` as etcd's TxnRequest: how a node that stopped leading sends a recipe's write to the leader's KV.Txn. */
export function txnToWireRequest(txn: TxnRequest): Record<string, unknown> {
  const compare = (each: Compare): Record<string, unknown> => ({ key: each.key, range_end: each.rangeEnd, target: compareTargetNames[each.target], result: compareResultNames[each.result], [compareFields[each.target]]: each.operand })
  const op = (each: RequestOp): Record<string, unknown> => {
    if ('range' in each) {
      const r = each.range
      return { request_range: { key: r.key, range_end: r.rangeEnd, limit: r.limit, revision: r.revision, sort_order: sortOrderNames[r.sortOrder], sort_target: sortTargetNames[r.sortTarget], keys_only: r.keysOnly, count_only: r.countOnly, min_mod_revision: r.minModRevision, max_mod_revision: r.maxModRevision, min_create_revision: r.minCreateRevision, max_create_revision: r.maxCreateRevision } }
    }
    if ('put' in each) {
      const p = each.put
      return { request_put: { key: p.key, value: p.value, lease: p.lease, prev_kv: p.prevKv, ignore_value: p.ignoreValue, ignore_lease: p.ignoreLease } }
    }
    if ('deleteRange' in each) return { request_delete_range: { key: each.deleteRange.key, range_end: each.deleteRange.rangeEnd, prev_kv: each.deleteRange.prevKv } }
    return { request_txn: txnToWireRequest(each.txn) }
  }
  return { compare: txn.compare.map(compare), success: txn.success.map(op), failure: txn.failure.map(op) }
}

interface WireKeyValue {
  key?: Buffer
  value?: Buffer
  create_revision?: number
  mod_revision?: number
  version?: number
  lease?: number
}
interface WireTxnResponse {
  header?: { revision?: number }
  succeeded?: boolean
  responses?: {
    response_range?: { kvs?: WireKeyValue[]; more?: boolean; count?: number } | null
    response_put?: { prev_kv?: WireKeyValue | null } | null
    response_delete_range?: { deleted?: number; prev_kvs?: WireKeyValue[] } | null
    response_txn?: WireTxnResponse | null
  }[]
}

function keyValueFromWire(wire: WireKeyValue): KeyValue {
  return { key: bytes(wire.key), value: bytes(wire.value), createRevision: Number(wire.create_revision ?? 0), modRevision: Number(wire.mod_revision ?? 0), version: Number(wire.version ?? 0), lease: Number(wire.lease ?? 0) }
}

/** The leader's TxnResponse to txnToWireRequest's request, as applying the transaction here answers it. */
export function txnOutcomeFromWire(wire: WireTxnResponse): TxnOutcome {
  const response = (each: WireTxnResponse): TxnResponse => ({
    succeeded: each.succeeded === true,
    responses: (each.responses ?? []).map((op): ResponseOp => {
      if (op.response_range != null) return { range: { kvs: (op.response_range.kvs ?? []).map(keyValueFromWire), more: op.response_range.more === true, count: Number(op.response_range.count ?? 0) } }
      if (op.response_put != null) return { put: op.response_put.prev_kv == null ? {} : { prevKv: keyValueFromWire(op.response_put.prev_kv) } }
      if (op.response_delete_range != null) return { deleteRange: { deleted: Number(op.response_delete_range.deleted ?? 0), prevKvs: (op.response_delete_range.prev_kvs ?? []).map(keyValueFromWire) } }
      return { txn: response(op.response_txn ?? {}) }
    }),
  })
  return { revision: Number(wire.header?.revision ?? 0), ...response(wire) }
}
