// Where a group replica starts from on a RaftHost: its newest snapshot (the state machine is
// restored from it before anything is applied) and its log after it, and the group's membership
// as they hold it: the snapshot's configuration, then every Config entry of the log after it
// (Raft dissertation §4.1). The peers given to addGroup only bootstrap a group that holds none.
import { RaftLogError } from '../errors.js'
import { decodeConfiguration } from '../raft/core/configuration.js'
import type { ConfigurationAt } from '../raft/core/configuration-history.js'
import type { GroupLog } from '../engine/group-log.js'
import type { StoredSnapshot } from './host-snapshots.js'

export interface GroupStart {
  /** The snapshot the state machine must be restored from first, if any. */
  snapshot: StoredSnapshot | undefined
  /** What the state machine holds once restored: the snapshot's index, or 0. */
  appliedIndex: number
  /** The group's configurations, oldest first (empty: none stored, bootstrap from the given peers). */
  configurations: ConfigurationAt[]
}

/**
 * The starting point of group `group` from its log and newest snapshot. A log that starts after
 * what the snapshot covers (or after index 1 with no snapshot) lost entries: ERR_CORRUPT. A log
 * that does not hold the snapshot's last entry (an install that stopped after the file was
 * durable, before the log was reset) is reset to go on right after it.
 */
export function groupStart(group: number, log: GroupLog, snapshot: StoredSnapshot | undefined, logger: { warn(message: string): void }): GroupStart {
  const covered = snapshot?.index ?? 0
  if (log.firstIndex > covered + 1) {
    const what = snapshot === undefined ? 'no snapshot holds the entries before it' : `the newest snapshot ${snapshot.file} covers only up to index ${covered}`
    throw new RaftLogError('ERR_CORRUPT', `Group ${group}'s log starts at index ${log.firstIndex}, but ${what}: entries ${covered + 1}..${log.firstIndex - 1} are lost`, { group })
  }
  const configurations: ConfigurationAt[] = []
  if (snapshot !== undefined) {
    if (log.termAt(snapshot.index) !== snapshot.term) log.reset(snapshot.index + 1, snapshot.term)
    if (snapshot.metadata.length > 0) configurations.push({ index: snapshot.index, config: decodeConfiguration(snapshot.metadata) })
  }
  // The engine's index knows where they are: only they are read, not the whole log.
  for (const index of log.configIndexes(Math.max(log.firstIndex, covered + 1))) {
    const entry = log.get(index)
    if (entry === undefined) continue
    try {
      configurations.push({ index, config: decodeConfiguration(entry.data) })
    } catch (error) {
      logger.warn(`raftlog host: group ${group} ignores the configuration entry at index ${index}: ${(error as Error).message}`)
    }
  }
  return { snapshot, appliedIndex: covered, configurations }
}
