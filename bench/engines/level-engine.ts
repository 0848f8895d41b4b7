import { ClassicLevel } from 'classic-level'
import type { EngineFactory, LogEngine } from './engine.js'
import { indexKey as key } from './index-key.js'


export const levelEngine: EngineFactory = {
  name: 'classic-level',
  async open(dir, { durable }): Promise<LogEngine> {
    const db = new ClassicLevel<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' })
    await db.open()
    let last = 0
    return {
      name: 'classic-level',
      asyncAppend: true,
      async appendBatch(entries) {
        // batch() with sync: true is durable when it resolves.
        await db.batch(
          entries.map((data) => ({ type: 'put' as const, key: key(++last), value: Buffer.from(data.buffer, data.byteOffset, data.length) })),
          { sync: durable },
        )
      },
      flush() {},
      get(index) {
        // A fresh Buffer (a Uint8Array) already: no second copy.
        return db.getSync(key(index))
      },
      lastIndex: () => last,
      close: () => db.close(),
    }
  },
}
