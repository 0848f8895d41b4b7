// A RaftHost's purge of its engine: the files no group needs any more are freed (groups that lag
// are rewritten forward by the engine), and groups too large to rewrite are snapshotted now so
// that their logs can be compacted instead.
import type { LogEngine } from '../engine/log-engine.js'
import type { GroupReplica } from './group-replica.js'
import type { HostCounters } from './host-options.js'

/** Purges `engine` (synchronous: it flushes first) and counts what it freed. Throws what the engine throws. */
export function purgeEngine(engine: LogEngine, replicas: ReadonlyMap<number, GroupReplica>, counters: HostCounters): void {
  const report = engine.purge()
  counters.purges++
  counters.filesFreed += report.freedFiles.length
  for (const group of report.compactRequested) {
    replicas.get(group)?.snapshotSoon()
  }
}
