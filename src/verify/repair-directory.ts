// What `raftlog repair` does to one node directory, as data: cut the log at its first problem
// (after backing up every file it changes) and bring the state file's progress down to what is
// left. The command only prints the report.
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { isLockHeld, lockFile, unlockFile } from '../storage/native.js'
import { stateFileName } from '../storage/raft-state-file.js'
import { systemError } from '../storage/system-error.js'
import { checkLog, type LogCheck } from './log-check.js'
import { checkLogDirectory, type Problem } from './log-reader.js'
import { applyRepair, backUp, planRepair, type Repair } from './log-repair.js'
import { checkSnapshots } from './snapshot-check.js'
import { checkStateFile } from './state-check.js'
import { checkStateFit, fixStateFit, type StatePastLog } from './state-fit.js'

export interface RepairReport {
  /** The cut, when a segment has a problem. */
  repair: Repair | undefined
  /** The state file's progress past the last entry kept, to lower. */
  stateFit: StatePastLog | undefined
  /** The folder holding copies of every file changed (none on a dry run or when nothing changed). */
  backup: string | undefined
  /** The log checked again after the repair (undefined on a dry run). */
  after: LogCheck | undefined
  /** Problems the repair could not take away (the state file's, or a cut that did not hold). */
  left: Problem[]
}

/**
 * Repairs node directory `dir`, or with `dryRun` only plans it (changing nothing). Holds the
 * directory's lock throughout, so no node opens a log half cut: ERR_LOCKED when a running node
 * holds it.
 */
export async function repairDirectory(dir: string, options: { dryRun: boolean }): Promise<RepairReport> {
  checkLogDirectory(dir)
  const lock = options.dryRun ? undefined : lockDirectory(dir)
  try {
    const log = checkLog(dir)
    const repair = planRepair(log)
    // Where the log ends once cut: the state file's progress must not point past it (nor past the newest snapshot).
    const logEnd = repair?.firstLostIndex !== undefined ? repair.firstLostIndex - 1 : (log.lastIndex ?? 0)
    const stateFit = checkStateFit(checkStateFile(dir), Math.max(logEnd, (await checkSnapshots(dir)).newestValid?.index ?? 0))
    const files = [...(repair?.changes.map((change) => change.file) ?? []), ...(stateFit === undefined ? [] : [stateFileName])]
    let backup: string | undefined
    if (!options.dryRun && files.length > 0) {
      backup = backUp(dir, files)
      if (repair !== undefined) applyRepair(dir, repair)
      if (stateFit !== undefined) fixStateFit(dir, stateFit)
    }
    const after = options.dryRun ? undefined : checkLog(dir)
    const left = [...(after?.problems ?? []), ...checkStateFile(dir).problems]
    return { repair, stateFit, backup, after, left }
  } finally {
    if (lock !== undefined) unlockFile(lock)
  }
}

/** Takes `dir`'s LOCK for a tool that changes it; ERR_LOCKED while a running process holds it. */
export function lockDirectory(dir: string): number {
  try {
    return lockFile(join(dir, 'LOCK'))
  } catch (error) {
    if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `${dir} is locked by a running raftlog process`, { dir })
    throw systemError(error, `Cannot lock ${dir}`)
  }
}
