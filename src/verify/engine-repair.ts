// `raftlog repair` for a shared log engine's directory: cut the engine at its first problem, as
// repair cuts a single-group log, without losing a vote.
//
// The cut keeps every frame before the problem (the rest of that file zeroed, every later file
// deleted), so the engine opens again with each group's entries up to what those frames hold. But
// an engine file holds the groups' hard states too, and a term or vote lost with a cut frame could
// let the replica vote twice in one term (Raft §5.2: at most one vote per term, durable before
// it is sent). So before cutting, repair reads every valid frame after the problem (each frame
// checks out on its own) and keeps, per group, the newest term and vote those frames hold; once
// the cut engine opens, it writes them back, with the commit index lowered to the group's last
// entry kept. A group created after the problem comes back empty, with its term and vote.
import { closeSync, fsyncSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { LogEngine } from '../engine/log-engine.js'
import { batchHeaderSizeBytes, engineFileName, fileHeaderSizeBytes, RecordKind } from '../engine/engine-format.js'
import { walkEngineFile, type RecordVisitor } from '../engine/engine-walk.js'
import { readU64 } from '../storage/segment-format.js'
import { fsyncDirectory, isLockHeld, lockFile, unlockFile } from '../storage/native.js'
import { systemError } from '../storage/system-error.js'
import { replayEngineDirectory, verifyEngineDirectory, type EngineVerifyResult, type ReplayStop } from './engine-check.js'
import { backUp } from './log-repair.js'
import type { Problem } from './log-reader.js'
import { withFileBytes } from './log-reader.js'

/** What repair does to one group. */
export interface EngineGroupRepair {
  group: number
  /** Last index the group keeps (first − 1 when none); undefined for a group created after the problem. */
  lastIndex: number | undefined
  /** The highest index the frames after the problem name for it (what it loses up to, at least). */
  lostUpTo: number | undefined
  /** Term and vote taken from a frame after the problem: newer than what the kept frames say. */
  hardState: { term: number; vote: number } | undefined
  /** The commit index lowered to the last entry kept: from, to. */
  commit: { from: number; to: number } | undefined
}

export interface EngineRepairPlan {
  problem: Problem
  /** The file cut at byte `offset` (the rest zeroed), when one is cut rather than deleted. */
  cut: { file: string; offset: number } | undefined
  /** Files deleted, from the first one not kept. */
  deleted: string[]
  /** The groups repair changes: entries lost, hard state raised, commit lowered. */
  groups: EngineGroupRepair[]
}

export interface EngineRepairReport {
  /** Undefined when the directory has no problem. */
  plan: EngineRepairPlan | undefined
  /** The folder holding copies of every file changed (none on a dry run). */
  backup: string | undefined
  /** The directory checked again after the repair (undefined on a dry run). */
  after: EngineVerifyResult | undefined
  left: Problem[]
}

/**
 * Repairs engine directory `dir`, or with `dryRun` only plans it. Refuses a directory a running
 * process holds (ERR_LOCKED), and one whose problem a cut cannot take away (ERR_CORRUPT: a group
 * lacks records from before the problem).
 */
export function repairEngineDirectory(dir: string, options: { dryRun: boolean }): EngineRepairReport {
  const plan = planEngineRepair(dir)
  if (plan === undefined || options.dryRun) return { plan, backup: undefined, after: undefined, left: [] }
  const { sequences } = replayEngineDirectory(dir)
  const changed = sequences.map(engineFileName).filter((file) => file === plan.cut?.file || plan.deleted.includes(file))
  const backup = backUp(dir, changed)
  const lock = lockEngine(dir)
  try {
    // Later files first: a repair stopped part way leaves a directory repair can finish.
    for (const file of [...plan.deleted].reverse()) unlinkSync(join(dir, file))
    fsyncDirectory(dir)
    if (plan.cut !== undefined) zeroFrom(join(dir, plan.cut.file), plan.cut.offset)
  } catch (error) {
    throw systemError(error, `Cannot cut engine directory ${dir} (the files it changes are in ${backup})`)
  } finally {
    unlockFile(lock)
  }
  writeHardStates(dir, plan.groups)
  const after = verifyEngineDirectory(dir)
  return { plan, backup, after, left: after.problems }
}

function planEngineRepair(dir: string): EngineRepairPlan | undefined {
  const { result, replay, sequences, stop } = replayEngineDirectory(dir)
  const problem = result.problems[0]
  if (problem === undefined) return undefined
  if (stop === undefined) {
    throw new RaftLogError('ERR_CORRUPT', `${dir}: ${problem.problem}; repair cuts damage at the end of the engine's history, and this is at its start: restore the missing file, or recover the node from its peers`, { dir })
  }
  const broken = replay.finish()
  if (broken.length > 0) {
    throw new RaftLogError('ERR_CORRUPT', `${dir}: cutting at ${problem.file} byte ${problem.offset} would leave group ${broken[0]} without records it needs (they were rewritten after that point): repair cannot keep it; recover the node from its peers`, { dir, group: broken[0] })
  }
  const cut = stop.keepBytes === undefined ? undefined : { file: engineFileName(sequences[stop.position] as number), offset: stop.keepBytes }
  const deleted = sequences.slice(stop.position + (cut === undefined ? 0 : 1)).map(engineFileName)
  const later = readLaterRecords(dir, sequences, stop)
  const groups: EngineGroupRepair[] = []
  for (const id of new Set([...replay.groups.keys(), ...later.keys()])) {
    const kept = replay.groups.get(id)
    const seen = later.get(id)
    if (seen?.removed === true && kept === undefined) continue
    const keptState = kept?.hardState ?? { term: 0, vote: 0, commit: 0 }
    const newer = seen?.hardState !== undefined && (seen.hardState.term > keptState.term || (seen.hardState.term === keptState.term && seen.hardState.vote !== keptState.vote && keptState.vote === 0)) ? seen.hardState : undefined
    const lastIndex = kept?.last
    const commitTo = Math.min(keptState.commit, lastIndex ?? 0)
    const commit = kept !== undefined && keptState.commit > commitTo ? { from: keptState.commit, to: commitTo } : undefined
    const lostUpTo = seen?.lastIndex !== undefined && seen.lastIndex > (lastIndex ?? 0) ? seen.lastIndex : undefined
    if (newer === undefined && commit === undefined && lostUpTo === undefined && kept !== undefined) continue
    groups.push({ group: id, lastIndex, lostUpTo, hardState: newer === undefined ? undefined : { term: newer.term, vote: newer.vote }, commit })
  }
  groups.sort((a, b) => a.group - b.group)
  return { problem, cut, deleted, groups }
}

interface LaterRecords {
  hardState: { term: number; vote: number } | undefined
  lastIndex: number | undefined
  removed: boolean
}

/**
 * Every valid frame after the problem: in the damaged file past the damaged frame, and in every
 * later file, each frame checked on its own (a frame is found by its batch sequence, which must
 * come after the last one replayed, and by its checksums). Per group: its newest term and vote and
 * the highest index named.
 */
function readLaterRecords(dir: string, sequences: readonly number[], stop: ReplayStop): Map<number, LaterRecords> {
  const later = new Map<number, LaterRecords>()
  const visit: RecordVisitor = (fields) => {
    let seen = later.get(fields.group)
    if (seen === undefined) {
      seen = { hardState: undefined, lastIndex: undefined, removed: false }
      later.set(fields.group, seen)
    }
    if (fields.kind === RecordKind.Remove) {
      Object.assign(seen, { hardState: undefined, lastIndex: undefined, removed: true })
      return
    }
    seen.removed = false
    if (fields.kind === RecordKind.HardState) {
      const newest = seen.hardState
      if (newest === undefined || fields.term >= newest.term) seen.hardState = { term: fields.term, vote: fields.vote }
    }
    if (fields.kind === RecordKind.Entry) seen.lastIndex = Math.max(seen.lastIndex ?? 0, fields.index)
  }
  for (const [position, sequence] of sequences.entries()) {
    if (position < stop.position) continue
    withFileBytes(join(dir, engineFileName(sequence)), (bytes) => {
      const from = position === stop.position ? (stop.keepBytes ?? fileHeaderSizeBytes) + 8 : fileHeaderSizeBytes
      scanFrames(bytes, from, stop.nextBatch, visit)
    })
  }
  return later
}

/** Finds and visits the valid frames of `bytes` from `from` on whose batch sequence is at least `minBatch`, trying every 8-byte boundary. */
function scanFrames(bytes: Buffer, from: number, minBatch: number, visit: RecordVisitor): void {
  // A frame's sequence is at most one per batch header's size past the last replayed.
  const maxBatch = minBatch + Math.ceil(bytes.length / batchHeaderSizeBytes)
  for (let offset = from; offset + batchHeaderSizeBytes <= bytes.length; ) {
    const sequence = readU64(bytes, offset + 8)
    if (sequence < minBatch || sequence > maxBatch) {
      offset += 8
      continue
    }
    // walkEngineFile starts at a file header's end: give it a view whose byte 64 is this frame.
    const view = bytes.subarray(offset - fileHeaderSizeBytes)
    const walk = walkEngineFile(view, sequence, true, visit)
    offset = walk.batches > 0 ? offset - fileHeaderSizeBytes + walk.end : offset + 8
  }
}

/** Zeroes `path` from byte `offset` to its end, durably. */
function zeroFrom(path: string, offset: number): void {
  const size = statSync(path).size
  const zeros = Buffer.alloc(Math.min(1024 * 1024, Math.max(0, size - offset)))
  const fd = openSync(path, 'r+')
  try {
    for (let at = offset; at < size; at += zeros.length) writeSync(fd, zeros, 0, Math.min(zeros.length, size - at), at)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Opens the cut engine and writes each group's raised term and vote and lowered commit, in one flush. */
function writeHardStates(dir: string, groups: readonly EngineGroupRepair[]): void {
  const engine = LogEngine.open(dir, { logger: { warn() {} } })
  try {
    for (const { group, hardState, commit } of groups) {
      if (hardState === undefined && commit === undefined) continue
      if (!engine.hasGroup(group)) engine.createGroup(group)
      const now = engine.hardState(group)
      engine.setHardState(group, { term: hardState?.term ?? now.term, vote: hardState?.vote ?? now.vote, commit: Math.min(now.commit, engine.lastIndex(group)) })
    }
    engine.flushSync()
  } finally {
    engine.close()
  }
}

function lockEngine(dir: string): number {
  try {
    return lockFile(join(dir, 'LOCK'))
  } catch (error) {
    if (isLockHeld(error)) throw new RaftLogError('ERR_LOCKED', `${dir} is locked by a running raftlog process`, { dir })
    throw systemError(error, `Cannot lock ${dir}`)
  }
}
