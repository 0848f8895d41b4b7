// `raftlog repair` for a shared log engine's directory: cut the engine at its first problem, as
// repair cuts a single-group log, without losing a vote.
//
// The cut keeps every frame before the problem (the rest of that file zeroed, every later file
// deleted), so the engine opens again with each group's entries up to what those frames hold. But
// an engine file holds the groups' hard states too, and a term or vote lost with a cut frame could
// let the replica vote twice in one term (Raft §5.2: at most one vote per term, durable before
// it is sent). So before cutting, repair reads every valid frame after the problem (each frame
// checks out on its own) and keeps, per group, the newest term and vote those frames hold: it
// writes them, with each commit index lowered to the group's last entry kept, in one new frame
// right after the last frame kept, before it cuts anything. A group created after the problem
// comes back empty, with its term and vote.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { batchHeaderSizeBytes, engineFileName, fileHeaderBytes, fileHeaderSizeBytes, parseEngineFileName, RecordKind } from '../engine/engine-format.js'
import { PendingBatch } from '../engine/pending-batch.js'
import { walkEngineFile, type RecordVisitor } from '../engine/engine-walk.js'
import { readU64 } from '../storage/segment-format.js'
import { fsyncDirectory, unlockFile } from '../storage/native.js'
import { systemError } from '../storage/system-error.js'
import { replayEngineDirectory, type EngineVerifyResult, type ReplayStop } from './engine-check.js'
import { verifyEngineWithSnapshots } from './engine-snapshot-check.js'
import { backUp } from './log-repair.js'
import { lockDirectory } from './repair-directory.js'
import { checkLogDirectory, withFileBytes, type Problem } from './log-reader.js'

const noPayload = new Uint8Array(0)

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
  /**
   * The last file kept, cut at byte `offset`: the frames before it stay, the hard states go there,
   * the rest is zeroed. `fresh`: a new file of that name instead (the damaged or missing file's
   * sequence), its header saying `firstBatch`, `sizeBytes` long.
   */
  cut: { file: string; offset: number; fresh?: { firstBatch: number; sizeBytes: number } }
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
  /** The directory checked again after the repair, snapshots too (undefined on a dry run). */
  after: EngineVerifyResult | undefined
  left: Problem[]
  /** What was done first about a repair an earlier run left unfinished. */
  resumed?: string
}

/**
 * Repairs engine directory `dir`, or with `dryRun` only plans it. Refuses a directory a running
 * process holds (ERR_LOCKED), and one whose problem a cut cannot take away (ERR_CORRUPT: damage
 * before anything can be kept, a group lacking records from before the problem, no room for the
 * hard states' frame).
 *
 * The changes, each durable before the next, so that a repair stopped at any point (a kill, a
 * power loss) leaves a directory that repair finishes with every vote still there:
 * 1. the last file kept is written anew beside it: its frames kept, the hard states' frame, zeros;
 *    written as `<file>.repair.tmp`, then renamed `<file>.repaired` once whole;
 * 2. the later files are deleted, the last first;
 * 3. `<file>.repaired` replaces the file.
 * Until step 3 the file is the damaged one, which the engine refuses to open, so no node starts
 * on a half-repaired directory; a `.repaired` file found by the next run is finished first (from
 * step 2). Repair holds the directory's lock while it changes it. `stopAfter` (tests) stops there.
 */
export async function repairEngineDirectory(dir: string, options: { dryRun: boolean; stopAfter?: RepairStep }): Promise<EngineRepairReport> {
  checkLogDirectory(dir, 'engine')
  const unfinished = unfinishedRepair(dir, options.dryRun)
  let resumed: string | undefined
  if (unfinished !== undefined) {
    // Until its rename the directory keeps a problem (the damaged or missing file): without one, the
    // .repaired file is stale (the directory was set right otherwise since) and must never replace a live file.
    const stale = replayEngineDirectory(dir).result.problems.length === 0
    if (options.dryRun) throw new RaftLogError('ERR_CORRUPT', `${dir}: ${stale ? `${unfinished} is left from an earlier repair` : `a repair stopped part way (${unfinished} is there)`}: run raftlog repair without --dry-run to ${stale ? 'remove it' : 'finish it'}`, { dir })
    if (stale) withLock(dir, () => unlinkSync(join(dir, unfinished)))
    else withLock(dir, () => finishRepair(dir, unfinished))
    resumed = stale ? `removed ${unfinished}, left from an earlier repair (the directory had no problem)` : `finished a repair stopped part way (${unfinished})`
  }
  const planned = planEngineRepair(dir)
  if (planned === undefined) {
    const check = options.dryRun ? undefined : await verifyEngineWithSnapshots(dir)
    return { plan: undefined, backup: undefined, after: check, left: check?.problems ?? [], ...(resumed === undefined ? {} : { resumed }) }
  }
  const { plan, frame } = planned
  if (options.dryRun) return { plan, backup: undefined, after: undefined, left: [] }
  const backup = backUp(dir, [plan.cut.file, ...plan.deleted].filter((file) => existsSync(join(dir, file))))
  const finished = withLock(dir, () => {
    try {
      writeRepairedFile(dir, plan.cut, frame)
      if (options.stopAfter === 'file written') return false
      return finishRepair(dir, `${plan.cut.file}${repairedSuffix}`, options.stopAfter)
    } catch (error) {
      throw systemError(error, `Cannot cut engine directory ${dir} (the files it changes are in ${backup}; run repair again)`)
    }
  })
  if (!finished) return { plan, backup, after: undefined, left: [{ file: plan.cut.file, offset: plan.cut.offset, index: undefined, problem: 'repair stopped part way (a test)' }] }
  // The log is repaired; a damaged snapshot is not repair's to drop: it is said, as verify says it.
  const after = await verifyEngineWithSnapshots(dir)
  return { plan, backup, after, left: after.problems, ...(resumed === undefined ? {} : { resumed }) }
}

