// The key-value store's snapshot bytes: a version word, then records, then an end record.
//
//   "KVS1"                                   format and version
//   0x01 key length u32, key, value length u32, value     one per key
//   0x02 writes applied u64                  the store's count of writes (optional, once)
//   0xff                                     end
//
// Keys and values are bytes, exactly (the store's binary strings, kv-bytes.ts, one char per
// byte). Snapshots written while the store held UTF-8 text have the same layout: their bytes are
// the UTF-8 of each key and value, which is what those keys are now. Written in batches of about
// batchBytes; read back from chunks cut anywhere.
import { RaftLogError } from '../errors.js'
import { ChunkReader } from '../raft/node/chunk-reader.js'

const magic = Buffer.from('KVS1', 'ascii')
const recordPair = 0x01
const recordWrites = 0x02
const recordEnd = 0xff
/** Bytes gathered before a batch of records is handed on. */
const batchBytes = 64 * 1024

/** The snapshot of `pairs` (binary strings) and the count of writes (taken by the caller at the moment that matters) as chunks. */
export async function* encodeKvSnapshot(pairs: readonly (readonly [string, string])[], writesApplied = 0): AsyncGenerator<Uint8Array> {
  let parts: Buffer[] = [magic]
  let size = magic.length
  for (const [key, value] of pairs) {
    const keyBytes = Buffer.from(key, 'latin1')
    const valueBytes = Buffer.from(value, 'latin1')
    const head = Buffer.allocUnsafe(5)
    head[0] = recordPair
    head.writeUInt32LE(keyBytes.length, 1)
    const middle = Buffer.allocUnsafe(4)
    middle.writeUInt32LE(valueBytes.length, 0)
    parts.push(head, keyBytes, middle, valueBytes)
    size += 9 + keyBytes.length + valueBytes.length
    if (size >= batchBytes) {
      yield Buffer.concat(parts)
      parts = []
      size = 0
    }
  }
  const writes = Buffer.alloc(9)
  writes[0] = recordWrites
  writes.writeBigUInt64LE(BigInt(writesApplied), 1)
  parts.push(writes, Buffer.from([recordEnd]))
  yield Buffer.concat(parts)
}

/** Reads a snapshot back into pairs (binary strings); resolves with the count of writes; ERR_CORRUPT when the bytes are not one. */
export async function decodeKvSnapshot(chunks: AsyncIterable<Uint8Array>, onPair: (key: string, value: string) => void): Promise<number> {
  const input = new ChunkReader(chunks)
  let writes = 0
  const head = await input.take(magic.length)
  if (head === undefined || !head.equals(magic)) throw bad('it does not start with KVS1')
  for (;;) {
    const type = await input.take(1)
    if (type === undefined) throw bad('it ends without its end record')
    if (type[0] === recordEnd) break
    if (type[0] === recordWrites) {
      const count = await input.take(8)
      if (count === undefined) throw bad('its count of writes is cut short')
      writes = Number(count.readBigUInt64LE(0))
      continue
    }
    if (type[0] !== recordPair) throw bad(`unknown record type ${type[0]}`)
    const key = await input.takeSized()
    const value = await input.takeSized()
    if (key === undefined || value === undefined) throw bad('a record is cut short')
    onPair(key.toString('latin1'), value.toString('latin1'))
  }
  if ((await input.take(1)) !== undefined) throw bad('bytes follow its end record')
  return writes
}

function bad(problem: string): RaftLogError {
  return new RaftLogError('ERR_CORRUPT', `Not a key-value snapshot: ${problem}`)
}
