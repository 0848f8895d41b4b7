// Reads of the key-value store, as the bytes of a Read request's query and of its answer. A get
// answers like a get command (a KvResult); a scan answers with sorted pairs and whether more are
// left. Served by any node after a ReadIndex, so both are linearizable and write no log entry.
//
//   get:  0x01 key
//   scan: 0x02 limit u32, prefix length u32, prefix, then nothing or 0x01 after (start after that key)
//   scan answer: more u8 (0 or 1), count u32, then per pair: key length u32, key, value length u32, value
//
// Keys, prefixes and values are bytes (a string given to encodeKvQuery means its UTF-8 bytes).
import { KvCommandError, encodeKvResult, type KvStateMachine } from './kv-state-machine.js'
import { kvBuffer, type KvBytes } from './kv-bytes.js'

export type KvQuery<B extends KvBytes = KvBytes> =
  | { op: 'get'; key: B }
  /** Keys starting with `prefix`, after the key `after` when given, at most `limit` (capped at maxScanKeys). */
  | { op: 'scan'; prefix: B; after?: B; limit: number }

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

export function encodeKvQuery(query: KvQuery): Uint8Array {
  if (query.op === 'get') return Buffer.concat([Buffer.of(opGet), kvBuffer(query.key)])
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
  return encodeKvScanResult(kv.scan(decoded.prefix, decoded.after, Math.min(decoded.limit, maxScanKeys), maxScanBytes))
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
