// A transaction in the log, packed: every field at a fixed place, keys and values as raw bytes.
// Applying a transaction decodes it on every node, and a lock, a put through etcd's API or a
// compare-and-swap each is one: the JSON form (kv-blob-json.ts) took 11 µs to encode and 14 µs to
// decode a lock's transaction, and 1,040 bytes of log; this form takes a fraction of that.
//
//   txn      [compare count u32][compare]... [success count u32][op]... [failure count u32][op]...
//   compare  [target u8][result u8][key][range end] then [value] for target 'value', else [f64]
//   op       [1][key][range end][limit, revision, min/max mod revision, min/max create revision: f64 ×6][sort order u8][sort target u8][flags u8: 1 keysOnly, 2 countOnly]
//            [2][key][value][lease f64][flags u8: 1 prevKv, 2 ignoreValue, 4 ignoreLease]
//            [3][key][range end][flags u8: 1 prevKv]
//            [4][txn]
//   bytes    [length u32][bytes]; numbers are little-endian (kv-pack.ts)
//
// Only a transaction of the right shape is packed (packTxn answers undefined for any other, which
// the JSON form carries to the check that refuses it with its reason), so unpacking gives back
// exactly what was packed.
import { PackReader, PackWriter } from './kv-pack.js'
import { compareResults, compareTargets, rangeNumbers, sortOrders, sortTargets, type Compare, type RequestOp, type TxnRequest } from './kv-txn.js'

/** Transactions nested in one another at most in the packed form (deeper ones go as JSON, which has its own bound). */
export const maxPackedNesting = 32

const kinds = { range: 1, put: 2, deleteRange: 3, txn: 4 } as const

/** `txn` packed after the byte `head`, or undefined when its shape is not a TxnRequest's. */
export function packTxn(txn: TxnRequest, head: number): Buffer | undefined {
  const size = txnSize(txn, 0)
  if (size < 0) return undefined
  const out = Buffer.allocUnsafe(1 + size)
  out[0] = head
  writeTxn(new PackWriter(out, 1), txn)
  return out
}

/** The transaction packed in `bytes`; throws `bad(problem)` when they are not one. */
export function unpackTxn(bytes: Buffer, bad: (problem: string) => Error): TxnRequest {
  const reader = new PackReader(bytes, bad)
  const txn = readTxn(reader, 0)
  reader.end('transaction')
  return txn
}

// ---- size, and the shape check that comes with it (-1: not packable) ----

function txnSize(txn: TxnRequest, depth: number): number {
  if (depth > maxPackedNesting || txn === null || typeof txn !== 'object') return -1
  if (!Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) return -1
  let size = 12
  for (const compare of txn.compare) {
    const one = compareSize(compare)
    if (one < 0) return -1
    size += one
  }
  for (const op of txn.success) {
    const one = opSize(op, depth)
    if (one < 0) return -1
    size += one
  }
  for (const op of txn.failure) {
    const one = opSize(op, depth)
    if (one < 0) return -1
    size += one
  }
  return size
}

function compareSize(compare: Compare): number {
  if (compare === null || typeof compare !== 'object' || !Buffer.isBuffer(compare.key) || !Buffer.isBuffer(compare.rangeEnd)) return -1
  if (!compareTargets.includes(compare.target) || !compareResults.includes(compare.result)) return -1
  const base = 2 + 8 + compare.key.length + compare.rangeEnd.length
  if (compare.target === 'value') return Buffer.isBuffer(compare.operand) ? base + 4 + compare.operand.length : -1
  return typeof compare.operand === 'number' ? base + 8 : -1
}

function opSize(op: RequestOp, depth: number): number {
  if (op === null || typeof op !== 'object' || Object.keys(op).length !== 1) return -1
  if ('put' in op) {
    const { put } = op
    if (put === null || typeof put !== 'object' || !Buffer.isBuffer(put.key) || !Buffer.isBuffer(put.value) || typeof put.lease !== 'number') return -1
    if (typeof put.prevKv !== 'boolean' || typeof put.ignoreValue !== 'boolean' || typeof put.ignoreLease !== 'boolean') return -1
    return 1 + 8 + put.key.length + put.value.length + 8 + 1
  }
  if ('range' in op) {
    const { range } = op
    if (range === null || typeof range !== 'object' || !Buffer.isBuffer(range.key) || !Buffer.isBuffer(range.rangeEnd)) return -1
    for (const name of rangeNumbers) if (typeof range[name] !== 'number') return -1
    if (!sortOrders.includes(range.sortOrder) || !sortTargets.includes(range.sortTarget)) return -1
    if (typeof range.keysOnly !== 'boolean' || typeof range.countOnly !== 'boolean') return -1
    return 1 + 8 + range.key.length + range.rangeEnd.length + 6 * 8 + 3
  }
  if ('deleteRange' in op) {
    const { deleteRange } = op
    if (deleteRange === null || typeof deleteRange !== 'object' || !Buffer.isBuffer(deleteRange.key) || !Buffer.isBuffer(deleteRange.rangeEnd) || typeof deleteRange.prevKv !== 'boolean') return -1
    return 1 + 8 + deleteRange.key.length + deleteRange.rangeEnd.length + 1
  }
  if ('txn' in op) {
    const nested = txnSize(op.txn, depth + 1)
    return nested < 0 ? -1 : 1 + nested
  }
  return -1
}

