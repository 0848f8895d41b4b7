// Where a node starts from: the newest snapshot that checks out, and the log after it (Raft §7).
import type { RaftLog } from '../../storage/raft-log.js'
import { RaftLogError } from '../../errors.js'
import type { SnapshotStore } from '../../storage/snapshot-store.js'
import type { SnapshotInfo, StateMachine } from '../state-machine.js'

export interface StartingPoint {
  /** The snapshot the node starts from, if any. */
  snapshot: SnapshotInfo | undefined
  /** Entries the state machine holds now. */
  appliedIndex: number
  /** The snapshot's metadata (the Raft layer keeps the configuration there); empty without one. */
  metadata: Uint8Array
}

/**
 * Restores the state machine from the newest valid snapshot unless it already holds more
 * (`appliedIndex`), and makes the log continue right after it. A torn or corrupt newest
 * snapshot falls back to an older one when the log still covers the gap; otherwise, or when
 * the log starts after what any snapshot covers, it is ERR_CORRUPT naming the files.
 */
export async function restoreStartingPoint(log: RaftLog, store: SnapshotStore, stateMachine: StateMachine, appliedIndex: number, logger: { warn(message: string): void }): Promise<StartingPoint> {
  const found = await store.newestValid()
  const skipped = found?.skipped ?? []
  for (const { file, problem } of skipped) logger.warn(`raftlog: skipping snapshot ${file}: ${problem}`)
  const because = skipped.length === 0 ? '' : ` (skipped: ${skipped.map(({ file, problem }) => `${file}: ${problem}`).join('; ')})`
  if (found === undefined) {
    if (log.firstIndex - 1 > appliedIndex) {
      throw new RaftLogError('ERR_CORRUPT', `The log in ${log.dir} starts at index ${log.firstIndex}, but no valid snapshot holds the entries before it${because}`, { dir: log.dir, skipped })
    }
    return { snapshot: undefined, appliedIndex, metadata: new Uint8Array(0) }
  }
  const { index, term } = found.meta
  if (log.firstIndex > index + 1) {
    throw new RaftLogError(
      'ERR_CORRUPT',
      `The log in ${log.dir} starts at index ${log.firstIndex}, after the newest valid snapshot ${found.snapshot.file} (up to index ${index}): entries ${index + 1}..${log.firstIndex - 1} are lost${because}`,
      { dir: log.dir, file: found.snapshot.path, skipped },
    )
  }
  // The log must go on from the snapshot: one that does not hold its last entry was left by an
  // install that stopped after the file was durable and before the log was reset.
  if (log.termAt(index) !== term) log.reset(index + 1, term)
  const { metadata } = found.meta
  if (appliedIndex >= index) return { snapshot: { index, term }, appliedIndex, metadata }
  if (typeof stateMachine.restore !== 'function') {
    throw new RaftLogError('ERR_BAD_ARGUMENT', `RaftNode.start: ${log.dir} holds snapshot ${found.snapshot.file}, but the stateMachine has no restore() to load it`, { argument: 'stateMachine' })
  }
  const reader = await store.read(found.snapshot)
  try {
    await stateMachine.restore(reader.chunks(), { index, term })
  } finally {
    await reader.close()
  }
  return { snapshot: { index, term }, appliedIndex: index, metadata }
}
