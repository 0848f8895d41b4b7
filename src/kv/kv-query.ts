// Reads of the key-value store, as the bytes of a Read request's query and of its answer. A get
// answers like a get command (a KvResult); a scan answers with sorted pairs and whether more are
// left. Served by any node after a ReadIndex, so both are linearizable and write no log entry.
//
//   get:  0x01 key
//   scan: 0x02 limit u32, prefix length u32, prefix, then nothing or 0x01 after (start after that key)
//   scan answer: more u8 (0 or 1), count u32, then per pair: key length u32, key, value length u32, value
//   range: 0x05 then a transaction of that one range, packed (kv-txn-codec.ts); answers that
//          transaction's outcome, packed (kv-txn-outcome-codec.ts), or { error: { code, message } }
//          in kv-blob-json.ts's form
//   txn:   0x06 then a TxnRequest that writes nothing, packed; answers as a transaction command does
//   range and txn from clients before the packed forms: 0x03 (a RangeRequest) and 0x04 (a
//          TxnRequest) in kv-blob-json.ts's form, answered in that form ({ revision, kvs, more,
//          count } for a range)
//
// Keys, prefixes and values are bytes (a string given to encodeKvQuery means its UTF-8 bytes).
import { KvCommandError, encodeKvResult, type KvStateMachine } from './kv-state-machine.js'
import { kvBuffer, type KvBytes } from './kv-bytes.js'
import { decodeBlobJson, encodeBlobJson } from './kv-blob-json.js'
import { packTxn, unpackTxn } from './kv-txn-codec.js'
import { isPackedTxnOutcome, packTxnOutcome, unpackTxnOutcome } from './kv-txn-outcome-codec.js'
import { rangeNumbers, sortOrders, sortTargets, txnWrites, type RangeRequest, type RangeResponse, type TxnRequest } from './kv-txn.js'
import { RaftLogError } from '../errors.js'

export type KvQuery<B extends KvBytes = KvBytes> =
  | { op: 'get'; key: B }
  /** Keys starting with `prefix`, after the key `after` when given, at most `limit` (capped at maxScanKeys). */
  | { op: 'scan'; prefix: B; after?: B; limit: number }
  /** etcd's range, linearizable (answered after a ReadIndex): decodeRangeAnswer reads the answer. */
  | { op: 'range'; range: RangeRequest }
  /** A transaction that writes nothing (only ranges), served like a range: decodeTxnResult reads the answer. */
  | { op: 'txn'; txn: TxnRequest }

/** A range's answer: etcd's RangeResponse and the store's revision when it was read (etcd's header revision). */
export interface RangeAnswer extends RangeResponse {
  revision: number
}

export interface KvScanResult {
  pairs: [Buffer, Buffer][]
  /** Some pairs were left out (the limit, or the bytes one answer may carry): ask again after the last key. */
  more: boolean
}

/** Most pairs in one scan answer. */
export const maxScanKeys = 10_000
/** Key and value bytes in one scan answer (one larger pair still goes alone): far below the gRPC message limit. */
export const maxScanBytes = 4 * 1024 * 1024

const opGet = 1
const opScan = 2
const opRange = 3
const opTxn = 4
const opRangePacked = 5
const opTxnPacked = 6

export function encodeKvQuery(query: KvQuery): Uint8Array {
  if (query.op === 'get') return Buffer.concat([Buffer.of(opGet), kvBuffer(query.key)])
  // Packed when they have the right shape; anything else goes as JSON, for the node to name what is wrong.
  if (query.op === 'range') return packTxn(rangeAlone(query.range), opRangePacked) ?? encodeBlobJson(query.range, Uint8Array.of(opRange))
  if (query.op === 'txn') return packTxn(query.txn, opTxnPacked) ?? encodeBlobJson(query.txn, Uint8Array.of(opTxn))
  const prefix = kvBuffer(query.prefix)
  const head = Buffer.alloc(9)
  head[0] = opScan
  head.writeUInt32LE(Math.min(query.limit, maxScanKeys), 1)
  head.writeUInt32LE(prefix.length, 5)
  const after = query.after === undefined ? [] : [Buffer.of(1), kvBuffer(query.after)]
  return Buffer.concat([head, prefix, ...after])
}