/** A point where a test stops a repair, as a kill there would. */
export type RepairStep = 'file written' | 'one file deleted'

const repairedSuffix = '.repaired'
const repairTmpSuffix = '.repair.tmp'

/** The `<file>.repaired` a stopped repair left, if any; a `.repair.tmp` (step 1 unfinished) is deleted unless `dryRun`. */
function unfinishedRepair(dir: string, dryRun: boolean): string | undefined {
  const names = readdirSync(dir)
  if (!dryRun) for (const name of names) if (name.endsWith(repairTmpSuffix)) unlinkSync(join(dir, name))
  return names.find((name) => name.endsWith(repairedSuffix) && parseEngineFileName(name.slice(0, -repairedSuffix.length)) !== undefined)
}

/** Step 1: the last file kept, written anew as `<file>.repaired`: its bytes up to the cut (or a new header), the hard states' frame, zeros. */
function writeRepairedFile(dir: string, cut: EngineRepairPlan['cut'], frame: Buffer | undefined): void {
  const bytes = Buffer.alloc(cut.fresh?.sizeBytes ?? statSync(join(dir, cut.file)).size)
  if (cut.fresh !== undefined) fileHeaderBytes({ sequence: parseEngineFileName(cut.file) as number, firstBatch: cut.fresh.firstBatch }).copy(bytes, 0)
  else withFileBytes(join(dir, cut.file), (old) => old.copy(bytes, 0, 0, cut.offset))
  frame?.copy(bytes, cut.offset)
  const tmp = join(dir, `${cut.file}${repairTmpSuffix}`)
  writeFileSync(tmp, bytes, { flag: 'wx' })
  const fd = openSync(tmp, 'r+')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, join(dir, `${cut.file}${repairedSuffix}`))
  fsyncDirectory(dir)
}

/** Steps 2 and 3 for `repaired` (`<file>.repaired`); false when a test stopped it. */
function finishRepair(dir: string, repaired: string, stopAfter?: RepairStep): boolean {
  const file = repaired.slice(0, -repairedSuffix.length)
  const sequence = parseEngineFileName(file) as number
  const later = readdirSync(dir)
    .map((name) => parseEngineFileName(name))
    .filter((other): other is number => other !== undefined && other > sequence)
    .sort((a, b) => b - a)
  for (const other of later) {
    unlinkSync(join(dir, engineFileName(other)))
    fsyncDirectory(dir)
    if (stopAfter === 'one file deleted') return false
  }
  renameSync(join(dir, repaired), join(dir, file))
  fsyncDirectory(dir)
  return true
}

function withLock<T>(dir: string, work: () => T): T {
  const lock = lockDirectory(dir)
  try {
    return work()
  } finally {
    unlockFile(lock)
  }
}

