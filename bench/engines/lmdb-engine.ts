import { open as openLmdb } from 'lmdb'
import type { EngineFactory, LogEngine } from './engine.js'

/** Keys are big-endian indexes, so LMDB keeps them in log order. */
function key(index: number): Buffer {
  const bytes = Buffer.allocUnsafe(8)
  bytes.writeBigUInt64BE(BigInt(index))
  return bytes
}

export const lmdbEngine: EngineFactory = {
  name: 'lmdb',
  async open(dir, { durable }): Promise<LogEngine> {
    const db = openLmdb({ path: dir, keyEncoding: 'binary', encoding: 'binary', noSync: !durable, compression: false })
    let last = 0
    return {
      name: 'lmdb',
      asyncAppend: false,
      appendBatch(entries) {
        // One transaction per batch; committed (and, when durable, synced) when it returns.
        db.transactionSync(() => {
          for (const data of entries) db.put(key(++last), data)
        })
      },
      flush() {},
      get(index) {
        const value = db.getBinary(key(index))
        return value === undefined ? undefined : new Uint8Array(value)
      },
      lastIndex: () => last,
      close: () => db.close(),
    }
  },
}
