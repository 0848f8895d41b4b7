// Everything `raftlog verify` checks in one node directory, as data: the log judged by recovery's
// own rule, the state file, every snapshot, and whether they fit together as a starting node needs.
import { checkLog, type Cut } from './log-check.js'
import { checkLogDirectory, type Problem } from './log-reader.js'
import { checkSnapshots, type SnapshotVerdict } from './snapshot-check.js'
import { checkSnapshotFit } from './snapshot-fit.js'
import { checkStateFile, type StateCheck } from './state-check.js'
import { checkStateFit } from './state-fit.js'

export interface VerifyResult {
  dir: string
  /** No problem and no warning. */
  ok: boolean
  segments: number
  entries: number
  firstIndex: number | undefined
  lastIndex: number | undefined
  /** Bytes recovery would cut after the last entries of open segments. */
  tailBytes: number
  problems: Problem[]
  warnings: Problem[]
  /** What opening the log would do, when it would not refuse it. */
  recovery: { cuts: Cut[]; removals: { file: string; reason: string }[]; fresh: string | undefined }
  state: StateCheck
  snapshots: {
    /** Every snapshot file, oldest first, checked whole. */
    files: SnapshotVerdict[]
    /** The file a starting node restores. */
    newestValid: string | undefined
    /**
     * The log and the snapshots fit together as a starting node needs (src/raft/node/starting-snapshot.ts);
     * undefined when opening would refuse the log anyway.
     */
    fits: boolean | undefined
    /** Files an interrupted snapshot write or transfer left (a starting node deletes them). */
    leftovers: string[]
    /** What a starting node would do to the log that is not a problem (reset it after the snapshot). */
    note: string | undefined
  }
}

/**
 * Checks node directory `dir` without changing it (it refuses one a running node has locked:
 * ERR_LOCKED). `onSegment` reports progress, one call per segment read. Problems are damage
 * opening the log or starting the node would refuse; warnings are what it survives.
 */
export async function verifyDirectory(dir: string, onSegment?: (done: number, total: number) => void): Promise<VerifyResult> {
  checkLogDirectory(dir)
  const log = checkLog(dir, onSegment)
  const state = checkStateFile(dir)
  const snapshots = await checkSnapshots(dir)
  const fit = checkSnapshotFit(log, snapshots)
  const snapshotProblems = snapshots.snapshots.flatMap((snapshot) => (snapshot.problem === undefined ? [] : [snapshot.problem]))
  const problems = [...log.problems, ...snapshotProblems, ...(fit.problem === undefined ? [] : [fit.problem]), ...state.problems]
  // Against a log open() accepts: a refused one is a problem of its own.
  const end = Math.max(log.lastIndex ?? 0, snapshots.newestValid?.index ?? 0)
  const statePastLog = log.outcome.kind === 'damage' ? undefined : checkStateFit(state, end)
  const warnings = [...state.warnings, ...(statePastLog === undefined ? [] : [statePastLog.warning])]
  return {
    dir,
    ok: problems.length === 0 && warnings.length === 0,
    segments: log.scans.length,
    entries: log.entries,
    firstIndex: log.firstIndex,
    lastIndex: log.lastIndex,
    tailBytes: log.cuts.reduce((sum, cut) => sum + cut.bytes, 0),
    problems,
    warnings,
    recovery: { cuts: log.cuts, removals: log.removals, fresh: log.fresh },
    state,
    snapshots: {
      files: snapshots.snapshots,
      newestValid: snapshots.newestValid?.file,
      fits: log.outcome.kind === 'damage' ? undefined : fit.problem === undefined,
      leftovers: snapshots.leftovers,
      note: fit.note,
    },
  }
}