function planEngineRepair(dir: string): { plan: EngineRepairPlan; frame: Buffer | undefined } | undefined {
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
  const cut = keptEnd(dir, sequences, stop, problem)
  const notFiles = sequences.map(engineFileName).filter((file) => !statSync(join(dir, file)).isFile())
  if (notFiles.length > 0) throw new RaftLogError('ERR_CORRUPT', `${dir}: ${notFiles.join(', ')} ${notFiles.length === 1 ? 'is' : 'are'} not a file (a directory, say): move ${notFiles.length === 1 ? 'it' : 'them'} out of the engine directory, then run repair again`, { dir })
  const deleted = sequences.filter((sequence) => sequence > parseEngineFileName(cut.file)!).map(engineFileName)
  const later = readLaterRecords(dir, sequences, stop)
  const groups: EngineGroupRepair[] = []
  const writes = new PendingBatch()
  writes.begin(parseEngineFileName(cut.file)!, cut.offset, stop.nextBatch)
  for (const id of [...new Set([...replay.groups.keys(), ...later.keys()])].sort((a, b) => a - b)) {
    const kept = replay.groups.get(id)
    const seen = later.get(id)
    if (seen?.removed === true && kept === undefined) continue
    const keptState = kept?.hardState ?? { term: 0, vote: 0, commit: 0 }
    const newer = seen?.hardState !== undefined && (seen.hardState.term > keptState.term || (seen.hardState.term === keptState.term && seen.hardState.vote !== keptState.vote && keptState.vote === 0)) ? seen.hardState : undefined
    const lastIndex = kept?.last
    const commitTo = Math.min(keptState.commit, lastIndex ?? 0)
    const commit = keptState.commit > commitTo ? { from: keptState.commit, to: commitTo } : undefined
    const lostUpTo = seen?.lastIndex !== undefined && seen.lastIndex > (lastIndex ?? 0) ? seen.lastIndex : undefined
    if (newer === undefined && commit === undefined && lostUpTo === undefined && kept !== undefined) continue
    groups.push({ group: id, lastIndex, lostUpTo, hardState: newer === undefined ? undefined : { term: newer.term, vote: newer.vote }, commit })
    // A group created after the problem comes back as createGroup() makes one: empty, first index 1.
    if (kept === undefined) writes.add({ kind: RecordKind.Reset, group: id, index: 1, term: 0, entryType: 0, vote: 0 }, noPayload)
    if (newer === undefined && commit === undefined) continue
    writes.add({ kind: RecordKind.HardState, group: id, index: commitTo, term: newer?.term ?? keptState.term, entryType: 0, vote: newer?.vote ?? keptState.vote }, noPayload)
  }
  const frame = writes.isEmpty ? undefined : Buffer.from(writes.finish())
  if (frame !== undefined && cut.offset + frame.length > (cut.fresh?.sizeBytes ?? statSync(join(dir, cut.file)).size)) {
    throw new RaftLogError('ERR_CORRUPT', `${dir}: the hard states of ${groups.length} groups (${frame.length} bytes) do not fit after the last frame kept in ${cut.file} (byte ${cut.offset}): repair cannot keep them; recover the node from its peers`, { dir })
  }
  return { plan: { problem, cut, deleted, groups }, frame }
}

/**
 * Where what is kept ends: in the damaged file, after its last valid frame; or, when a whole file
 * is damaged (its header) or missing, in a new file of that sequence that holds only the hard
 * states' frame, so that no full file before it needs room for them.
 */
function keptEnd(dir: string, sequences: readonly number[], stop: ReplayStop, problem: Problem): EngineRepairPlan['cut'] {
  const sequence = sequences[stop.position] as number
  if (stop.keepBytes !== undefined) return { file: engineFileName(sequence), offset: stop.keepBytes }
  if (stop.position === 0) {
    throw new RaftLogError('ERR_CORRUPT', `${dir}: ${problem.file}: ${problem.problem}; it is the first file, so nothing before the problem can be kept: recover the node from its peers`, { dir })
  }
  const previous = sequences[stop.position - 1] as number
  // A gap: the missing file's sequence; else the damaged file's.
  const replaced = sequence === previous + 1 ? sequence : previous + 1
  return { file: engineFileName(replaced), offset: fileHeaderSizeBytes, fresh: { firstBatch: stop.nextBatch, sizeBytes: statSync(join(dir, engineFileName(previous))).size } }
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
  const after = sequences.slice(stop.position)
  // A frame's sequence is at most one per batch header's size of every byte after the cut past the last replayed.
  const maxBatch = stop.nextBatch + Math.ceil(after.reduce((sum, sequence) => sum + statSync(join(dir, engineFileName(sequence))).size, 0) / batchHeaderSizeBytes)
  for (const [i, sequence] of after.entries()) {
    withFileBytes(join(dir, engineFileName(sequence)), (bytes) => {
      // Past the damaged frame in the damaged file; from the first frame in a file whose header is what is wrong.
      const from = i === 0 && stop.keepBytes !== undefined ? stop.keepBytes + 8 : fileHeaderSizeBytes
      scanFrames(bytes, from, stop.nextBatch, maxBatch, visit)
    })
  }
  return later
}

/** Finds and visits the valid frames of `bytes` from `from` on whose batch sequence is from `minBatch` to `maxBatch`, trying every 8-byte boundary. */
function scanFrames(bytes: Buffer, from: number, minBatch: number, maxBatch: number, visit: RecordVisitor): void {
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