export function decodeKvQuery(bytes: Uint8Array): KvQuery<Buffer> {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const bad = (problem: string): KvCommandError => new KvCommandError(`Not a key-value query (${bytes.length} bytes): ${problem}`)
  if (buffer[0] === opGet) return { op: 'get', key: buffer.subarray(1) }
  if (buffer[0] === opRange) return { op: 'range', range: checkedRange(decodeBlobJson(buffer.subarray(1)), bad) }
  if (buffer[0] === opRangePacked) {
    const txn = unpackTxn(buffer.subarray(1), bad)
    const only = txn.success[0]
    if (txn.compare.length !== 0 || txn.success.length !== 1 || txn.failure.length !== 0 || only === undefined || !('range' in only)) throw bad('a range query that is not one range')
    return { op: 'range', range: checkedRange(only.range, bad) }
  }
  if (buffer[0] === opTxnPacked) {
    const txn = unpackTxn(buffer.subarray(1), bad)
    if (txnWrites(txn)) throw bad('a transaction that writes is a command, not a read')
    return { op: 'txn', txn }
  }
  if (buffer[0] === opTxn) {
    const txn = decodeBlobJson(buffer.subarray(1)) as TxnRequest
    if (txn === null || typeof txn !== 'object' || !Array.isArray(txn.compare) || !Array.isArray(txn.success) || !Array.isArray(txn.failure)) throw bad('a transaction without its compare, success and failure lists')
    if (txnWrites(txn)) throw bad('a transaction that writes is a command, not a read')
    return { op: 'txn', txn }
  }
  if (buffer[0] !== opScan) throw bad(buffer.length === 0 ? 'empty' : `unknown operation ${buffer[0]}`)
  if (buffer.length < 9) throw bad('a scan shorter than its 9-byte header')
  const limit = buffer.readUInt32LE(1)
  const prefixLength = buffer.readUInt32LE(5)
  if (limit < 1) throw bad('a scan with a limit of 0')
  if (prefixLength > buffer.length - 9) throw bad(`prefix length ${prefixLength} runs past the end`)
  const prefix = buffer.subarray(9, 9 + prefixLength)
  const rest = buffer.subarray(9 + prefixLength)
  if (rest.length === 0) return { op: 'scan', prefix, limit }
  if (rest[0] !== 1) throw bad(`unknown scan flag ${rest[0]}`)
  return { op: 'scan', prefix, after: rest.subarray(1), limit }
}

/** The answer to `query` from `kv`'s state as of now (after a ReadIndex). */
export function answerKvQuery(kv: KvStateMachine, query: Uint8Array): Uint8Array {
  const decoded = decodeKvQuery(query)
  if (decoded.op === 'get') return encodeKvResult({ ok: true, value: kv.get(decoded.key) })
  if (decoded.op === 'range' || decoded.op === 'txn') {
    // A refusal (ERR_COMPACTED, ERR_FUTURE_REVISION) is an answer, with its code, as a command's is.
    try {
      // Answered in the form asked in: a client from before the packed forms reads JSON.
      const packed = query[0] === opRangePacked || query[0] === opTxnPacked
      if (decoded.op === 'txn') return packed ? packTxnOutcome(kv.readTxn(decoded.txn)) : encodeBlobJson(kv.readTxn(decoded.txn))
      if (packed) return packTxnOutcome({ revision: kv.revision, succeeded: true, responses: [{ range: kv.range(decoded.range) }] })
      return encodeBlobJson({ revision: kv.revision, ...kv.range(decoded.range) })
    } catch (error) {
      const code = (error as { code?: unknown }).code
      return encodeBlobJson({ error: { code: typeof code === 'string' ? code : 'ERR_APPLY', message: (error as Error).message } })
    }
  }
  return encodeKvScanResult(kv.scan(decoded.prefix, decoded.after, Math.min(decoded.limit, maxScanKeys), maxScanBytes))
}

