// Where a log starts, and where the entries before it went: after a snapshot the log is compacted
// behind it, and those entries live on only in the snapshot a starting node restores (the
// store's newestValid(), the same choice). `dump` says so, and so does its error for an index
// below the log. Reads only.
import { SnapshotStore } from '../storage/snapshot-store.js'
import type { LogCheck } from './log-check.js'

export interface LogStart {
  firstIndex: number
  /** One line on where the log starts and what holds the entries before it; undefined for a log that starts at 1 with no snapshots. */
  note: string | undefined
  /** For an index below the log: where the entries before it are (empty when the log starts at 1). */
  below: string
}

export async function describeLogStart(dir: string, log: LogCheck): Promise<LogStart> {
  const firstIndex = log.firstIndex ?? 1
  const store = SnapshotStore.inspect(dir)
  const files = store.list()
  if (firstIndex <= 1 && files.length === 0) return { firstIndex, note: undefined, below: '' }
  const found = await store.newestValid()
  const invalid = found === undefined ? files.map((file) => file.file) : found.skipped.map((skipped) => skipped.file)
  const skipped = invalid.length === 0 ? '' : ` (${found === undefined ? '' : 'newer '}${invalid.join(', ')} not valid)`
  const newest = found === undefined ? undefined : { file: found.snapshot.file, index: found.meta.index, term: found.meta.term }
  const span = log.lastIndex === undefined || log.lastIndex < firstIndex ? `it is empty, its next index is ${firstIndex}` : `entries ${firstIndex}..${log.lastIndex}`
  let below: string
  if (firstIndex <= 1) below = ''
  else if (newest !== undefined && newest.index >= firstIndex - 1) {
    below = `entries 1..${firstIndex - 1} were compacted: they live in snapshot ${newest.index} (${newest.file}, term ${newest.term})${skipped}`
  } else if (newest !== undefined) {
    below = `entries 1..${firstIndex - 1} were compacted, but the newest valid snapshot ${newest.file} holds only up to index ${newest.index}: entries ${newest.index + 1}..${firstIndex - 1} are in no file${skipped} (run raftlog verify)`
  } else {
    below = `entries 1..${firstIndex - 1} were compacted, but no valid snapshot holds them${skipped} (run raftlog verify)`
  }
  const besides = firstIndex <= 1 && newest !== undefined ? `; snapshot ${newest.index} (${newest.file}) holds the state up to index ${newest.index}` : ''
  return { firstIndex, note: `the log starts at index ${firstIndex} (${span})${below === '' ? besides : `; ${below}`}`, below }
}
