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
      // flush(), as a Raft node calls it: the fdatasync on the thread pool, so the event loop runs
      // meanwhile (the durable peers here sync on the calling thread). The raftlog-only cases
      // measure flushSync() too.
      flush: () => (durable ? log.flush() : undefined),
      get: (index) => log.get(index)?.data,
      lastIndex: () => log.lastIndex,
      close: () => log.close(),
    }
  },
}
