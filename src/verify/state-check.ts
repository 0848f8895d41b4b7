// The state file (raft_state.meta) as `raftlog verify` judges it: which slot is current, a
// damaged slot beside a valid one (a warning: a save cut short by a crash leaves one, and load()
// takes the other), and no valid slot at all while the file holds data (an error: the node's
// term and vote are lost). Reads only.
import { RaftStateFile, stateFileName, type RaftState, type StateSlot } from '../storage/raft-state-file.js'
import { firstNonZeroByte } from '../storage/segment-format.js'
import type { Problem } from './log-reader.js'
import { readStateFile } from './log-reader.js'

const slotSizeBytes = 4096

export interface StateCheck {
  /** False when the directory has no state file (a log used without Raft). */
  present: boolean
  current: { slot: 0 | 1; sequence: number; state: RaftState } | undefined
  slots: (StateSlot & { neverWritten: boolean })[]
  problems: Problem[]
  warnings: Problem[]
}

export function checkStateFile(dir: string): StateCheck {
  const bytes = readStateFile(dir)
  if (bytes === undefined) return { present: false, current: undefined, slots: [], problems: [], warnings: [] }
  const slots = RaftStateFile.inspect(bytes).map((slot) => {
    const start = slot.slot * slotSizeBytes
    const end = Math.min(bytes.length, start + slotSizeBytes)
    return { ...slot, neverWritten: !slot.valid && start < end && firstNonZeroByte(bytes, start, end) === -1 }
  })
  const newest = slots.filter((slot) => slot.valid).sort((a, b) => b.sequence - a.sequence)[0]
  const current = newest?.state === undefined ? undefined : { slot: newest.slot, sequence: newest.sequence, state: newest.state }
  const damaged = slots.filter((slot) => !slot.valid && !slot.neverWritten)
  const where = (slot: StateSlot): Problem => ({ file: stateFileName, offset: slot.slot * slotSizeBytes, index: undefined, problem: '' })
  if (current === undefined) {
    // A file never saved to is the state of a new node; one holding anything else is damage.
    const problems =
      damaged.length === 0
        ? []
        : [{ ...where(damaged[0] as StateSlot), problem: `no valid slot: ${slots.map((slot) => `slot ${slot.slot} ${describe(slot)}`).join(', ')}` }]
    return { present: true, current, slots, problems, warnings: [] }
  }
  const warnings = damaged.map((slot) => ({ ...where(slot), problem: `slot ${slot.slot} ${describe(slot)}; slot ${current.slot} is current` }))
  return { present: true, current, slots, problems: [], warnings }
}

function describe(slot: StateSlot & { neverWritten: boolean }): string {
  if (slot.neverWritten) return 'never written'
  return slot.valid ? `valid (sequence ${slot.sequence})` : (slot.problem ?? 'invalid')
}
