// A transaction's answer, packed: what every node makes when it applies a transaction, and what
// the proposer's client decodes. Two thirds of a lock's cost in kv-blob-json.ts's form went into
// its transaction (kv-txn-codec.ts) and the rest into this answer.
//
//   outcome   [0xffffffff][revision f64][txn body]
//   txn body  [succeeded u8][response count u32][response]...
//   response  [1][kv count u32][kv]...[more u8][count f64][store revision: 0, or 1 then f64]   a range
//             [2][0, or 1 then kv]                                                           a put (its previous key-value)
//             [3][deleted f64][kv count u32][kv]...                                          a delete range
//             [4][txn body]                                                                  a nested transaction
//   kv        [key][value][create revision f64][mod revision f64][version f64][lease f64]
//
// The mark can never begin kv-blob-json.ts's form (a JSON length of 4 GiB in a shorter answer), so
// answers kept in that form (client sessions' cached answers, in snapshots too) are still read.
import { PackReader, PackWriter } from './kv-pack.js'
import type { KeyValue, ResponseOp, TxnOutcome, TxnResponse } from './kv-txn.js'

const mark = 0xffffffff
/** Nested answers read at most (a nested transaction's is one level; kv-txn-codec.ts packs 32). */
const maxNesting = 100
const kinds = { range: 1, put: 2, deleteRange: 3, txn: 4 } as const
const keyValueFixedBytes = 8 + 4 * 8

/** Whether `bytes` hold a packed answer (and not one in kv-blob-json.ts's form). */
export function isPackedTxnOutcome(bytes: Buffer): boolean {
  return bytes.length >= 4 && bytes.readUInt32LE(0) === mark
}

/** `outcome` packed (applyTxn's answer: its shape is trusted). */
export function packTxnOutcome(outcome: TxnOutcome): Buffer {
  const out = Buffer.allocUnsafe(4 + 8 + bodySize(outcome))
  const w = new PackWriter(out, 0)
  w.u32(mark)
  w.f64(outcome.revision)
  writeBody(w, outcome)
  return out
}

/** The answer packed in `bytes`; throws `bad(problem)` when they are not one. */
export function unpackTxnOutcome(bytes: Buffer, bad: (problem: string) => Error): TxnOutcome {
  const r = new PackReader(bytes, bad, 4)
  const revision = r.f64()
  const body = readBody(r, 0)
  r.end('answer')
  return { revision, ...body }
}

function keyValueSize(kv: KeyValue): number {
  return keyValueFixedBytes + kv.key.length + kv.value.length
}

function bodySize(body: TxnResponse): number {
  let size = 1 + 4
  for (const response of body.responses) {
    size += 1
    if ('range' in response) {
      size += 4 + 1 + 8 + 1 + (response.range.storeRevision === undefined ? 0 : 8)
      for (const kv of response.range.kvs) size += keyValueSize(kv)
    } else if ('put' in response) size += 1 + (response.put.prevKv === undefined ? 0 : keyValueSize(response.put.prevKv))
    else if ('deleteRange' in response) {
      size += 8 + 4
      for (const kv of response.deleteRange.prevKvs) size += keyValueSize(kv)
    } else size += bodySize(response.txn)
  }
  return size
}

function writeKeyValue(w: PackWriter, kv: KeyValue): void {
  w.bytes(kv.key)
  w.bytes(kv.value)
  w.f64(kv.createRevision)
  w.f64(kv.modRevision)
  w.f64(kv.version)
  w.f64(kv.lease)
}

function writeBody(w: PackWriter, body: TxnResponse): void {
  w.u8(body.succeeded ? 1 : 0)
  w.u32(body.responses.length)
  for (const response of body.responses) {
    if ('range' in response) {
      const { range } = response
      w.u8(kinds.range)
      w.u32(range.kvs.length)
      for (const kv of range.kvs) writeKeyValue(w, kv)
      w.u8(range.more ? 1 : 0)
      w.f64(range.count)
      if (range.storeRevision === undefined) w.u8(0)
      else {
        w.u8(1)
        w.f64(range.storeRevision)
      }
    } else if ('put' in response) {
      w.u8(kinds.put)
      if (response.put.prevKv === undefined) w.u8(0)
      else {
        w.u8(1)
        writeKeyValue(w, response.put.prevKv)
      }
    } else if ('deleteRange' in response) {
      w.u8(kinds.deleteRange)
      w.f64(response.deleteRange.deleted)
      w.u32(response.deleteRange.prevKvs.length)
      for (const kv of response.deleteRange.prevKvs) writeKeyValue(w, kv)
    } else {
      w.u8(kinds.txn)
      writeBody(w, response.txn)
    }
  }
}

function readKeyValue(r: PackReader): KeyValue {
  const key = r.bytes()
  const value = r.bytes()
  return { key, value, createRevision: r.f64(), modRevision: r.f64(), version: r.f64(), lease: r.f64() }
}

function readKeyValues(r: PackReader): KeyValue[] {
  const kvs: KeyValue[] = []
  for (let count = r.count(keyValueFixedBytes); count > 0; count--) kvs.push(readKeyValue(r))
  return kvs
}

function readBody(r: PackReader, depth: number): TxnResponse {
  if (depth > maxNesting) throw r.bad(`answers nested more than ${maxNesting} deep`)
  const succeeded = r.u8() === 1
  const responses: ResponseOp[] = []
  for (let count = r.count(1); count > 0; count--) {
    const kind = r.u8()
    if (kind === kinds.range) {
      const kvs = readKeyValues(r)
      const more = r.u8() === 1
      const count = r.f64()
      responses.push({ range: r.u8() === 1 ? { kvs, more, count, storeRevision: r.f64() } : { kvs, more, count } })
    } else if (kind === kinds.put) responses.push({ put: r.u8() === 1 ? { prevKv: readKeyValue(r) } : {} })
    else if (kind === kinds.deleteRange) {
      const deleted = r.f64()
      responses.push({ deleteRange: { deleted, prevKvs: readKeyValues(r) } })
    } else if (kind === kinds.txn) responses.push({ txn: readBody(r, depth + 1) })
    else throw r.bad(`an unknown answer kind ${kind} at byte ${r.offset - 1}`)
  }
  return { succeeded, responses }
}
