// `raftlog verify` for a shared log engine's directory: every engine file walked and every group
// replayed by the engine's own recovery rule (engine-walk.ts, engine-replay.ts), through private
// mappings, writing nothing. It reports what LogEngine.open() would refuse (a problem) and what it
// would cut (a torn end of the last file).
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { RaftLogError } from '../errors.js'
import { engineFileName, parseEngineFileName, readFileHeader, recordHeaderSizeBytes } from '../engine/engine-format.js'
import { EngineReplay } from '../engine/engine-replay.js'
import { walkEngineFile } from '../engine/engine-walk.js'
import { checkLogDirectory, withFileBytes, type Problem } from './log-reader.js'

export interface EngineVerifyResult {
  dir: string
  /** No problem found. */
  ok: boolean
  files: number
  groups: number
  /** Entries held, over every group. */
  entries: number
  /** Bytes of a torn write after the last file's frames: what opening would cut. */
  tailBytes: number
  /** The last file, when opening would cut its end. */
  tailFile: string | undefined
  problems: Problem[]
}

/** Whether `dir` holds engine files (a LogEngine's directory). */
export function isEngineDirectory(dir: string): boolean {
  return readdirSync(dir).some((name) => parseEngineFileName(name) !== undefined)
}

/** Checks the engine directory `dir` without changing it; refuses one a running process has locked (ERR_LOCKED). */
export function verifyEngineDirectory(dir: string): EngineVerifyResult {
  return replayEngineDirectory(dir).result
}

/** One group as an engine directory holds it (raftlog inspect). */
export interface EngineGroupSummary {
  group: number
  /** First and last index held (last = first − 1 when it holds no entry). */
  firstIndex: number
  lastIndex: number
  entries: number
  lastTerm: number
  /** Its hard state: term, vote (0: none) and commit index. */
  term: number
  vote: number
  commit: number
}

export interface EngineInspection extends EngineVerifyResult {
  fileList: { file: string; sizeBytes: number }[]
  groupList: EngineGroupSummary[]
}

/** What an engine directory holds, file by file and group by group, read as verify reads it (nothing written). */
export function inspectEngineDirectory(dir: string): EngineInspection {
  const { result, replay, sequences } = replayEngineDirectory(dir)
  const fileList = sequences.map((sequence) => ({ file: engineFileName(sequence), sizeBytes: statSync(join(dir, engineFileName(sequence))).size }))
  const groupList = [...replay.groups.values()]
    .sort((a, b) => a.id - b.id)
    .map((group) => ({ group: group.id, firstIndex: group.first, lastIndex: group.last, entries: group.entryCount, lastTerm: group.lastTerm, term: group.hardState.term, vote: group.hardState.vote, commit: group.hardState.commit }))
  return { ...result, fileList, groupList }
}

/** One entry of a group as dump prints it. */
export interface EngineEntry {
  index: number
  term: number
  /** EntryType: 0 normal, 1 no-op, 2 configuration. */
  type: number
  data: Uint8Array
}

/**
 * The entries of `group` from `from` to `to` (clamped to what it holds), in order, as opening the
 * engine would give them, passed to `each` (their bytes valid during the call only). Returns the
 * directory's check (its problems: the entries after damage are not there) and the group's span.
 * ERR_NO_GROUP when the directory, undamaged, holds no such group.
 */
export function readEngineEntries(dir: string, group: number, from: number, to: number, each: (entry: EngineEntry) => void): { check: EngineVerifyResult; firstIndex: number; lastIndex: number } {
  const { result, replay } = replayEngineDirectory(dir)
  const held = replay.groups.get(group)
  // Damage before any record of the group: say where the damage is, not that the group is absent.
  if (held === undefined && result.problems.length > 0) return { check: result, firstIndex: 1, lastIndex: 0 }
  if (held === undefined) throw new RaftLogError('ERR_NO_GROUP', `${dir} holds no group ${group} (groups: ${[...replay.groups.keys()].sort((a, b) => a - b).join(', ') || 'none'})`, { dir, group })
  const first = Math.max(from, held.first)
  const last = Math.min(to, held.last)
  for (let index = first; index <= last; ) {
    const { file } = held.location(index)
    withFileBytes(join(dir, engineFileName(file)), (bytes) => {
      for (; index <= last; index++) {
        const location = held.location(index)
        if (location.file !== file) return
        const { offset } = location
        const start = offset + recordHeaderSizeBytes
        each({ index, term: held.termAt(index) as number, type: bytes[offset + 9] as number, data: bytes.subarray(start, start + held.payloadLength(index)) })
      }
    })
  }
  return { check: result, firstIndex: held.first, lastIndex: held.last }
}

