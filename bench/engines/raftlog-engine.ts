import { RaftLog } from '../../src/storage/raft-log.js'
import type { EngineFactory, LogEngine } from './engine.js'

export const raftlogEngine: EngineFactory = {
  name: 'raftlog',
  async open(dir, { durable }): Promise<LogEngine> {
    const log = RaftLog.open(dir, { logger: { warn() {} } })
    return {
      name: 'raftlog',
      asyncAppend: false,
      appendBatch(entries, term) {
        log.append(entries.map((data) => ({ term, data })))
      },
      // Synchronous like every durable peer here (raw fs fdatasyncSync, lmdb transactionSync,
      // sqlite): the case measures the storage, not a thread-pool round trip. flush() adds that
      // round trip; the raftlog-only cases measure it.
      flush: () => (durable ? log.flushSync() : undefined),
      get: (index) => log.get(index)?.data,
      lastIndex: () => log.lastIndex,
      close: () => log.close(),
    }
  },
}
