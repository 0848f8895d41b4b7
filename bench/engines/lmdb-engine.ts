import { open as openLmdb } from 'lmdb'
import type { EngineFactory, LogEngine } from './engine.js'
import { indexKey as key } from './index-key.js'


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
        // getBinary returns a copy of its own (getBinaryFast would reuse one): no second copy.
        return db.getBinary(key(index))
      },
      lastIndex: () => last,
      close: () => db.close(),
    }
  },
}
