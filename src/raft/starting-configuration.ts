// Where a starting node finds its membership: in the snapshot it starts from and in the Config
// entries of its log after it (Raft dissertation §4.1: the latest one in the log is in use,
// committed or not). Only a brand-new cluster takes it from the caller, once, by writing it as
// the first entry of every founding node's log.
import type { RaftLog } from '../storage/raft-log.js'
import { EntryType } from '../storage/log-entry.js'
import { decodeConfiguration, encodeConfiguration, type Configuration } from './configuration.js'
import type { StartingPoint } from './starting-snapshot.js'

export interface ConfigurationAt {
  index: number
  config: Configuration
}

/** The snapshot's configuration (when it has one) and every Config entry of the log after it, oldest first. */
export function startingConfigurations(log: RaftLog, start: StartingPoint, logger: { warn(message: string): void }): ConfigurationAt[] {
  const found: ConfigurationAt[] = []
  const snapshotIndex = start.snapshot?.index ?? 0
  if (start.snapshot !== undefined && start.metadata.length > 0) {
    try {
      found.push({ index: snapshotIndex, config: decodeConfiguration(start.metadata) })
    } catch (error) {
      logger.warn(`raftlog: the snapshot up to index ${snapshotIndex} in ${log.dir} has no readable configuration: ${(error as Error).message}`)
    }
  }
  for (const index of log.indexesOfType(EntryType.Config, Math.max(log.firstIndex, snapshotIndex + 1))) {
    const entry = log.get(index)
    if (entry === undefined) continue
    try {
      found.push({ index, config: decodeConfiguration(entry.data) })
    } catch (error) {
      logger.warn(`raftlog: ignoring the configuration entry at index ${index} in ${log.dir}: ${(error as Error).message}`)
    }
  }
  return found
}

/**
 * Writes a new cluster's first configuration as entry 1, term 1, and makes it durable. Every
 * founding node writes the same bytes (encodeConfiguration sorts), so their logs agree on it
 * and it counts as committed: as etcd does with its bootstrap configuration entries. The
 * caller's term must move to 1 with it (a term never trails the log).
 */
export async function writeFirstConfiguration(log: RaftLog, first: Configuration): Promise<ConfigurationAt> {
  log.append([{ term: 1, type: EntryType.Config, data: encodeConfiguration(first) }])
  await log.flush()
  return { index: 1, config: first }
}
