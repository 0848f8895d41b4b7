// Whether the log and the snapshots of a directory fit together as a starting node needs: the
// rule of restoreStartingPoint (src/raft/node/starting-snapshot.ts), applied to what verify read
// instead of to an open log. A node restores the newest valid snapshot, then replays the log
// after it, so the log must start at most one entry after that snapshot; with no valid snapshot
// it must start at 1. Keep the two in step: test/cli/snapshot-verify.test.ts starts a real node
// on each case and checks that verify agrees with it.
import type { LogCheck } from './log-check.js'
import type { Problem, SegmentScan } from './log-reader.js'
import type { SnapshotsCheck } from './snapshot-check.js'

export interface SnapshotFit {
  /** The log starts after what any valid snapshot covers: a starting node refuses the directory. */
  problem: Problem | undefined
  /** What a starting node does that is not a problem (it resets a log that does not go on from the snapshot). */
  note: string | undefined
}

/** The offset of a segment header's base index: the field that says where the log starts. */
const baseIndexOffset = 8

export function checkSnapshotFit(log: LogCheck, snapshots: SnapshotsCheck): SnapshotFit {
  // A log open() refuses is a problem of its own; where it would start means nothing then.
  if (log.outcome.kind === 'damage') return { problem: undefined, note: undefined }
  const kept = keptScans(log)
  // No segment at all: open() makes an empty log starting at 1.
  const firstIndex = log.firstIndex ?? 1
  const head = kept[0]?.file ?? log.fresh ?? 'the log'
  const newest = snapshots.newestValid
  const invalid = snapshots.snapshots.filter((snapshot) => !snapshot.valid && (newest === undefined || snapshot.index > newest.index))
  const skipped = invalid.length === 0 ? '' : ` (not valid: ${invalid.map((snapshot) => `${snapshot.file}: ${snapshot.problem?.problem ?? 'invalid'}`).join('; ')})`
  const atHead = (problem: string): Problem => ({ file: head, offset: baseIndexOffset, index: firstIndex, problem })
  if (newest === undefined) {
    if (firstIndex <= 1) return { problem: undefined, note: undefined }
    return { problem: atHead(`the log starts at index ${firstIndex}, but no valid snapshot holds entries 1..${firstIndex - 1}${skipped}`), note: undefined }
  }
  if (firstIndex > newest.index + 1) {
    const problem = `the log starts at index ${firstIndex}, after the newest valid snapshot ${newest.file} (up to index ${newest.index}): entries ${newest.index + 1}..${firstIndex - 1} are in no file${skipped}`
    return { problem: atHead(problem), note: undefined }
  }
  // A log that does not hold the snapshot's last entry in its term was left by an install that
  // stopped before the log was reset: a starting node resets it, which loses nothing.
  if (termAt(kept, newest.index) !== newest.term) {
    return { problem: undefined, note: `a starting node would empty the log and go on after ${newest.file} (index ${newest.index}, term ${newest.term}): the log does not hold that entry in that term` }
  }
  return { problem: undefined, note: undefined }
}

function keptScans(log: LogCheck): SegmentScan[] {
  if (log.outcome.kind !== 'plan') return []
  const byName = new Map(log.scans.map((scan) => [scan.file, scan]))
  return log.outcome.kept.map((segment) => byName.get(segment.name) as SegmentScan)
}

/** The log's term at `index` as open() would answer it: an entry's term, or the previous term before the first. */
function termAt(kept: SegmentScan[], index: number): number | undefined {
  const first = kept[0]
  if (first !== undefined && index === first.baseIndex - 1) return first.header?.prevTerm
  for (const scan of kept) {
    const frame = scan.frames[index - scan.baseIndex]
    if (frame !== undefined && frame.index === index) return frame.term
  }
  return undefined
}
