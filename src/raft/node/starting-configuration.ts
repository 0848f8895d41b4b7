// Where a starting node finds its membership: the newest of the committed configuration its
// state file recorded and the one of the snapshot it starts from, then the Config entries of its
// log after that (Raft dissertation §4.1: the latest one in the log is in use, committed or not).
// Only a brand-new cluster takes it from the caller, once, by writing it as the first entry of
// every founding node's log: a node with a log never falls back to what it is told at start.
import type { RaftLog } from '../../storage/raft-log.js'
import { EntryType } from '../../storage/log-entry.js'
import { decodeConfiguration, encodeConfiguration, type Configuration } from '../core/configuration.js'
import type { StartingPoint } from './starting-snapshot.js'
import { RaftLogError } from '../../errors.js'

export interface ConfigurationAt {
  index: number
  config: Configuration
}

/**
 * The configuration to start from (the newer of `recorded`, the state file's last committed one,
 * and the snapshot's) and every Config entry of the log after it, oldest first.
 */
export function startingConfigurations(log: RaftLog, start: StartingPoint, recorded: { index: number; data: Uint8Array } | undefined, logger: { warn(message: string): void }): ConfigurationAt[] {
  const found: ConfigurationAt[] = []
  const decodeAt = (index: number, data: Uint8Array, where: string): void => {
    try {
      found.push({ index, config: decodeConfiguration(data) })
    } catch (error) {
      logger.warn(`raftlog: ${where} in ${log.dir} has no readable configuration: ${(error as Error).message}`)
    }
  }
  const snapshotIndex = start.snapshot?.index ?? 0
  const fromSnapshot = start.snapshot !== undefined && start.metadata.length > 0
  // The newer of the two; both are committed, and every committed change is recorded.
  if (recorded !== undefined && (recorded.index >= snapshotIndex || !fromSnapshot)) decodeAt(recorded.index, recorded.data, `the state file's configuration (index ${recorded.index})`)
  else if (fromSnapshot) decodeAt(snapshotIndex, start.metadata, `the snapshot up to index ${snapshotIndex}`)
  const after = Math.max(found[0]?.index ?? 0, snapshotIndex)
  for (const index of log.indexesOfType(EntryType.Config, Math.max(log.firstIndex, after + 1))) {
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

/**
 * What a node that found no configuration starts with. A directory from before configurations
 * were logged, whose log still holds its whole history, never changed membership: `peers` are
 * its configuration. Anything else that has a log but no configuration (compacted past every
 * Config entry with none recorded) is refused: falling back to the peers given at start could
 * count a removed voter again.
 */
export function configurationsOrLegacy(found: ConfigurationAt[], peers: Configuration, log: RaftLog, start: StartingPoint, dir: string): ConfigurationAt[] {
  if (found.length > 0 || peers.voters.length === 0) return found
  if (start.snapshot === undefined && log.firstIndex <= 1) return [{ index: 0, config: peers }]
  throw new RaftLogError(
    'ERR_NO_CONFIGURATION',
    `${dir} holds a log from index ${log.firstIndex}${start.snapshot === undefined ? '' : ` and a snapshot up to index ${start.snapshot.index}`} but no cluster configuration (it was compacted away before raftlog recorded it in raft_state.meta): the membership cannot be rebuilt from the node list given at start, which may count removed voters again`,
    { dir },
  )
}
