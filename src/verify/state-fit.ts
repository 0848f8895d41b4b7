// Whether the state file's progress fits the log: a node's commit index (and last applied) should
// not point past the last entry it holds, in its log or its newest snapshot. A node that starts
// that way goes on (it takes the commit index down to its log's end and gets the rest from the
// leader), but it no longer holds entries it knew were committed, some of which, after a repair,
// it may have acknowledged. A power loss can leave it too (the state file is saved before the
// log's flush), so verify warns rather than refuses; repair, which made it, sets it right.
import { join } from 'node:path'
import { RaftStateFile, stateFileName } from '../storage/raft-state-file.js'
import type { Problem } from './log-reader.js'
import type { StateCheck } from './state-check.js'

/** Where a slot's commit index is (slots are 4 KiB; the field is at byte 20 of a slot). */
const commitIndexOffset = 20
const slotSizeBytes = 4096

export interface StatePastLog {
  commitIndex: number
  lastApplied: number
  /** The last index the node holds: its log's last, or its newest valid snapshot's when later. */
  end: number
  warning: Problem
}

/** The state file's progress past `end` (the log's last index or the newest snapshot's, whichever is later), if it is. */
export function checkStateFit(state: StateCheck, end: number): StatePastLog | undefined {
  const current = state.current
  if (current === undefined) return undefined
  const { commitIndex, lastApplied } = current.state
  if (commitIndex <= end && lastApplied <= end) return undefined
  const problem = `commit index ${commitIndex} and last applied ${lastApplied} point past the last entry this directory holds (${end}): entries ${end + 1}..${Math.max(commitIndex, lastApplied)} this node knew were committed are gone; it gets them back from the leader (raftlog repair sets these to ${end})`
  return { commitIndex, lastApplied, end, warning: { file: stateFileName, offset: current.slot * slotSizeBytes + commitIndexOffset, index: commitIndex, problem } }
}

/** Brings commit index and last applied down to `fit.end`, in a durable save (the other slot keeps the old state until it is done). */
export function fixStateFit(dir: string, fit: StatePastLog): void {
  const file = RaftStateFile.open(join(dir, stateFileName))
  try {
    const state = file.load()
    file.save({ ...state, commitIndex: Math.min(state.commitIndex, fit.end), lastApplied: Math.min(state.lastApplied, fit.end) })
  } finally {
    file.close()
  }
}