// ---- writing, into a buffer txnSize measured ----

function writeTxn(w: PackWriter, txn: TxnRequest): void {
  w.u32(txn.compare.length)
  for (const compare of txn.compare) {
    w.u8(compareTargets.indexOf(compare.target))
    w.u8(compareResults.indexOf(compare.result))
    w.bytes(compare.key)
    w.bytes(compare.rangeEnd)
    if (compare.target === 'value') w.bytes(compare.operand as Buffer)
    else w.f64(compare.operand as number)
  }
  for (const branch of [txn.success, txn.failure]) {
    w.u32(branch.length)
    for (const op of branch) writeOp(w, op)
  }
}

function writeOp(w: PackWriter, op: RequestOp): void {
  if ('put' in op) {
    const { put } = op
    w.u8(kinds.put)
    w.bytes(put.key)
    w.bytes(put.value)
    w.f64(put.lease)
    w.u8((put.prevKv ? 1 : 0) | (put.ignoreValue ? 2 : 0) | (put.ignoreLease ? 4 : 0))
  } else if ('range' in op) {
    const { range } = op
    w.u8(kinds.range)
    w.bytes(range.key)
    w.bytes(range.rangeEnd)
    for (const name of rangeNumbers) w.f64(range[name])
    w.u8(sortOrders.indexOf(range.sortOrder))
    w.u8(sortTargets.indexOf(range.sortTarget))
    w.u8((range.keysOnly ? 1 : 0) | (range.countOnly ? 2 : 0))
  } else if ('deleteRange' in op) {
    const { deleteRange } = op
    w.u8(kinds.deleteRange)
    w.bytes(deleteRange.key)
    w.bytes(deleteRange.rangeEnd)
    w.u8(deleteRange.prevKv ? 1 : 0)
  } else {
    w.u8(kinds.txn)
    writeTxn(w, op.txn)
  }
}

// ---- reading ----

function readTxn(r: PackReader, depth: number): TxnRequest {
  if (depth > maxPackedNesting) throw r.bad(`transactions nested more than ${maxPackedNesting} deep`)
  const compare: Compare[] = []
  for (let count = r.count(10); count > 0; count--) compare.push(readCompare(r))
  const success: RequestOp[] = []
  for (let count = r.count(1); count > 0; count--) success.push(readOp(r, depth))
  const failure: RequestOp[] = []
  for (let count = r.count(1); count > 0; count--) failure.push(readOp(r, depth))
  return { compare, success, failure }
}

function readCompare(r: PackReader): Compare {
  const target = r.pick(compareTargets, 'compare target')
  const result = r.pick(compareResults, 'compare result')
  const key = r.bytes()
  const rangeEnd = r.bytes()
  const operand = target === 'value' ? r.bytes() : r.f64()
  return { key, rangeEnd, target, result, operand }
}

function readOp(r: PackReader, depth: number): RequestOp {
  const kind = r.u8()
  switch (kind) {
    case kinds.put: {
      const key = r.bytes()
      const value = r.bytes()
      const lease = r.f64()
      const flags = r.u8()
      return { put: { key, value, lease, prevKv: (flags & 1) !== 0, ignoreValue: (flags & 2) !== 0, ignoreLease: (flags & 4) !== 0 } }
    }
    case kinds.range: {
      const key = r.bytes()
      const rangeEnd = r.bytes()
      const limit = r.f64()
      const revision = r.f64()
      const minModRevision = r.f64()
      const maxModRevision = r.f64()
      const minCreateRevision = r.f64()
      const maxCreateRevision = r.f64()
      const sortOrder = r.pick(sortOrders, 'sort order')
      const sortTarget = r.pick(sortTargets, 'sort target')
      const flags = r.u8()
      return { range: { key, rangeEnd, limit, revision, sortOrder, sortTarget, keysOnly: (flags & 1) !== 0, countOnly: (flags & 2) !== 0, minModRevision, maxModRevision, minCreateRevision, maxCreateRevision } }
    }
    case kinds.deleteRange: {
      const key = r.bytes()
      const rangeEnd = r.bytes()
      return { deleteRange: { key, rangeEnd, prevKv: (r.u8() & 1) !== 0 } }
    }
    case kinds.txn:
      return { txn: readTxn(r, depth + 1) }
    default:
      throw r.bad(`an unknown operation kind ${kind} at byte ${r.offset - 1}`)
  }
}