/**
 * Where the replay stopped at the first problem: files from `position` (in `sequences`) on are not
 * (all) replayed; `keepBytes` of that file were (its valid frames), or none of it (undefined: its
 * header is wrong, or a file before it is missing).
 */
export interface ReplayStop {
  position: number
  keepBytes: number | undefined
  /** Sequence of the first batch not replayed. */
  nextBatch: number
}

/** Replays `dir` as opening it would, up to its first problem (read-only; ERR_LOCKED while a process holds it). */
export function replayEngineDirectory(dir: string): { result: EngineVerifyResult; replay: EngineReplay; sequences: number[]; stop: ReplayStop | undefined } {
  checkLogDirectory(dir, 'engine')
  const sequences = readdirSync(dir)
    .map((name) => parseEngineFileName(name))
    .filter((sequence): sequence is number => sequence !== undefined)
    .sort((a, b) => a - b)
  const result: EngineVerifyResult = { dir, ok: false, files: sequences.length, groups: 0, entries: 0, tailBytes: 0, tailFile: undefined, problems: [] }
  const problem = (file: string, offset: number, text: string) => result.problems.push({ file, offset, index: undefined, problem: text })
  const replay = new EngineReplay()
  let stop: ReplayStop | undefined
  let nextBatch: number | undefined
  for (const [position, sequence] of sequences.entries()) {
    const file = engineFileName(sequence)
    if (position > 0 && sequence !== (sequences[position - 1] as number) + 1) {
      problem(engineFileName((sequences[position - 1] as number) + 1), 0, 'the file is missing')
      stop = { position, keepBytes: undefined, nextBatch: nextBatch ?? 1 }
      break
    }
    if (!statSync(join(dir, file)).isFile()) {
      problem(file, 0, 'not a file (a directory or a device under an engine file\'s name)')
      stop = { position, keepBytes: undefined, nextBatch: nextBatch ?? 1 }
      break
    }
    const damaged = withFileBytes(join(dir, file), (bytes) => {
      const header = readFileHeader(bytes)
      if (typeof header === 'string' || header.sequence !== sequence) {
        problem(file, 0, typeof header === 'string' ? header : `header names file ${header.sequence}`)
        stop = { position, keepBytes: undefined, nextBatch: nextBatch ?? 1 }
        return true
      }
      if (nextBatch !== undefined && header.firstBatch !== nextBatch) {
        problem(file, 0, `its first batch is ${header.firstBatch}, but the file before it ends before batch ${nextBatch}`)
        stop = { position, keepBytes: undefined, nextBatch }
        return true
      }
      const isLast = position === sequences.length - 1
      const walk = walkEngineFile(bytes, header.firstBatch, isLast, (fields, offset, view) => replay.apply(fields, sequence, offset, view))
      if (walk.damage !== undefined) {
        problem(file, walk.damage.offset, walk.damage.problem)
        stop = { position, keepBytes: walk.end, nextBatch: header.firstBatch + walk.batches }
        return true
      }
      nextBatch = header.firstBatch + walk.batches
      if (isLast && walk.nonZeroEnd > walk.end) {
        result.tailBytes = walk.nonZeroEnd - walk.end
        result.tailFile = file
      }
      return false
    })
    if (damaged) break
  }
  if (result.problems.length === 0) {
    const broken = replay.finish()
    if (broken.length > 0) problem(engineFileName(sequences[0] ?? 1), 0, `group ${broken[0]} lacks records it needs (its first index, or entries between it and its last): a file before this one is missing`)
  }
  result.groups = replay.groups.size
  for (const group of replay.groups.values()) result.entries += group.entryCount
  result.ok = result.problems.length === 0
  return { result, replay, sequences, stop }
}