/** A range query's answer; throws the RaftLogError it was refused with (ERR_COMPACTED, ERR_FUTURE_REVISION). */
export function decodeRangeAnswer(bytes: Uint8Array): RangeAnswer {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  if (isPackedTxnOutcome(buffer)) {
    const bad = (problem: string): KvCommandError => new KvCommandError(`Not a range's answer (${bytes.length} bytes): ${problem}`)
    const outcome = unpackTxnOutcome(buffer, bad)
    const only = outcome.responses[0]
    if (outcome.responses.length !== 1 || only === undefined || !('range' in only)) throw bad('not one range')
    return { revision: outcome.revision, kvs: only.range.kvs, more: only.range.more, count: only.range.count }
  }
  const decoded = decodeBlobJson(buffer) as RangeAnswer | { error: { code: string; message: string } }
  if (decoded === null || typeof decoded !== 'object') throw new KvCommandError(`Not a range's answer (${bytes.length} bytes): ${JSON.stringify(decoded)}`)
  if ('error' in decoded) throw new RaftLogError(decoded.error.code, decoded.error.message)
  return decoded
}

/** A transaction of `range` alone: a range query's packed form. */
function rangeAlone(range: RangeRequest): TxnRequest {
  return { compare: [], success: [{ range }], failure: [] }
}


/** A decoded range request's shape checked: a malformed one is refused as a bad query. */
function checkedRange(value: unknown, bad: (problem: string) => KvCommandError): RangeRequest {
  const range = value as RangeRequest
  if (range === null || typeof range !== 'object' || !Buffer.isBuffer(range.key) || !Buffer.isBuffer(range.rangeEnd)) throw bad('a range without its key and range end')
  for (const name of rangeNumbers) if (!Number.isSafeInteger(range[name]) || range[name] < 0) throw bad(`a range whose ${name} is not a whole number, 0 or more`)
  if (!sortOrders.includes(range.sortOrder) || !sortTargets.includes(range.sortTarget)) throw bad('a range with an unknown sort order or target')
  if (typeof range.keysOnly !== 'boolean' || typeof range.countOnly !== 'boolean') throw bad('a range whose keysOnly or countOnly is not true or false')
  return range
}

export function encodeKvScanResult(result: KvScanResult): Uint8Array {
  const parts: Buffer[] = [Buffer.of(result.more ? 1 : 0), u32(result.pairs.length)]
  for (const [key, value] of result.pairs) parts.push(u32(key.length), key, u32(value.length), value)
  return Buffer.concat(parts)
}

export function decodeKvScanResult(bytes: Uint8Array): KvScanResult {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
  const bad = (): KvCommandError => new KvCommandError(`Not a key-value scan answer (${bytes.length} bytes)`)
  if (buffer.length < 5 || (buffer[0] !== 0 && buffer[0] !== 1)) throw bad()
  const count = buffer.readUInt32LE(1)
  const pairs: [Buffer, Buffer][] = []
  let offset = 5
  const take = (): Buffer => {
    if (offset + 4 > buffer.length) throw bad()
    const length = buffer.readUInt32LE(offset)
    if (offset + 4 + length > buffer.length) throw bad()
    const bytes = buffer.subarray(offset + 4, offset + 4 + length)
    offset += 4 + length
    return bytes
  }
  for (let i = 0; i < count; i++) pairs.push([take(), take()])
  if (offset !== buffer.length) throw bad()
  return { pairs, more: buffer[0] === 1 }
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4)
  bytes.writeUInt32LE(value)
  return bytes
}
