import Database from 'better-sqlite3'
import { join } from 'node:path'
import type { EngineFactory, LogEngine } from './engine.js'

export const sqliteEngine: EngineFactory = {
  name: 'sqlite',
  async open(dir, { durable }): Promise<LogEngine> {
    const db = new Database(join(dir, 'log.db'))
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${durable ? 'FULL' : 'OFF'}`)
    db.exec('CREATE TABLE IF NOT EXISTS log (idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, data BLOB NOT NULL)')
    const insert = db.prepare('INSERT INTO log (idx, term, data) VALUES (?, ?, ?)')
    const select = db.prepare('SELECT data FROM log WHERE idx = ?').pluck()
    let last = 0
    // One transaction per batch: with synchronous=FULL the commit is durable.
    const appendAll = db.transaction((entries: Uint8Array[], term: number) => {
      for (const data of entries) insert.run(++last, term, data)
    })
    return {
      name: 'sqlite',
      asyncAppend: false,
      appendBatch: (entries, term) => appendAll(entries, term),
      flush() {},
      get(index) {
        // A fresh Buffer (a Uint8Array) per row: no second copy.
        return select.get(index) as Buffer | undefined
      },
      lastIndex: () => last,
      close() {
        db.close()
      },
    }
  },
}
